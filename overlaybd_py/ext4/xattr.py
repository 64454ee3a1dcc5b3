"""Extended attributes: in the inode after i_extra_isize, and in one attribute block.

Names are stored without a known prefix (``user.``, ``security.``, ...), replaced
by a one-byte index. Attributes go into the inode while they fit (96 bytes less
the 4-byte magic for 256-byte inodes), the rest into a single 4 KiB block.
"""

from __future__ import annotations

from ..errors import ConversionError, FormatError
from .constants import XATTR_INDEX_PREFIXES, XATTR_MAGIC
from .hashing import xattr_block_hash, xattr_entry_hash
from .records import XattrBlockHeader, XattrEntry

_ENTRY = XattrEntry.STRUCT
_PREFIX_BY_INDEX = {index: prefix for index, prefix in XATTR_INDEX_PREFIXES}
_TERMINATOR = 4


def split_name(name: str) -> tuple[int, bytes]:
    """(name index, stored suffix) for a full attribute name."""
    for index, prefix in XATTR_INDEX_PREFIXES:
        if name.startswith(prefix) and (prefix.endswith(".") or name == prefix):
            return index, name[len(prefix) :].encode("utf-8", "surrogateescape")
    return 0, name.encode("utf-8", "surrogateescape")


def join_name(index: int, suffix: bytes, where: str) -> str:
    prefix = _PREFIX_BY_INDEX.get(index)
    if prefix is None and index:
        raise FormatError(f"{where}: unknown attribute name index {index}")
    return (prefix or "") + suffix.decode("utf-8", "surrogateescape")


def _pad(n: int) -> int:
    return (n + 3) & ~3


def parse_entries(
    region: bytes, entries_start: int, values_base: int, where: str
) -> dict[str, bytes]:
    """Attributes from a table of entries at ``entries_start``; value offsets are from
    ``values_base``."""
    result: dict[str, bytes] = {}
    pos = entries_start
    while pos + 4 <= len(region) and region[pos : pos + 4] != b"\0\0\0\0":
        if pos + XattrEntry.SIZE > len(region):
            raise FormatError(f"{where}: attribute entry at byte {pos} runs past the area")
        name_len, index, value_offs, value_inum, value_size, _ = _ENTRY.unpack_from(region, pos)
        name = region[pos + XattrEntry.SIZE : pos + XattrEntry.SIZE + name_len]
        if value_inum:
            raise FormatError(f"{where}: attribute stored in inode {value_inum} (ea_inode)")
        start = values_base + value_offs
        if start + value_size > len(region):
            raise FormatError(
                f"{where}: attribute value {start}+{value_size} runs past {len(region)} bytes"
            )
        result[join_name(index, bytes(name), where)] = bytes(region[start : start + value_size])
        pos += _pad(XattrEntry.SIZE + name_len)
    return result


def parse_inline(tail: bytes, where: str) -> dict[str, bytes]:
    """Attributes in the inode area that follows i_extra_isize (``tail`` starts there)."""
    if len(tail) < 4 or int.from_bytes(tail[:4], "little") != XATTR_MAGIC:
        return {}
    return parse_entries(tail[4:], 0, 0, where)


def parse_block(block: bytes, where: str) -> dict[str, bytes]:
    header = XattrBlockHeader.unpack(block)
    if header.h_magic != XATTR_MAGIC:
        raise FormatError(
            f"{where}: attribute block magic 0x{header.h_magic:08x}, expected 0x{XATTR_MAGIC:08x}"
        )
    return parse_entries(block, XattrBlockHeader.SIZE, 0, where)


class _Item:
    __slots__ = ("index", "suffix", "value")

    def __init__(self, index: int, suffix: bytes, value: bytes) -> None:
        self.index, self.suffix, self.value = index, suffix, value

    @property
    def entry_bytes(self) -> int:
        return _pad(XattrEntry.SIZE + len(self.suffix))

    @property
    def value_bytes(self) -> int:
        return _pad(len(self.value))


def _layout(items: list[_Item], area: int, start: int, with_hash: bool) -> bytes:
    """Entries from ``start`` upward, values from the end of ``area`` downward."""
    out = bytearray(area)
    pos = start
    value_end = area
    for item in items:
        value_end -= item.value_bytes
        value_offs = value_end if item.value else 0
        out[value_end : value_end + len(item.value)] = item.value
        entry_hash = xattr_entry_hash(item.suffix, item.value) if with_hash else 0
        _ENTRY.pack_into(
            out, pos, len(item.suffix), item.index, value_offs, 0, len(item.value), entry_hash
        )
        out[pos + XattrEntry.SIZE : pos + XattrEntry.SIZE + len(item.suffix)] = item.suffix
        pos += item.entry_bytes
    return bytes(out)


def build(
    attrs: dict[str, bytes], inline_room: int, block_size: int, where: str
) -> tuple[bytes, bytes | None]:
    """(in-inode area of ``inline_room`` bytes, attribute block or None) for ``attrs``."""
    items = []
    for name, value in attrs.items():
        index, suffix = split_name(name)
        if not suffix or len(suffix) > 255:
            raise ConversionError(f"{where}: attribute name {name!r} is empty or too long")
        items.append(_Item(index, suffix, bytes(value)))
    items.sort(key=lambda it: (it.index, len(it.suffix), it.suffix))
    inline: list[_Item] = []
    spill: list[_Item] = []
    room = inline_room - 4 - _TERMINATOR
    for item in items:
        need = item.entry_bytes + item.value_bytes
        if not spill and need <= room:
            inline.append(item)
            room -= need
        else:
            spill.append(item)
    area = b""
    if inline:
        area = XATTR_MAGIC.to_bytes(4, "little") + _layout(inline, inline_room - 4, 0, True)
    area = area.ljust(inline_room, b"\0")
    if not spill:
        return area, None
    need = (
        XattrBlockHeader.SIZE + _TERMINATOR + sum(it.entry_bytes + it.value_bytes for it in spill)
    )
    if need > block_size:
        raise ConversionError(
            f"{where}: extended attributes need {need} bytes, more than one {block_size}-byte block"
        )
    block = bytearray(_layout(spill, block_size, XattrBlockHeader.SIZE, True))
    hashes = [
        int.from_bytes(block[pos + 12 : pos + 16], "little")
        for pos in _entry_positions(spill, XattrBlockHeader.SIZE)
    ]
    header = XattrBlockHeader(
        h_magic=XATTR_MAGIC, h_refcount=1, h_blocks=1, h_hash=xattr_block_hash(hashes)
    )
    header.pack_into(block, 0)
    return area, bytes(block)


def _entry_positions(items: list[_Item], start: int) -> list[int]:
    positions = []
    for item in items:
        positions.append(start)
        start += item.entry_bytes
    return positions
