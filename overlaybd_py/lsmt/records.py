"""LSMT on-disk records: the 4096-byte header/trailer block and the 16-byte segment mapping.

Both records are declared once here and used for reading and for writing (spec §2.1 to §2.4).
"""

from __future__ import annotations

import struct
import sys
import uuid as uuidlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import FormatError

SECTOR = 512
"""Every LSMT offset and length is counted in 512-byte sectors (§2.1)."""

HT_SPACE = 4096
"""Bytes the header and the trailer each occupy; the record itself is 390 bytes."""

HT_STRUCT_SIZE = 390
DATA_START_SECTOR = HT_SPACE // SECTOR
"""Data begins right after the header block: sector 8."""

MAX_SEGMENT_LENGTH = 16383
"""Longest mapping, in sectors (a 14-bit field)."""

INVALID_OFFSET = (1 << 50) - 1
"""The largest 50-bit offset marks an invalid (padding) mapping; loaders drop it."""

MAX_MOFFSET = (1 << 55) - 1
MAX_RO_INDEX_ENTRIES = 1_000_000
"""Most entries a read-only layer's trailer may declare, padding included (§2.1)."""

MAX_MERGED_INDEX_ENTRIES = 128_000_000
MAX_STACK_LAYERS = 255
MAX_IO_SIZE = 4 << 20
"""Writable layers split single writes larger than this (§2.7)."""

CHUNK_SECTORS = 64
"""The commit copies data in chunks of at most 32 KiB, each with its own mapping (§2.8)."""

INDEX_ALIGN_ENTRIES = HT_SPACE // 16
"""A committed index is padded with invalid mappings to a multiple of 256 entries."""

VERSION = 1
SUB_VERSION = 1

MAGIC0 = b"LSMT\x00\x01\x02\x00"
MAGIC1 = bytes.fromhex("657E63D29444084CA2D2C8EC4FCFAE8A")
NULL_UUID = "00000000-0000-0000-0000-000000000000"

FLAG_HEADER = 0x01
"""Set in a header, clear in a trailer."""
FLAG_DATA = 0x02
"""Set in a data file (every layer file), clear in a writable layer's separate index file."""
FLAG_SEALED = 0x04
"""Set when the index is stored inside this file (committed or sealed layers)."""
FLAG_GC = 0x08
FLAG_SPARSE_RW = 0x10
FLAG_INFO_VALID = 0x20

COMMIT_HEADER_FLAGS = FLAG_HEADER | FLAG_DATA | FLAG_SEALED  # 0x07
TRAILER_FLAGS = FLAG_DATA | FLAG_SEALED  # 0x06
RW_DATA_HEADER_FLAGS = FLAG_HEADER | FLAG_DATA  # 0x03, also the header of a sealed file
RW_SPARSE_HEADER_FLAGS = FLAG_HEADER | FLAG_DATA | FLAG_SPARSE_RW  # 0x13
RW_INDEX_HEADER_FLAGS = FLAG_HEADER  # 0x01

_HT = struct.Struct("<8s16sIIQQQ37s37sHBB256s")
_UUID_FIELD = 37
_USER_TAG_FIELD = 256

_M50 = (1 << 50) - 1
_M55 = (1 << 55) - 1
_ZEROED_BIT = 1 << 55
_HIGH_BIT_TABLE = bytes(b >> 7 for b in range(256))


def normalize_uuid(value: str | None, default: str = NULL_UUID) -> str:
    """A UUID as upstream stores it: upper-case canonical text, or ``default`` if unparsable."""
    if not value:
        return default
    try:
        return str(uuidlib.UUID(value)).upper()
    except ValueError:
        return default


def _decode_cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


