"""Directories held in memory: loaded whole on first use, rewritten whole when changed.

A changed directory is serialised once at flush time (linear or htree, see
``directory.py``) into its old blocks first, so an unchanged prefix of a large
directory produces identical blocks that the overlay device drops. Its link
count is recomputed from its subdirectory entries then, which keeps ``nlink``
exact through any sequence of deletes and creates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import FormatError
from . import directory
from .constants import DIR_LINK_MAX, FT_DIR, INODE_FL_INDEX
from .content import attach_runs, sectors

if TYPE_CHECKING:
    from .filesystem import Filesystem


class DirState:
    """The entries of one directory (without '.' and '..') and its parent inode."""

    __slots__ = ("dirty", "entries", "ino", "parent")

    def __init__(self, ino: int, parent: int, entries: dict[bytes, tuple[int, int]]) -> None:
        self.ino = ino
        self.parent = parent
        self.entries = entries
        self.dirty = False


class DirectoryStore:
    """Loads, caches, edits and writes back the directories of one filesystem."""

    def __init__(self, fs: Filesystem) -> None:
        self._fs = fs
        self._dirs: dict[int, DirState] = {}

    def get(self, ino: int) -> DirState:
        state = self._dirs.get(ino)
        if state is None:
            state = self._load(ino)
            self._dirs[ino] = state
        return state

    def _load(self, ino: int) -> DirState:
        fs = self._fs
        node = fs.read_node(ino)
        where = f"directory inode {ino}"
        if not node.is_dir():
            raise FormatError(f"{where}: mode {node.mode:o} is not a directory")
        extents, _ = fs.extents(node)
        bs = fs.block_size
        entries: dict[bytes, tuple[int, int]] = {}
        parent = ino
        for ext in extents:
            if ext.uninit:
                continue
            data = fs.device.pread(ext.physical * bs, ext.length * bs)
            for i in range(ext.length):
                block = fs.cache.peek(ext.physical + i)
                chunk = block if block is not None else data[i * bs : (i + 1) * bs]
                for name, child, ftype in directory.parse_block(
                    bytes(chunk), f"{where} block {ext.logical + i}"
                ):
                    if name == b".":
                        continue
                    if name == b"..":
                        parent = child
                        continue
                    entries[name] = (child, ftype)
        return DirState(ino, parent, entries)

    def create(self, ino: int, parent: int) -> DirState:
        """Register a brand-new empty directory (its blocks are written at flush)."""
        state = DirState(ino, parent, {})
        state.dirty = True
        self._dirs[ino] = state
        return state

    def add(self, dir_ino: int, name: bytes, ino: int, file_type: int) -> None:
        state = self.get(dir_ino)
        state.entries[name] = (ino, file_type)
        state.dirty = True

    def remove(self, dir_ino: int, name: bytes) -> None:
        state = self.get(dir_ino)
        del state.entries[name]
        state.dirty = True

    def drop(self, ino: int) -> None:
        """Forget a deleted directory (its storage was released)."""
        self._dirs.pop(ino, None)

    def flush(self) -> None:
        for state in sorted(self._dirs.values(), key=lambda s: s.ino):
            if state.dirty:
                self._write(state)
                state.dirty = False

    def _write(self, state: DirState) -> None:
        fs = self._fs
        bs = fs.block_size
        node = fs.read_node(state.ino)
        entries = [(name, ino, ftype) for name, (ino, ftype) in state.entries.items()]
        blocks, indexed = directory.build_directory(
            entries,
            state.ino,
            state.parent,
            bs,
            fs.hash_seed,
            fs.hash_signed,
            fs.sb.s_def_hash_version,
        )
        old: list[int] = []
        extents, tree = fs.extents(node)  # a block-mapped directory is rewritten with extents
        for ext in extents:
            old.extend(range(ext.physical, ext.physical + ext.length))
        for block in tree:
            fs.alloc.free_blocks(block, 1)
        for block in old[len(blocks) :]:
            fs.alloc.free_blocks(block, 1)
        targets = old[: len(blocks)]
        for start, length in fs.alloc.alloc_blocks(len(blocks) - len(targets)):
            targets.extend(range(start, start + length))
        for block, data in zip(targets, blocks, strict=True):
            if fs.cache.peek(block) is not None or fs.device.pread(block * bs, bs) != data:
                fs.cache.put(block, data)
        runs = _runs(targets)
        tree_count = attach_runs(fs, node, runs)
        node.size = len(blocks) * bs
        acl = sectors(1, bs) if node.file_acl else 0
        node.blocks_512 = sectors(len(blocks) + tree_count, bs) + acl
        if indexed:
            node.rec.i_flags |= INODE_FL_INDEX
        else:
            node.rec.i_flags &= ~INODE_FL_INDEX
        subdirs = sum(1 for _, ftype in state.entries.values() if ftype == FT_DIR)
        node.rec.i_links_count = 2 + subdirs if 2 + subdirs < DIR_LINK_MAX else 1
        fs.write_node(node)


def _runs(blocks: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for block in blocks:
        if runs and runs[-1][0] + runs[-1][1] == block:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((block, 1))
    return runs
