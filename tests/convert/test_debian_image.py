"""A realistic image end to end: the three-layer Debian image of ``build-debian-image.sh``
(minbase; curl installed with whiteouts and an opaque directory; a small application)
converted, checked against its source, fsck'ed, and mounted by the kernel.

Slow only because the first run builds the image with debootstrap and apt-get (a few
minutes, then cached under ``$OBD_CACHE_DIR``); with the cache it takes well under a minute.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaybd_py.check import check_image, compare_trees, expected_tree, scan_directory
from overlaybd_py.convert import ConvertOptions, ConvertReport, convert
from overlaybd_py.export import export_raw
from overlaybd_py.lazy import open_image
from overlaybd_py.oci import open_layer, open_source

from .conftest import REPO

pytestmark = pytest.mark.slow

BUILD_SCRIPT = REPO / "scripts" / "build-debian-image.sh"
CAP_NET_BIND_SERVICE = bytes.fromhex("0100000200200000000000000000000000000000")


def _cache_dir() -> Path:
    return Path(os.environ.get("OBD_CACHE_DIR", Path.home() / ".cache" / "overlaybd-py"))


@pytest.fixture(scope="module")
def debian_source() -> str:
    result = subprocess.run(
        [str(BUILD_SCRIPT), str(_cache_dir() / "debian-image")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"building the Debian image failed (no mirror?): {result.stderr[-400:]}")
    return f"oci:{result.stdout.strip().splitlines()[-1]}:latest"


@pytest.fixture(scope="module")
def debian_converted(
    debian_source: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, ConvertReport]:
    target = f"oci:{tmp_path_factory.mktemp('debian') / 'obd'}:latest"
    return target, convert(debian_source, target)


def _members(source_ref: str, position: int) -> list[str]:
    with open_source(source_ref) as source:
        (image,) = source.resolve()
        with (
            open_layer(source, image, position) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            return [info.name for info in tar]


def test_the_source_exercises_whiteouts_opaque_dirs_and_special_files(debian_source: str) -> None:
    second = _members(debian_source, 1)
    assert "usr/share/doc/.wh..wh..opq" in second
    assert "usr/share/.wh.man" in second  # a whole tree
    assert "usr/bin/.wh.perl5.36.0" in second  # one name of a hardlinked file
    third = _members(debian_source, 2)
    assert "opt/app/bin/app-hardlink" in third and "opt/app/data/fifo" in third


def test_converted_image_matches_its_source(
    debian_source: str, debian_converted: tuple[str, ConvertReport]
) -> None:
    target, report = debian_converted
    assert [len(i.layers) for i in report.images] == [3]
    result = check_image(target, debian_source)
    assert result.differences == []
    assert result.expected_paths > 4000 and result.layers == 3
    with open_image(target) as image:
        fs = image.filesystem()
        assert fs.listdir("/usr/share/doc") == ["README"]
        assert "perl5.36.0" not in fs.listdir("/usr/bin") and "curl" in fs.listdir("/usr/bin")
        assert fs.stat("/opt/app/bin/app").st_mode & 0o7777 == 0o4755
        assert fs.xattrs("/opt/app/bin/app")["security.capability"] == CAP_NET_BIND_SERVICE
        assert fs.xattrs("/opt/app/etc/app.conf") == {"user.test": b"hello xattr"}
        assert fs.stat("/opt/app/etc/app.conf").st_mtime_ns == 1690000000123456789


@pytest.fixture(scope="module")
def debian_disk(
    debian_converted: tuple[str, ConvertReport], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    disk = tmp_path_factory.mktemp("disk") / "debian.img"
    with open_image(debian_converted[0]) as image:
        export_raw(image.device, disk)
    return disk


def test_exported_disk_passes_e2fsck(debian_disk: Path) -> None:
    result = subprocess.run(
        ["e2fsck", "-fn", str(debian_disk)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.contextmanager
def _mounted(disk: Path, where: Path) -> Iterator[Path]:
    where.mkdir()
    result = subprocess.run(
        ["mount", "-o", "loop,ro", str(disk), str(where)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {result.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_kernel_mount_shows_the_source_tree(
    debian_source: str, debian_disk: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("loop mounts need root")
    with open_source(debian_source) as source:
        (image,) = source.resolve()
        expected, _ = expected_tree(source, image)
    with _mounted(debian_disk, tmp_path / "mnt") as root:
        found = scan_directory(root)
    assert compare_trees(expected, found) == []
    assert found["/opt/app/bin/app"].xattrs["security.capability"] == CAP_NET_BIND_SERVICE


def test_converting_again_gives_the_same_digests(
    debian_source: str, debian_converted: tuple[str, ConvertReport], tmp_path: Path
) -> None:
    again = convert(debian_source, f"oci:{tmp_path / 'again'}:latest")
    first = debian_converted[1]
    assert again.digest == first.digest
    assert [layer.blob_digest for layer in again.images[0].layers] == [
        layer.blob_digest for layer in first.images[0].layers
    ]


@pytest.mark.parametrize(
    "options",
    [ConvertOptions(algorithm="zstd", vsize=None), ConvertOptions(mkfs=False)],
    ids=["zstd-auto-vsize", "no-mkfs-base-layer"],
)
def test_other_options_also_match_the_source(
    debian_source: str, options: ConvertOptions, tmp_path: Path
) -> None:
    target = f"oci:{tmp_path / 'obd'}:latest"
    convert(debian_source, target, options)
    assert check_image(target, debian_source).differences == []
