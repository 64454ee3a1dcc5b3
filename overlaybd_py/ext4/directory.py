"""Directory blocks: parsing entries and serialising a whole directory (linear or htree).

A directory that fits one block is written linear. A larger one is written as a
hashed index (dir_index, half-MD4): block 0 holds '.', '..' and the dx root,
leaves follow sorted by hash and packed full, and a second index level (dx
nodes) is added past 508 leaves. Reading never needs the index: every entry is
found by scanning all blocks, which works for both forms.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FormatError, UnsupportedError
from .constants import FT_DIR
from .hashing import dx_hash
from .records import DirEntry, DxCountLimit, DxEntry, DxRootInfo

_DIRENT = DirEntry.STRUCT
_DX = DxEntry.STRUCT
_COUNT = DxCountLimit.STRUCT
_DOT_SIZE = 12  # '.' and '..' entries, each 8 bytes + name padded to 4
_CONTINUED = 1  # low bit of a dx hash: the previous leaf ends with the same hash


def entry_size(name_len: int) -> int:
    return (8 + name_len + 3) & ~3


def parse_block(data: bytes, where: str) -> Iterator[tuple[bytes, int, int]]:
    """``(name, inode, file_type)`` for every live entry of one directory block."""
    pos = 0
    end = len(data)
    while pos + 8 <= end:
        ino, rec_len, name_len, file_type = _DIRENT.unpack_from(data, pos)
        if rec_len < 8 or rec_len % 4 or pos + rec_len > end or 8 + name_len > rec_len:
            raise FormatError(
                f"{where}: bad directory entry at byte {pos}: rec_len {rec_len}, "
                f"name_len {name_len}, block size {end}"
            )
        if ino and name_len:
            yield bytes(data[pos + 8 : pos + 8 + name_len]), ino, file_type
        pos += rec_len


def _pack_entries(entries: list[tuple[bytes, int, int]], block_size: int, used: int) -> bytes:
    """Entries packed from byte ``used``; the last entry's rec_len runs to the block end."""
    parts: list[bytes] = []
    for i, (name, ino, ftype) in enumerate(entries):
        size = entry_size(len(name))
        if i == len(entries) - 1:
            size = block_size - used
        parts.append(_DIRENT.pack(ino, size, len(name), ftype) + name.ljust(size - 8, b"\0"))
        used += size
    return b"".join(parts)


def _dots(self_ino: int, parent_ino: int, dotdot_len: int) -> bytes:
    return (
        _DIRENT.pack(self_ino, _DOT_SIZE, 1, FT_DIR)
        + b".\0\0\0"
        + _DIRENT.pack(parent_ino, dotdot_len, 2, FT_DIR)
        + b"..\0\0"
    )


def build_directory(
    entries: list[tuple[bytes, int, int]],
    self_ino: int,
    parent_ino: int,
    block_size: int,
    seed: tuple[int, int, int, int],
    signed: bool,
    hash_version: int,
) -> tuple[list[bytes], bool]:
    """All blocks of a directory holding ``entries``, and whether it is hash-indexed."""
    total = 2 * _DOT_SIZE + sum(entry_size(len(name)) for name, _, _ in entries)
    if total <= block_size:
        if not entries:
            return [
                _dots(self_ino, parent_ino, block_size - _DOT_SIZE).ljust(block_size, b"\0")
            ], False
        head = _dots(self_ino, parent_ino, _DOT_SIZE)
        return [head + _pack_entries(entries, block_size, 2 * _DOT_SIZE)], False
    return _build_htree(entries, self_ino, parent_ino, block_size, seed, signed, hash_version), True


def _build_htree(
    entries: list[tuple[bytes, int, int]],
    self_ino: int,
    parent_ino: int,
    block_size: int,
    seed: tuple[int, int, int, int],
    signed: bool,
    hash_version: int,
) -> list[bytes]:
    hashed = sorted((dx_hash(name, seed, signed), name, ino, ftype) for name, ino, ftype in entries)
    leaves: list[bytes] = []
    leaf_hashes: list[int] = []
    current: list[tuple[bytes, int, int]] = []
    used = 0
    previous_hash = -1
    for (major, _minor), name, ino, ftype in hashed:
        size = entry_size(len(name))
        if current and used + size > block_size:
            leaves.append(_pack_entries(current, block_size, 0))
            current, used = [], 0
        if not current:
            leaf_hashes.append(major | _CONTINUED if major == previous_hash else major)
        current.append((name, ino, ftype))
        used += size
        previous_hash = major
    leaves.append(_pack_entries(current, block_size, 0))

    root_limit = (block_size - 2 * _DOT_SIZE - DxRootInfo.SIZE) // DxEntry.SIZE
    node_limit = (block_size - 8) // DxEntry.SIZE
    leaf_refs = [(h, 1 + i) for i, h in enumerate(leaf_hashes)]
    if len(leaf_refs) <= root_limit:
        root = _dx_block(
            _root_head(self_ino, parent_ino, block_size, hash_version, 0),
            leaf_refs,
            root_limit,
            block_size,
        )
        return [root, *leaves]
    nodes: list[bytes] = []
    node_refs: list[tuple[int, int]] = []
    first_node_block = 1 + len(leaves)
    for i in range(0, len(leaf_refs), node_limit):
        chunk = leaf_refs[i : i + node_limit]
        node_refs.append((chunk[0][0], first_node_block + len(nodes)))
        fake = _DIRENT.pack(0, block_size, 0, 0)
        nodes.append(_dx_block(fake, chunk, node_limit, block_size))
    if len(node_refs) > root_limit:
        raise UnsupportedError(
            f"directory inode {self_ino} with {len(entries)} entries needs a 3-level htree "
            "(large_dir), which is not enabled"
        )
    root = _dx_block(
        _root_head(self_ino, parent_ino, block_size, hash_version, 1),
        node_refs,
        root_limit,
        block_size,
    )
    return [root, *leaves, *nodes]


def _root_head(self_ino: int, parent_ino: int, block_size: int, version: int, levels: int) -> bytes:
    info = DxRootInfo(hash_version=version, info_length=DxRootInfo.SIZE, indirect_levels=levels)
    return _dots(self_ino, parent_ino, block_size - _DOT_SIZE) + info.pack()


def _dx_block(head: bytes, refs: list[tuple[int, int]], limit: int, block_size: int) -> bytes:
    """A dx root or node: the head, count/limit over entry 0's hash, then the entries."""
    body = [_COUNT.pack(limit, len(refs)) + refs[0][1].to_bytes(4, "little")]
    body.extend(_DX.pack(h, block) for h, block in refs[1:])
    return (head + b"".join(body)).ljust(block_size, b"\0")
