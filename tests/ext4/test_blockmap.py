"""Block-mapped (non-extent) files and directories, as ext2/ext3-style mke2fs makes them."""

from __future__ import annotations

import io
import os
import random
import subprocess
from pathlib import Path

import pytest

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.errors import UnsupportedError
from overlaybd_py.ext4 import Filesystem, apply_layer
from overlaybd_py.io import FileSource
from tests.layertar import LayerTar

from .helpers import e2fsck

MKE2FS_ENV = {**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"}
BLOCK_MAPPED = "^extent,^has_journal,^metadata_csum,^64bit,^flex_bg"
LONG_NAME = "a-name-long-enough-to-need-several-blocks-{:04d}"


def _populate(root: Path) -> None:
    rng = random.Random(3)
    (root / "small").write_bytes(b"hello\n")
    (root / "single").write_bytes(rng.randbytes(13 * 4096 + 100))  # single indirect
    (root / "double").write_bytes(rng.randbytes(1100 * 4096 + 5))  # double indirect
    with open(root / "sparse", "wb") as out:  # holes in direct and indirect ranges
        out.write(b"A" * 4096)
        out.seek(20 * 4096)
        out.write(b"B" * 10)
        out.seek(2000 * 4096)
        out.write(b"C" * 4096)
    os.symlink("x" * 100, root / "longlink")
    os.symlink("short", root / "shortlink")
    (root / "many").mkdir()
    for i in range(600):
        (root / "many" / LONG_NAME.format(i)).write_bytes(b"%d" % i)


def _image(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    src.mkdir()
    _populate(src)
    image = tmp_path / "bm.img"
    cmd = ["mkfs.ext4", "-q", "-F", "-b", "4096", "-I", "256", "-O", BLOCK_MAPPED]
    subprocess.run([*cmd, "-d", str(src), str(image), "64M"], check=True, env=MKE2FS_ENV)
    return image, src


def test_reads_block_mapped_files_directories_and_symlinks(tmp_path: Path) -> None:
    image, src = _image(tmp_path)
    with FileSource(image) as source:
        fs = Filesystem(source)
        assert not fs.read_node(fs.stat("/double").st_ino).uses_extents()
        for name in ("small", "single", "double", "sparse"):
            assert fs.open(f"/{name}").read() == (src / name).read_bytes(), name
        assert (
            fs.open("/double").pread(1099 * 4096, 10)
            == (src / "double").read_bytes()[1099 * 4096 : 1099 * 4096 + 10]
        )
        assert fs.readlink("/longlink") == "x" * 100
        assert fs.readlink("/shortlink") == "short"
        assert fs.stat("/many").st_size > 4096
        assert sorted(fs.listdir("/many")) == sorted(os.listdir(src / "many"))
        _, indirect = fs.extents(fs.read_node(fs.stat("/double").st_ino))
        assert len(indirect) == 1 + 1 + 1  # the single, the double and one of its children


def test_writing_needs_the_extents_feature(tmp_path: Path) -> None:
    image, _ = _image(tmp_path)
    with FileSource(image) as source, pytest.raises(UnsupportedError, match="extents feature"):
        Filesystem(source, writable=True)


def test_applies_over_block_mapped_lower_files(tmp_path: Path) -> None:
    image, src = _image(tmp_path)
    subprocess.run(["tune2fs", "-O", "extent", str(image)], check=True, capture_output=True)
    layer = (
        LayerTar()
        .whiteout("double")  # frees data, the double-indirect block and its children
        .whiteout("sparse")
        .file("small", b"replaced")
        .file("many/added", b"new")  # the block-mapped directory is rewritten with extents
        .whiteout(f"many/{LONG_NAME.format(7)}")
        .whiteout("longlink")
    )
    with FileSource(image) as source:
        device = OverlayDevice(source)
        fs = Filesystem(device, writable=True)
        apply_layer(fs, io.BytesIO(layer.bytes()))
        fs.close()
        changes = [(o, device.read_upper(o, n)) for o, n in device.written_extents()]
    with open(image, "r+b") as out:
        for offset, data in changes:
            out.seek(offset)
            out.write(data)
    e2fsck(image)
    with FileSource(image) as source:
        fs = Filesystem(source)
        assert sorted(fs.listdir("/")) == ["lost+found", "many", "shortlink", "single", "small"]
        assert fs.open("/small").read() == b"replaced"
        assert fs.open("/single").read() == (src / "single").read_bytes()
        names = set(fs.listdir("/many"))
        assert len(names) == 600 and "added" in names and LONG_NAME.format(7) not in names
        assert fs.read_node(fs.stat("/many").st_ino).uses_extents()
