"""Bad input to ``obd convert`` and friends: one-line errors, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.check.layouts import write_layout
from tests.cli.helpers import assert_one_line_error, obd
from tests.conftest import HELLO_LAYOUT
from tests.layertar import LayerTar

HELLO = f"oci:{HELLO_LAYOUT}:amd64"


def _declares_more_than_it_holds() -> bytes:
    """A member whose PAX size promises a terabyte; 4 KiB of it follow."""
    layer = LayerTar().file("big", b"x" * 4096, pax={"size": str(10**12)}).bytes()
    return layer[: layer.index(b"x" * 4096) + 4096]


def test_truncated_member_fails_fast_with_auto_vsize(tmp_path: Path) -> None:
    source = write_layout(tmp_path / "src", [_declares_more_than_it_holds()], compress=False)
    started = time.monotonic()
    result = obd("convert", source, f"oci:{tmp_path / 'out'}:x", "--vsize", "auto", check=False)
    assert time.monotonic() - started < 30
    assert_one_line_error(result, "unexpected end of data")
    assert not (tmp_path / "out").exists()


def test_converted_image_is_not_converted_again(tmp_path: Path) -> None:
    result = obd(
        "convert", f"oci:{HELLO_LAYOUT}:amd64-converted", f"oci:{tmp_path}/o:x", check=False
    )
    assert_one_line_error(result, "already an OverlayBD image")


def test_vsize_limits(tmp_path: Path) -> None:
    for value, fragment in (
        ("20T", "128 MiB to 1 TiB"),
        ("1K", "128 MiB to 1 TiB"),
        ("-5G", "optional K/M/G/T suffix"),
    ):
        result = obd("convert", HELLO, f"oci:{tmp_path}/o:x", "--vsize", value, check=False)
        assert_one_line_error(result, fragment)


def test_outputs_never_replace_devices_or_symlinks(tmp_path: Path) -> None:
    image = f"oci:{tmp_path / 'img'}:x"
    obd("convert", HELLO, image, "-q")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_one_line_error(obd("export", image, str(fifo), check=False), "not a regular file")
    assert_one_line_error(obd("export", image, str(tmp_path), check=False), "is a directory")
    real = tmp_path / "real.img"
    link = tmp_path / "link.img"
    link.symlink_to(real)
    obd("export", image, str(link))
    assert link.is_symlink() and real.stat().st_size == 64 << 30


def test_sigterm_leaves_no_staging_behind(tmp_path: Path) -> None:
    """The signal arrives once the target's staging directory exists, mid-conversion."""
    layers = [LayerTar().file(f"f{i}", os.urandom(1 << 20)).bytes() for i in range(32)]
    source = write_layout(tmp_path / "src", layers, compress=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "overlaybd_cli.entry", "convert", source, f"oci:{tmp_path}/out:x"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out") for p in tmp_path.iterdir()):
        assert process.poll() is None, "the conversion ended before its staging appeared"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
