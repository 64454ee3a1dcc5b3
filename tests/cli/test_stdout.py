"""Standard output that is closed or full: one error line naming it, non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error
from tests.conftest import HELLO_LAYOUT

CONVERTED = f"oci:{HELLO_LAYOUT}:amd64-converted"
SOURCE = f"oci:{HELLO_LAYOUT}:amd64"


def _obd_with_stdout(redirect: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``obd ARGS REDIRECT`` in a shell, e.g. with ``>&-`` (descriptor 1 closed)."""
    shell = ["sh", "-c", f'exec "$@" {redirect}', "sh"]
    return subprocess.run(
        [*shell, sys.executable, "-m", "overlaybd_cli.entry", *args],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("ls", CONVERTED),
        ("ls", "--json", CONVERTED),
        ("stat", CONVERTED, "/hello"),
        ("cat", CONVERTED, "/hello"),
        ("referrers", SOURCE),
        ("verify", SOURCE),
        ("ls", "--help"),
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith("oci:")),
)
def test_closed_stdout_is_an_error(args: tuple[str, ...]) -> None:
    assert_one_line_error(_obd_with_stdout(">&-", *args), "standard output is closed")


@pytest.mark.parametrize("args", [("cat", CONVERTED, "/hello"), ("ls", CONVERTED)])
def test_full_stdout_names_standard_output(args: tuple[str, ...]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    result = _obd_with_stdout("> /dev/full", *args)
    assert_one_line_error(result, "standard output", "No space left on device")


def test_export_writes_its_disk_then_reports_the_closed_stdout(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    result = _obd_with_stdout(">&-", "export", CONVERTED, str(disk))
    assert_one_line_error(result, "standard output is closed")
    assert disk.stat().st_size == 64 << 30


def test_a_reader_that_goes_away_ends_obd_quietly_with_141(tmp_path: Path) -> None:
    """``obd zfile decompress Z - | head -c 1``: no traceback, SIGPIPE's status, as cat."""
    raw = tmp_path / "raw"
    raw.write_bytes(bytes(range(256)) * 8192)  # 2 MiB: far more than a pipe holds
    zfile = tmp_path / "raw.zfile"
    subprocess.run(
        [sys.executable, "-m", "overlaybd_cli.entry", "zfile", "compress", str(raw), str(zfile)],
        check=True,
        capture_output=True,
    )
    piped = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$@" | head -c 1 >/dev/null', "bash", sys.executable,
         "-m", "overlaybd_cli.entry", "zfile", "decompress", str(zfile), "-"],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert piped.returncode == 141, piped.stderr
    assert piped.stderr == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("ls", "--bogus"), "No such option: --bogus (see 'obd ls --help')"),
        (("ls",), "Missing argument 'image'"),
        (("cat", "oci:x"), "Missing argument 'path'"),
        (("ls", "oci:x", "--platform"), "--platform"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(args: tuple[str, ...], fragment: str) -> None:
    result = _obd_with_stdout("", *args)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, fragment)
