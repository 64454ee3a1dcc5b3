"""Creating and removing names: inode allocation, links, and freeing whole trees.

Freed blocks and inodes go back to the bitmaps immediately, so counts stay exact
and the space is reused by later members of the same layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import INODE_FL_EXTENTS, MODE_TO_FT, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG
from .content import release_storage
from .extents import build_tree
from .inode import Node

if TYPE_CHECKING:
    from .filesystem import Filesystem


def create_node(fs: Filesystem, mode: int, parent: int, name: bytes) -> Node:
    """A new inode of ``mode`` linked as ``name`` in directory ``parent``.

    The caller fills in content and metadata, then calls ``fs.write_node``.
    """
    kind = mode & S_IFMT
    is_dir = kind == S_IFDIR
    ino = fs.alloc.alloc_inode(is_dir)
    node = Node.new(ino, mode, fs.geo.inode_size)
    node.rec.i_links_count = 2 if is_dir else 1
    if kind in (S_IFREG, S_IFDIR, S_IFLNK):
        root, _ = build_tree([], [], fs.block_size)
        node.rec.i_block = root
        node.rec.i_flags = INODE_FL_EXTENTS
    if kind == S_IFLNK:
        node.rec.i_flags = 0  # fast symlinks keep the target in i_block
    fs.dirs.add(parent, name, ino, MODE_TO_FT[kind])
    if is_dir:
        fs.dirs.create(ino, parent)
    return node


def unlink_tree(fs: Filesystem, parent: int, name: bytes) -> list[int]:
    """Remove ``name`` from ``parent``; a directory goes with everything below it.

    Returns the inode numbers of the directories that were freed.
    """
    freed_dirs: list[int] = []
    stack: list[tuple[int, bytes, bool]] = [(parent, name, False)]
    while stack:
        dir_ino, child, expanded = stack.pop()
        found = fs.lookup(dir_ino, child)
        if found is None:
            continue
        ino, _ = found
        node = fs.read_node(ino)
        if node.is_dir() and not expanded:
            stack.append((dir_ino, child, True))
            stack.extend((ino, grandchild, False) for grandchild in fs.dirs.get(ino).entries)
            continue
        fs.dirs.remove(dir_ino, child)
        if node.is_dir():
            _release(fs, node)
            fs.dirs.drop(ino)
            freed_dirs.append(ino)
            continue
        node.rec.i_links_count = max(node.links - 1, 0)
        if node.links == 0:
            _release(fs, node)
        else:
            fs.write_node(node)
    return freed_dirs


def _release(fs: Filesystem, node: Node) -> None:
    release_storage(fs, node)
    fs.alloc.free_inode(node.ino, node.is_dir())
    size = fs.geo.inode_size
    fs.write_node(Node.parse(node.ino, bytes(size), size))