@dataclass(frozen=True)
class HeaderTrailer:
    """The header (file offset 0) or trailer (last 4096 bytes) of an LSMT file (§2.2)."""

    flags: int
    index_offset: int = 0
    index_size: int = 0
    virtual_size: int = 0
    uuid: str = NULL_UUID
    parent_uuid: str = NULL_UUID
    user_tag: bytes = b""
    version: int = VERSION
    sub_version: int = SUB_VERSION
    reserved: int = 0

    @property
    def is_header(self) -> bool:
        return bool(self.flags & FLAG_HEADER)

    @property
    def is_data_file(self) -> bool:
        return bool(self.flags & FLAG_DATA)

    @property
    def is_sealed(self) -> bool:
        return bool(self.flags & FLAG_SEALED)

    def pack(self) -> bytes:
        """The full 4096-byte block: the 390-byte record followed by zeros."""
        for name in ("uuid", "parent_uuid"):
            text = getattr(self, name).encode("ascii")
            if len(text) >= _UUID_FIELD:
                raise ValueError(f"{name} must be at most 36 characters, got {len(text)}")
        if len(self.user_tag) > _USER_TAG_FIELD:
            raise ValueError(f"user_tag must be at most 256 bytes, got {len(self.user_tag)}")
        record = _HT.pack(
            MAGIC0,
            MAGIC1,
            HT_STRUCT_SIZE,
            self.flags,
            self.index_offset,
            self.index_size,
            self.virtual_size,
            self.uuid.encode("ascii"),
            self.parent_uuid.encode("ascii"),
            self.reserved,
            self.version,
            self.sub_version,
            self.user_tag,
        )
        return record + bytes(HT_SPACE - len(record))

    @classmethod
    def unpack(cls, block: bytes, where: str) -> HeaderTrailer:
        """Parse a record, checking both magics; ``where`` names it in errors."""
        if len(block) < _HT.size:
            raise FormatError(
                f"{where}: LSMT header/trailer needs {_HT.size} bytes, found {len(block)}"
            )
        (magic0, magic1, _size, flags, index_offset, index_size, virtual_size, uuid, parent,
         reserved, version, sub_version, user_tag) = _HT.unpack_from(block)  # fmt: skip
        if magic0 != MAGIC0 or magic1 != MAGIC1:
            raise FormatError(
                f"{where}: expected LSMT magic {MAGIC0.hex()}/{MAGIC1.hex()}, "
                f"found {magic0.hex()}/{magic1.hex()}"
            )
        return cls(
            flags=flags,
            index_offset=index_offset,
            index_size=index_size,
            virtual_size=virtual_size,
            uuid=_decode_cstr(uuid).decode("latin-1"),
            parent_uuid=_decode_cstr(parent).decode("latin-1"),
            user_tag=_decode_cstr(user_tag),
            version=version,
            sub_version=sub_version,
            reserved=reserved,
        )


def has_lsmt_magic(head: bytes) -> bool:
    """True when ``head`` starts with both LSMT magics (used to detect bare LSMT files)."""
    return head[:8] == MAGIC0 and head[8:24] == MAGIC1


class Mapping(NamedTuple):
    """One index entry (§2.4): ``length`` sectors at ``offset`` map to ``moffset`` of the file."""

    offset: int
    length: int
    moffset: int
    zeroed: bool = False
    tag: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def mend(self) -> int:
        """End in the mapped file; a zeroed entry occupies no data."""
        return self.moffset if self.zeroed else self.moffset + self.length

    def pack(self) -> bytes:
        return _pack_words(self.offset, self.length, self.moffset, self.zeroed, self.tag)


def _pack_words(offset: int, length: int, moffset: int, zeroed: bool, tag: int) -> bytes:
    if not (0 <= offset <= _M50 and 0 <= length <= MAX_SEGMENT_LENGTH and 0 <= moffset <= _M55
            and 0 <= tag <= 255):  # fmt: skip
        raise ValueError(f"mapping out of field range: {offset}+{length} -> {moffset} tag {tag}")
    lo = offset | (length << 50)
    hi = moffset | (_ZEROED_BIT if zeroed else 0) | (tag << 56)
    return _ENTRY.pack(lo, hi)


