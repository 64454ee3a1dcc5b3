"""Writing filesystems with a journal and with uninit_bg, as mke2fs makes them.

The base layer (test_base_layer.py) has every group's inode table zeroed; here
``lazy_itable_init=1`` leaves them unzeroed, small groups (4096 blocks, 64 inodes)
make one layer cross many uninitialised groups, and flex_bg packs 4 groups' bitmaps
and tables into the first of them.
"""

from __future__ import annotations

import io
import logging
import os
import random
import struct
import subprocess
from pathlib import Path

import pytest

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.errors import ChecksumError, UnsupportedError
from overlaybd_py.ext4 import Filesystem, apply_layer
from overlaybd_py.ext4.allocator import (
    count_used,
    desc_free_blocks,
    desc_inode_table,
    desc_itable_unused,
)
from overlaybd_py.ext4.checksum import CHECKSUM_OFFSET
from overlaybd_py.ext4.constants import BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_INODE_ZEROED
from overlaybd_py.io import FileSource
from tests.layertar import LayerTar

from .helpers import Expect, Stack, check_tree, e2fsck

MKE2FS_ENV = {**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"}
UNINIT_FEATURES = "has_journal,^metadata_csum,uninit_bg"


def _mke2fs(image: Path, features: str, *extra: str, size: str = "256M") -> Path:
    cmd = ["mkfs.ext4", "-q", "-F", "-b", "4096", "-I", "256", "-O", features, *extra]
    subprocess.run([*cmd, str(image), size], check=True, env=MKE2FS_ENV)
    return image


def _uninit_image(tmp_path: Path) -> Path:
    """64 groups of 4096 blocks and 64 inodes, flex groups of 4, inode tables not zeroed."""
    return _mke2fs(
        tmp_path / "u.img",
        UNINIT_FEATURES,
        *("-g", "4096", "-G", "4", "-N", "1024", "-E", "lazy_itable_init=1"),
    )


def _apply_into(image: Path, layer: bytes) -> OverlayDevice:
    """Apply ``layer`` onto the raw image and write the changed ranges back into it."""
    with FileSource(image) as source:
        device = OverlayDevice(source)
        fs = Filesystem(device, writable=True)
        apply_layer(fs, io.BytesIO(layer))
        fs.close()
        changes = [(o, device.read_upper(o, n)) for o, n in device.written_extents()]
    with open(image, "r+b") as out:
        for offset, data in changes:
            out.seek(offset)
            out.write(data)
    return device


def _descs(image: Path) -> list[tuple[int, int, int]]:
    """(flags, itable_unused, inode table block) of every group, read back from the image."""
    with FileSource(image) as source:
        fs = Filesystem(source)
        return [(d.bg_flags, desc_itable_unused(d), desc_inode_table(d)) for d in fs.descs]


def _garbage_inode_tables(image: Path, groups: range) -> None:
    """Fill unzeroed, uninitialised inode tables with junk: their content is undefined."""
    descs = _descs(image)
    with open(image, "r+b") as out:
        for group in groups:
            flags, _, table = descs[group]
            assert flags & BG_INODE_UNINIT and not flags & BG_INODE_ZEROED
            out.seek(table * 4096)
            out.write(b"\xa5" * 4096 * 4)  # 64 inodes of 256 bytes


def _many_files(rng: random.Random) -> tuple[LayerTar, dict[str, Expect]]:
    layer = LayerTar()
    expected: dict[str, Expect] = {}
    for d in range(12):
        layer.dir(f"d{d}")
        expected[f"/d{d}"] = Expect("dir", 0o755)
        for f in range(25):
            data = rng.randbytes(rng.choice([0, 100, 5000, 70_000]))
            layer.file(f"d{d}/f{f}", data)
            expected[f"/d{d}/f{f}"] = Expect("file", 0o644, data=data)
    big = rng.randbytes(40 << 20)  # spans ten 16 MiB groups
    layer.file("big", big)
    expected["/big"] = Expect("file", 0o644, data=big)
    return layer, expected


def test_layers_across_uninit_groups_pass_e2fsck(tmp_path: Path) -> None:
    image = _uninit_image(tmp_path)
    before = _descs(image)
    _garbage_inode_tables(image, range(1, 8))
    rng = random.Random(7)
    layer, expected = _many_files(rng)
    _apply_into(image, layer.bytes())
    e2fsck(image)

    after = _descs(image)
    inode_groups = [g for g, (flags, _, _) in enumerate(after) if not flags & BG_INODE_UNINIT]
    assert len(inode_groups) >= 5  # 312 new inodes, 64 per group
    for group in inode_groups[1:]:
        assert before[group][0] & BG_INODE_UNINIT
        assert after[group][1] < 64  # bg_itable_unused follows the highest inode in use
        assert not after[group][0] & BG_BLOCK_UNINIT  # initialised with its inodes
    opened = [
        g
        for g in range(len(after))
        if before[g][0] & BG_BLOCK_UNINIT and not after[g][0] & BG_BLOCK_UNINIT
    ]
    assert len(opened) >= 3, opened
    assert any(flags & BG_BLOCK_UNINIT for flags, _, _ in after)  # untouched groups stay so

    with FileSource(image) as source:
        stack = Stack([OverlayDevice(source)])
        sample = {p: e for p, e in expected.items() if p.startswith(("/d3", "/big"))}
        check_tree(stack, image, sample, tmp_path, exact=False)

        fs = Filesystem(stack.top)
        for path, want in expected.items():
            if want.kind == "file":
                assert fs.open(path).read() == want.data, path

    # a second layer frees inodes and blocks across those groups and reuses some
    second = LayerTar().whiteout("big").whiteout("d2").opaque("d5")
    for f in range(30):
        second.file(f"d9/new{f}", rng.randbytes(9000))
    _apply_into(image, second.bytes())
    e2fsck(image)
    with FileSource(image) as source:
        fs = Filesystem(source)
        assert "big" not in fs.listdir("/") and "d2" not in fs.listdir("/")
        assert fs.listdir("/d5") == []
        assert len(fs.listdir("/d9")) == 55


def test_computed_block_bitmaps_agree_with_the_free_counts(tmp_path: Path) -> None:
    image = _uninit_image(tmp_path)
    with FileSource(image) as source:
        fs = Filesystem(OverlayDevice(source), writable=True)
        per_group = fs.geo.blocks_per_group
        uninit = [g for g, d in enumerate(fs.descs) if d.bg_flags & BG_BLOCK_UNINIT]
        assert any(fs.geo.has_super(g) for g in uninit)  # backups inside uninit groups
        for group in uninit:
            free = per_group - count_used(fs.alloc.block_bitmap(group), per_group)
            assert free == desc_free_blocks(fs.descs[group]), group


def test_descriptor_checksum_mismatch_refuses_writing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = _uninit_image(tmp_path)
    with open(image, "r+b") as out:  # group 3's checksum field, in the primary table
        out.seek(4096 + 3 * 64 + CHECKSUM_OFFSET)
        (checksum,) = struct.unpack("<H", out.read(2))
        out.seek(-2, 1)
        out.write(struct.pack("<H", checksum ^ 0x0101))
    with FileSource(image) as source:
        with pytest.raises(ChecksumError, match=r"group descriptor 3: checksum 0x[0-9a-f]{4}"):
            Filesystem(source, writable=True)
        with caplog.at_level(logging.WARNING):
            assert "lost+found" in Filesystem(source).listdir("/")
        assert "group descriptor 3" in caplog.text


# --- the journal -------------------------------------------------------------------------------
def _journal_first_block(image: Path) -> int:
    with FileSource(image) as source:
        fs = Filesystem(source)
        extents, _ = fs.extents(fs.read_node(fs.sb.s_journal_inum))
        return extents[0].physical


def test_clean_journal_is_written_around_and_left_alone(tmp_path: Path) -> None:
    image = _mke2fs(tmp_path / "j.img", "has_journal,^metadata_csum")
    with FileSource(image) as source:
        fs = Filesystem(source)
        journal, _ = fs.extents(fs.read_node(8))
        inode8 = fs.read_node(8).pack()
    device = _apply_into(image, LayerTar().file("etc/hosts", b"127.0.0.1\n").bytes())
    e2fsck(image)
    for extent in journal:
        start, end = extent.physical * 4096, (extent.physical + extent.length) * 4096
        assert not [(o, n) for o, n in device.written_extents() if o < end and o + n > start]
    with FileSource(image) as source:
        fs = Filesystem(source)
        assert fs.read_node(8).pack() == inode8
        assert fs.open("/etc/hosts").read() == b"127.0.0.1\n"


def test_needs_recovery_is_refused_for_reading_and_writing(tmp_path: Path) -> None:
    image = _mke2fs(tmp_path / "r.img", "has_journal,^metadata_csum")
    subprocess.run(
        ["debugfs", "-w", "-R", "feature needs_recovery", str(image)],
        check=True,
        capture_output=True,
    )
    with FileSource(image) as source:
        for writable in (False, True):
            with pytest.raises(UnsupportedError, match="journal needs recovery"):
                Filesystem(source, writable=writable)


def test_journal_with_transactions_to_replay_is_not_written(tmp_path: Path) -> None:
    image = _mke2fs(tmp_path / "t.img", "has_journal,^metadata_csum")
    block = _journal_first_block(image)
    with open(image, "r+b") as out:
        out.seek(block * 4096 + 28)  # jbd2 s_start, big-endian
        out.write(struct.pack(">I", 1))
    with FileSource(image) as source:
        assert "lost+found" in Filesystem(source).listdir("/")
        with pytest.raises(UnsupportedError, match=rf"journal at block {block} has transactions"):
            Filesystem(source, writable=True)
