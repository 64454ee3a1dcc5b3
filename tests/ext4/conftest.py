"""Fixtures for the ext4 tests: the cached Debian minbase layer (slow tests only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-debian-rootfs.sh"


def cache_dir() -> Path:
    return Path(os.environ.get("OBD_CACHE_DIR", Path.home() / ".cache" / "overlaybd-py"))


def build_debian_layer() -> tuple[Path, Path]:
    """(layer tar, unpacked rootfs) built once by the repository script and cached."""
    out = cache_dir() / "debian"
    proc = subprocess.run(
        [str(BUILD_SCRIPT), str(out)], capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        pytest.skip(f"debootstrap failed (exit {proc.returncode}): {proc.stderr[-300:]}")
    return Path(proc.stdout.strip().splitlines()[-1]), out / "rootfs"


@pytest.fixture(scope="session")
def debian_layer() -> tuple[Path, Path]:
    """Built once (debootstrap, a minute or two) and cached; ``-m "not slow"`` skips its users."""
    return build_debian_layer()