_ENTRY = struct.Struct("<QQ")
ENTRY_SIZE = _ENTRY.size
INVALID_ENTRY = _ENTRY.pack(INVALID_OFFSET, 0)


def encode_index(mappings: list[Mapping], pad_to: int = 1) -> bytes:
    """Pack mappings, then append invalid entries up to a multiple of ``pad_to`` entries."""
    body = b"".join([_pack_words(*m) for m in mappings])
    padding = -len(mappings) % pad_to
    return body + INVALID_ENTRY * padding


@dataclass
class IndexColumns:
    """A decoded index held column-wise (one array per field) so large indexes stay cheap."""

    offsets: array[int]
    lengths: array[int]
    moffsets: array[int]
    zeroed: bytes
    """One byte per entry, 0 or 1."""
    tags: bytes

    def __len__(self) -> int:
        return len(self.offsets)

    def mapping(self, i: int) -> Mapping:
        return Mapping(
            self.offsets[i], self.lengths[i], self.moffsets[i], bool(self.zeroed[i]), self.tags[i]
        )

    def __iter__(self) -> Iterator[Mapping]:
        for offset, length, moffset, zeroed, tag in zip(
            self.offsets, self.lengths, self.moffsets, self.zeroed, self.tags, strict=True
        ):
            yield Mapping(offset, length, moffset, bool(zeroed), tag)

    @classmethod
    def from_mappings(cls, mappings: Iterable[Mapping]) -> IndexColumns:
        items = list(mappings)
        return cls(
            offsets=array("Q", [m.offset for m in items]),
            lengths=array("Q", [m.length for m in items]),
            moffsets=array("Q", [m.moffset for m in items]),
            zeroed=bytes(1 if m.zeroed else 0 for m in items),
            tags=bytes(m.tag for m in items),
        )

    def ends(self) -> array[int]:
        """``offset + length`` of every entry (no lane can carry: 50 + 14 bits < 64)."""
        return column_from_lanes(lanes(self.offsets) + lanes(self.lengths), len(self))


# Bulk decoding works on "lanes": a column of u64 values read as one little-endian big
# integer. Masks and shifts on that integer act on every lane at once in C, as long as
# no lane overflows into its neighbour (each field is narrower than 64 bits).


def lanes(column: array[int]) -> int:
    """A u64 column as one big integer, lane ``i`` at bits ``64 i .. 64 i + 63``."""
    if sys.byteorder == "big":
        column = array("Q", column)
        column.byteswap()
    return int.from_bytes(column.tobytes(), "little")


def column_from_lanes(value: int, count: int) -> array[int]:
    column = array("Q", value.to_bytes(8 * count, "little"))
    if sys.byteorder == "big":
        column.byteswap()
    return column


def _lane_mask(mask: int, count: int) -> int:
    return int.from_bytes(struct.pack("<Q", mask) * count, "little")


def decode_index(data: bytes) -> IndexColumns:
    """Decode packed 16-byte entries in bulk, without a Python-level loop per entry."""
    if len(data) % ENTRY_SIZE:
        raise ValueError(f"index length {len(data)} is not a multiple of {ENTRY_SIZE}")
    count = len(data) // ENTRY_SIZE
    words = array("Q", data)  # raw little-endian words, reinterpreted only via lanes()
    if sys.byteorder == "big":
        words.byteswap()
    lo = lanes(words[0::2])
    hi = lanes(words[1::2])
    return IndexColumns(
        offsets=column_from_lanes(lo & _lane_mask(_M50, count), count),
        lengths=column_from_lanes((lo >> 50) & _lane_mask(MAX_SEGMENT_LENGTH, count), count),
        moffsets=column_from_lanes(hi & _lane_mask(_M55, count), count),
        zeroed=bytes(data[14::16]).translate(_HIGH_BIT_TABLE),
        tags=bytes(data[15::16]),
    )
