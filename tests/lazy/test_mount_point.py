"""``obd mount`` refuses a bad mount point, or an image it cannot open, before announcing.

No FUSE is needed: every case here fails before a mount is attempted.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from overlaybd_py.errors import ImageError, NotFoundError
from overlaybd_py.lazy.mount import check_mountpoint

from .conftest import Layouts

ANNOUNCED = "mounted at"


def obd_mount(image: str, mountpoint: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["obd", "mount", image, str(mountpoint)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1, done.stderr
    assert ANNOUNCED not in done.stderr
    assert done.stderr.startswith("obd: error: ") and done.stderr.count("\n") == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr


@pytest.fixture
def image(layouts: Layouts) -> str:
    return f"oci:{layouts.converted}:obd"


def test_missing_mount_point(image: str, tmp_path: Path) -> None:
    missing = tmp_path / "nonexist"
    assert_refused(obd_mount(image, missing), f"mount point {missing}", "found nothing there")
    assert not missing.exists()


def test_non_empty_directory_is_not_mounted_over(image: str, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_bytes(b"mine")
    assert_refused(obd_mount(image, full), f"mount point {full}", "'keep.txt'")
    assert not os.path.ismount(full)
    assert os.listdir(full) == ["keep.txt"]
    assert (full / "keep.txt").read_bytes() == b"mine"


def test_hidden_file_makes_a_directory_non_empty(image: str, tmp_path: Path) -> None:
    full = tmp_path / "dotted"
    full.mkdir()
    (full / ".hidden").mkdir()
    assert_refused(obd_mount(image, full), "'.hidden'")


def test_regular_file_is_not_a_mount_point(image: str, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"x")
    assert_refused(obd_mount(image, target), "found a regular file")
    assert target.read_bytes() == b"x"


def test_image_is_opened_before_announcing(tmp_path: Path) -> None:
    empty = tmp_path / "mnt"
    empty.mkdir()
    missing = tmp_path / "no-layout"
    assert_refused(obd_mount(f"oci:{missing}:x", empty), str(missing))
    assert os.listdir(empty) == []


def test_check_mountpoint(tmp_path: Path) -> None:
    assert check_mountpoint(tmp_path) == tmp_path
    with pytest.raises(NotFoundError, match="found nothing there"):
        check_mountpoint(tmp_path / "missing")
    (tmp_path / "a").write_bytes(b"")
    with pytest.raises(ImageError, match="found 'a' in it"):
        check_mountpoint(tmp_path)
    with pytest.raises(ImageError, match="found a regular file"):
        check_mountpoint(tmp_path / "a")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(ImageError, match="found a socket"):
            check_mountpoint(tmp_path / "sock")
    link = tmp_path / "link"
    empty = tmp_path / "empty"
    empty.mkdir()
    link.symlink_to(empty)
    assert check_mountpoint(link) == link  # a symlink to an empty directory is fine
