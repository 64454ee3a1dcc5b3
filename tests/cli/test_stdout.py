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
