"""mkfs: upstream parameters (spec §6.1), e2fsck-clean at any size, deterministic, sparse."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.ext4 import Filesystem, mkfs
from overlaybd_py.ext4.hashing import dx_hash, seed_words

from .helpers import Stack, debugfs, debugfs_stat, e2fsck


def _make(size: int, **kw: bytes) -> OverlayDevice:
    dev = OverlayDevice(None, size)
    mkfs(dev, **kw).close()
    return dev


def _dumpe2fs(image: Path) -> dict[str, str]:
    out = subprocess.run(["dumpe2fs", "-h", str(image)], capture_output=True, text=True).stdout
    return {k.strip(): v.strip() for k, v in re.findall(r"^([^:\n]+):\s*(.*)$", out, re.M)}


def test_64gib_matches_the_upstream_parameters(tmp_path: Path) -> None:
    dev = _make(64 << 30)
    image = Stack([dev]).export(tmp_path / "disk.img")
    e2fsck(image)
    info = _dumpe2fs(image)
    assert info["Filesystem features"].split() == [
        "ext_attr",
        "resize_inode",
        "dir_index",
        "sparse_super2",
        "filetype",
        "extent",
        "64bit",
        "flex_bg",
        "sparse_super",
        "large_file",
        "huge_file",
        "dir_nlink",
        "extra_isize",
    ]
    assert info["Block count"] == "16777216" and info["Inode count"] == "4194304"
    assert info["Block size"] == "4096" and info["Inode size"] == "256"
    assert info["Reserved block count"] == "838860"
    assert info["Reserved GDT blocks"] == "1024"
    assert info["Blocks per group"] == "32768" and info["Inodes per group"] == "8192"
    assert info["Group descriptor size"] == "64"
    assert info["Backup block groups"] == "1 511"
    assert info["Default directory hash"] == "half_md4"
    assert info["Filesystem flags"] == "signed_directory_hash"
    assert info["Filesystem UUID"] == "<none>"
    assert info["Required extra isize"] == "32"
    assert info["Maximum mount count"] == "-1"
    assert info["Filesystem OS type"] == "Linux"
    fs = Filesystem(dev)
    assert fs.sb.s_kbytes_written == 1 and fs.sb.s_mkfs_time == 0 and fs.sb.s_wtime == 0
    assert fs.descs[0].bg_block_bitmap_lo == 1033 and fs.descs[0].bg_inode_table_lo == 1035
    root = debugfs_stat(image, "/")
    lpf = debugfs_stat(image, "/lost+found")
    assert (root.ino, root.mode, root.links, root.mtime_ns) == (2, 0o755, 3, 0)
    assert (lpf.ino, lpf.mode, lpf.size, lpf.mtime_ns) == (11, 0o700, 3 * 4096, 0)
    assert "(0):1547" in debugfs(image, "stat /")


def test_only_metadata_blocks_are_written() -> None:
    dev = _make(64 << 30)
    written = sum(length for _, length in dev.written_extents())
    # superblock/descriptor copies, 512 block + 512 inode bitmaps, a few directory blocks
    assert written < 12 << 20


@pytest.mark.parametrize("size", [64 << 20, 256 << 20, (300 << 20) + 4096 * 7, 5 << 30])
def test_odd_sizes_are_e2fsck_clean(tmp_path: Path, size: int) -> None:
    e2fsck(Stack([_make(size)]).export(tmp_path / "disk.img"))


def test_same_inputs_give_the_same_bytes() -> None:
    def digest(dev: OverlayDevice) -> str:
        h = hashlib.sha256()
        for offset, length in dev.written_extents():
            h.update(offset.to_bytes(8, "little") + dev.read_upper(offset, length))
        return h.hexdigest()

    assert digest(_make(1 << 30)) == digest(_make(1 << 30))
    assert digest(_make(1 << 30)) != digest(_make(1 << 30, uuid=b"\x01" * 16))


def test_uuid_and_hash_seed_are_overridable(tmp_path: Path) -> None:
    uuid = bytes(range(16))
    seed = bytes(range(16, 32))
    image = Stack([_make(256 << 20, uuid=uuid, hash_seed=seed)]).export(tmp_path / "d.img")
    info = _dumpe2fs(image)
    assert info["Filesystem UUID"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert info["Directory Hash Seed"] == "10111213-1415-1617-1819-1a1b1c1d1e1f"


@pytest.mark.parametrize("name", [b"lost+found", b"a", b"\xc3\xa9t\xc3\xa9" * 9, b"x" * 255])
def test_half_md4_hash_matches_debugfs(tmp_path: Path, name: bytes) -> None:
    image = Stack([_make(64 << 20)]).export(tmp_path / "d.img")
    seed = bytes(range(16))
    proc = subprocess.run(
        [
            "debugfs",
            "-R",
            f"dx_hash -h half_md4 -s 00010203-0405-0607-0809-0a0b0c0d0e0f {name.decode('utf-8')}",
            str(image),
        ],
        capture_output=True,
    )
    m = re.search(rb"is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)", proc.stdout)
    assert m, proc.stdout
    assert dx_hash(name, seed_words(seed)) == (int(m.group(1), 16), int(m.group(2), 16))
