"""What an inode owns on disk: data extents, extent tree nodes and its attribute block.

Writing streams file data from the tar straight into freshly allocated contiguous
runs in large ``pwrite`` calls, so memory stays flat whatever the file size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from ..errors import ConversionError
from . import xattr
from .constants import INODE_BASE_SIZE, INODE_FL_EXTENTS, XATTR_MAGIC
from .extents import build_tree, runs_to_extents, tree_blocks_needed
from .inode import Node
from .records import XattrBlockHeader

if TYPE_CHECKING:
    from .filesystem import Filesystem

WRITE_CHUNK = 1 << 20  # bytes per pwrite while streaming file data


def sectors(blocks: int, block_size: int) -> int:
    return blocks * (block_size // 512)


def attach_runs(fs: Filesystem, node: Node, runs: list[tuple[int, int]]) -> int:
    """Point ``node`` at data ``runs`` with a fresh extent tree; returns tree block count."""
    extents = runs_to_extents(runs)
    per_block = (fs.block_size - 12) // 12
    needed = tree_blocks_needed(len(extents), per_block)
    tree_blocks: list[int] = []
    for start, length in fs.alloc.alloc_blocks(needed):
        tree_blocks.extend(range(start, start + length))
    root, nodes = build_tree(extents, tree_blocks, fs.block_size)
    for block, data in nodes:
        fs.cache.put(block, data)
    node.rec.i_block = root
    node.rec.i_flags |= INODE_FL_EXTENTS
    return needed


def release_storage(fs: Filesystem, node: Node) -> None:
    """Free the data blocks, mapping blocks (extent nodes, indirect blocks) and attribute block."""
    extents, tree = fs.extents(node)
    for ext in extents:
        fs.alloc.free_blocks(ext.physical, ext.length)
    for block in tree:
        fs.alloc.free_blocks(block, 1)
    release_xattr_block(fs, node)


def release_xattr_block(fs: Filesystem, node: Node) -> None:
    block = node.file_acl
    if not block:
        return
    node.file_acl = 0
    node.blocks_512 = max(node.blocks_512 - sectors(1, fs.block_size), 0)
    data = bytearray(fs.read_block(block))
    header = XattrBlockHeader.unpack(data)
    if header.h_magic == XATTR_MAGIC and header.h_refcount > 1:
        header.h_refcount -= 1
        header.pack_into(data, 0)
        fs.cache.put(block, data)
        return
    fs.alloc.free_blocks(block, 1)


def write_stream(fs: Filesystem, node: Node, reader: BinaryIO, size: int, where: str) -> None:
    """Copy ``size`` bytes from ``reader`` into new blocks owned by ``node``."""
    bs = fs.block_size
    count = -(-size // bs)
    runs = fs.alloc.alloc_blocks(count)
    remaining = size
    device = fs.device
    for start, length in runs:
        offset = start * bs
        run_bytes = min(length * bs, remaining)
        while run_bytes > 0:
            n = min(run_bytes, WRITE_CHUNK)
            data = reader.read(n)
            if len(data) != n:
                raise ConversionError(
                    f"{where}: tar member ends after {size - remaining + len(data)} of {size} bytes"
                )
            if n % bs:
                data += bytes(bs - n % bs)
            device.pwrite(offset, data)  # type: ignore[attr-defined]
            offset += len(data)
            run_bytes -= n
            remaining -= n
    tree = attach_runs(fs, node, runs)
    node.size = size
    node.blocks_512 = node.blocks_512 + sectors(count + tree, bs)


def write_bytes(fs: Filesystem, node: Node, data: bytes) -> None:
    """Store a small payload (a long symlink target) in new blocks of ``node``."""
    bs = fs.block_size
    count = -(-len(data) // bs)
    runs = fs.alloc.alloc_blocks(count)
    padded = data + bytes(count * bs - len(data))
    pos = 0
    for start, length in runs:
        for i in range(length):
            fs.cache.put(start + i, padded[pos : pos + bs])
            pos += bs
    tree = attach_runs(fs, node, runs)
    node.size = len(data)
    node.blocks_512 = node.blocks_512 + sectors(count + tree, bs)


def set_xattrs(fs: Filesystem, node: Node, attrs: dict[str, bytes], where: str) -> None:
    """Replace all extended attributes of ``node`` (in-inode first, then one block)."""
    release_xattr_block(fs, node)
    node.rec.i_extra_isize = max(node.rec.i_extra_isize, 32)
    room = node.inode_size - INODE_BASE_SIZE - node.rec.i_extra_isize
    area, block = xattr.build(attrs, room, fs.block_size, where)
    raw = bytearray(node.pack())
    raw[INODE_BASE_SIZE + node.rec.i_extra_isize :] = area
    node.tail = bytes(raw[len(node.rec.pack()) :])
    if block is not None:
        ((start, _),) = fs.alloc.alloc_blocks(1)
        fs.cache.put(start, block)
        node.file_acl = start
        node.blocks_512 = node.blocks_512 + sectors(1, fs.block_size)
