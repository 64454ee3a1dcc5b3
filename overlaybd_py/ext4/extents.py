"""Extent trees: mapping logical to physical blocks, and building a tree for new files.

The root node lives in the inode's 60-byte ``i_block`` (header + 4 entries);
deeper trees add 4 KiB index and leaf blocks of 340 entries each. A file is
written once by the applier, so trees are built bottom-up from its final list of
extents rather than grown by splitting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import FormatError
from .constants import EXTENT_MAGIC, EXTENT_MAX_LEN
from .records import ExtentHeader, ExtentIndex, ExtentLeaf

ROOT_ENTRIES = 4
_MAX_DEPTH = 5
_HDR = ExtentHeader.STRUCT
_IDX = ExtentIndex.STRUCT
_LEAF = ExtentLeaf.STRUCT


@dataclass(frozen=True, slots=True)
class Extent:
    """``length`` blocks from logical ``logical`` stored at physical ``physical``."""

    logical: int
    physical: int
    length: int
    uninit: bool = False


def map_extents(
    i_block: bytes, read_block: Callable[[int], bytes], where: str
) -> tuple[list[Extent], list[int]]:
    """All leaf extents in logical order, and the tree node blocks (for freeing)."""
    extents: list[Extent] = []
    nodes: list[int] = []
    _walk(i_block, read_block, where, extents, nodes, None, 0)
    return extents, nodes


def _walk(
    node: bytes,
    read_block: Callable[[int], bytes],
    where: str,
    extents: list[Extent],
    nodes: list[int],
    expect_depth: int | None,
    level: int,
) -> None:
    magic, entries, maximum, depth, _ = _HDR.unpack_from(node)
    if magic != EXTENT_MAGIC:
        raise FormatError(
            f"{where}: extent node magic 0x{magic:04x}, expected 0x{EXTENT_MAGIC:04x}"
        )
    if (expect_depth is not None and depth != expect_depth) or depth > _MAX_DEPTH or level > 8:
        raise FormatError(f"{where}: extent node depth {depth} is inconsistent at level {level}")
    if entries > maximum or 12 + entries * 12 > len(node):
        raise FormatError(f"{where}: extent node has {entries} entries, room for {maximum}")
    if depth == 0:
        for i in range(entries):
            logical, length, start_hi, start_lo = _LEAF.unpack_from(node, 12 + i * 12)
            uninit = length > EXTENT_MAX_LEN
            if uninit:
                length -= EXTENT_MAX_LEN
            extents.append(Extent(logical, start_lo | (start_hi << 32), length, uninit))
        return
    for i in range(entries):
        _, leaf_lo, leaf_hi, _ = _IDX.unpack_from(node, 12 + i * 12)
        child = leaf_lo | (leaf_hi << 32)
        nodes.append(child)
        _walk(read_block(child), read_block, where, extents, nodes, depth - 1, level + 1)


def runs_to_extents(runs: list[tuple[int, int]]) -> list[Extent]:
    """Consecutive logical extents over physical runs, split at the 32768-block limit."""
    extents: list[Extent] = []
    logical = 0
    for start, length in runs:
        while length:
            n = min(length, EXTENT_MAX_LEN)
            extents.append(Extent(logical, start, n))
            logical += n
            start += n
            length -= n
    return extents


def tree_blocks_needed(count: int, per_block: int) -> int:
    """How many node blocks a tree over ``count`` extents needs."""
    total = 0
    while count > ROOT_ENTRIES:
        count = -(-count // per_block)
        total += count
    return total


def _node(depth: int, maximum: int, body: list[bytes], size: int) -> bytes:
    head = _HDR.pack(EXTENT_MAGIC, len(body), maximum, depth, 0)
    return (head + b"".join(body)).ljust(size, b"\0")


def build_tree(
    extents: list[Extent], node_blocks: list[int], block_size: int
) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The 60-byte root and the ``(block, bytes)`` nodes of a tree over ``extents``.

    ``node_blocks`` are already-allocated blocks, exactly ``tree_blocks_needed``.
    """
    per_block = (block_size - 12) // 12
    entries = [
        _LEAF.pack(
            e.logical,
            e.length + (EXTENT_MAX_LEN if e.uninit else 0),
            e.physical >> 32,
            e.physical & 0xFFFFFFFF,
        )
        for e in extents
    ]
    firsts = [e.logical for e in extents]
    written: list[tuple[int, bytes]] = []
    depth = 0
    blocks = iter(node_blocks)
    while len(entries) > ROOT_ENTRIES:
        next_entries: list[bytes] = []
        next_firsts: list[int] = []
        for i in range(0, len(entries), per_block):
            block = next(blocks)
            written.append((block, _node(depth, per_block, entries[i : i + per_block], block_size)))
            next_entries.append(_IDX.pack(firsts[i], block & 0xFFFFFFFF, block >> 32, 0))
            next_firsts.append(firsts[i])
        entries, firsts = next_entries, next_firsts
        depth += 1
    return _node(depth, ROOT_ENTRIES, entries, 60), written
