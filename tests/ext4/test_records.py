"""Record layouts, time/device encodings and attribute tables round-trip; mkfs matches upstream."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.ext4 import Filesystem, mkfs
from overlaybd_py.ext4.inode import decode_device, decode_time, encode_device, encode_time
from overlaybd_py.ext4.records import GroupDesc, Inode, Superblock
from overlaybd_py.ext4.xattr import build, parse_block, parse_inline
from overlaybd_py.io import FileSource
from tests.conftest import HELLO_LAYER


def test_record_sizes_and_round_trip() -> None:
    assert (Superblock.SIZE, GroupDesc.SIZE, Inode.SIZE) == (1024, 64, 160)
    raw = bytes(range(256)) * 4
    assert Superblock.unpack(raw).pack() == raw
    assert Inode.unpack(raw).pack() == raw[:160]


@given(st.integers(min_value=-(1 << 31) * 10**9, max_value=((1 << 34) - (1 << 31) - 1) * 10**9))
def test_times_round_trip_with_nanoseconds(ns: int) -> None:
    assert decode_time(*encode_time(ns)) == ns


@given(st.integers(0, 4095), st.integers(0, (1 << 20) - 1))
def test_device_numbers_round_trip(major: int, minor: int) -> None:
    assert decode_device(encode_device(major, minor)) == (major, minor)


names = st.sampled_from(["user.", "security.", "trusted.", "system.", "x."]).flatmap(
    lambda prefix: st.text("abcdefgh", min_size=1, max_size=40).map(lambda s: prefix + s)
)


@given(st.dictionaries(names, st.binary(max_size=600), max_size=6))
def test_xattr_tables_round_trip(attrs: dict[str, bytes]) -> None:
    total = sum(len(k) + len(v) + 24 for k, v in attrs.items())
    if total > 3500:
        return
    area, block = build(attrs, 96, 4096, "test")
    got = parse_inline(area, "inline")
    if block is not None:
        got.update(parse_block(block, "block"))
    assert got == attrs


def test_our_64gib_mkfs_matches_the_upstream_superblock_and_descriptors() -> None:
    from overlaybd_py.layer import open_stack

    upstream = Filesystem(open_stack([FileSource(HELLO_LAYER)]))
    dev = OverlayDevice(None, 64 << 30)
    ours = mkfs(dev)
    ours.close()
    mine, theirs = vars(ours.sb).copy(), vars(upstream.sb).copy()
    for counter in ("s_free_blocks_count_lo", "s_free_inodes_count"):
        mine.pop(counter), theirs.pop(counter)
    assert mine == theirs
    # /hello took one inode and four blocks in group 0; every other group is identical.
    assert ours.sb.free_blocks_count - upstream.sb.free_blocks_count == 4
    assert [d.pack() for d in ours.descs[1:]] == [d.pack() for d in upstream.descs[1:]]
    # The resize inode and the root directory inode are byte-identical.
    for ino in (2, 7):
        assert ours.read_node(ino).pack() == upstream.read_node(ino).pack()
