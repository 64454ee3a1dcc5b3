"""Open one read-only LSMT layer (committed or sealed) from any positional byte source.

The header and trailer are checked as upstream's read-only open does (spec §2.5), then the
index is decoded in bulk and every invariant of §2.6 is enforced, so a layer that opens
cleanly can be read without further checks.
"""

from __future__ import annotations

import itertools
import logging
import operator
from array import array
from dataclasses import dataclass
from functools import cached_property

from ..errors import FormatError
from ..io import ByteSource, read_exact, source_name
from .index import SegmentTable
from .records import (
    DATA_START_SECTOR,
    ENTRY_SIZE,
    FLAG_DATA,
    FLAG_HEADER,
    FLAG_SEALED,
    HT_SPACE,
    INVALID_OFFSET,
    MAX_RO_INDEX_ENTRIES,
    SECTOR,
    HeaderTrailer,
    IndexColumns,
    Mapping,
    decode_index,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerStats:
    """Counts over a layer's index, for ``obd layer info``."""

    entries: int
    """Entries the trailer declares, padding included."""
    real: int
    padding: int
    zeroed: int
    data_sectors: int
    zeroed_sectors: int

    @property
    def mapped_bytes(self) -> int:
        """Bytes of the virtual device this layer stores data for."""
        return self.data_sectors * SECTOR

    @property
    def zeroed_bytes(self) -> int:
        return self.zeroed_sectors * SECTOR


class LayerFile:
    """A validated read-only LSMT layer; ``size``/``pread`` read its own virtual device.

    Gaps read as zeros here; in a stack they fall through to lower layers instead.
    """

    def __init__(self, source: ByteSource, name: str | None = None) -> None:
        self.source = source
        self.name = name or source_name(source)
        self.header, self.trailer = self._read_header_trailer()
        self.index, padding = self._load_index()
        self.padding_entries = padding

    # -- header and trailer ----------------------------------------------------------------

    def _read_header_trailer(self) -> tuple[HeaderTrailer, HeaderTrailer]:
        size = self.source.size
        if size < 2 * HT_SPACE:
            raise FormatError(
                f"{self.name}: LSMT file needs at least {2 * HT_SPACE} bytes (header + trailer), "
                f"found {size}"
            )
        head = read_exact(self.source, 0, HT_SPACE, "LSMT header")
        header = HeaderTrailer.unpack(head, f"{self.name}: LSMT header at offset 0")
        if not header.flags & FLAG_HEADER:
            raise FormatError(
                f"{self.name}: LSMT header at offset 0 has flags {header.flags:#x}, "
                f"expected the header bit {FLAG_HEADER:#x} set"
            )
        at = size - HT_SPACE
        tail = read_exact(self.source, at, HT_SPACE, "LSMT trailer")
        trailer = HeaderTrailer.unpack(tail, f"{self.name}: LSMT trailer at offset {at}")
        wanted = FLAG_DATA | FLAG_SEALED
        if trailer.flags & FLAG_HEADER or trailer.flags & wanted != wanted:
            raise FormatError(
                f"{self.name}: LSMT trailer at offset {at} has flags {trailer.flags:#x}, expected "
                f"header bit clear and data|sealed bits {wanted:#x} set (a committed or sealed "
                f"layer)"
            )
        return header, trailer

    # -- index -----------------------------------------------------------------------------

    def _load_index(self) -> tuple[IndexColumns, int]:
        t = self.trailer
        trailer_at = self.source.size - HT_SPACE
        if t.index_size > MAX_RO_INDEX_ENTRIES:
            raise FormatError(
                f"{self.name}: trailer declares {t.index_size} index entries, "
                f"more than the read-only limit {MAX_RO_INDEX_ENTRIES}"
            )
        end = t.index_offset + t.index_size * ENTRY_SIZE
        if t.index_offset < HT_SPACE or end > trailer_at:
            raise FormatError(
                f"{self.name}: index of {t.index_size} entries at offset {t.index_offset} "
                f"(ending at {end}) lies outside the data area [{HT_SPACE}, {trailer_at})"
            )
        if t.index_offset % SECTOR:
            raise FormatError(
                f"{self.name}: index offset {t.index_offset} is not a multiple of {SECTOR}"
            )
        raw = decode_index(read_exact(self.source, t.index_offset, end - t.index_offset, "index"))
        positions, index = _drop_invalid(raw)
        _check_order(self.name, index, positions)
        _check_moffsets(self.name, index, positions, t.index_offset // SECTOR)
        if any(index.tags):
            index.tags = bytes(len(index))  # §2.6: on-disk tags are reset on load
        log.debug("%s: %d mappings, %d padding", self.name, len(index), len(raw) - len(index))
        return index, len(raw) - len(index)

    # -- header fields ---------------------------------------------------------------------

    @property
    def uuid(self) -> str:
        return self.trailer.uuid

    @property
    def parent_uuid(self) -> str:
        return self.trailer.parent_uuid

    @property
    def virtual_size(self) -> int:
        return self.trailer.virtual_size

    @property
    def user_tag(self) -> bytes:
        return self.trailer.user_tag

    @property
    def flags(self) -> int:
        """Header flags: 0x07 for a committed layer, 0x03 for a sealed one."""
        return self.header.flags

    @property
    def sealed(self) -> bool:
        """True for a sealed (not compacted) layer: its header is still a writable header."""
        return not self.header.flags & FLAG_SEALED

    @property
    def mappings(self) -> list[Mapping]:
        """The valid index entries in LBA order (tags reset to 0)."""
        return list(self.index)

    @cached_property
    def stats(self) -> LayerStats:
        lengths = self.index.lengths
        zeroed = self.index.zeroed
        zeroed_sectors = sum(itertools.compress(lengths, zeroed))
        return LayerStats(
            entries=self.trailer.index_size,
            real=len(lengths),
            padding=self.padding_entries,
            zeroed=zeroed.count(1),
            data_sectors=sum(lengths) - zeroed_sectors,
            zeroed_sectors=zeroed_sectors,
        )

    # -- reading ---------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.virtual_size

    @cached_property
    def _table(self) -> SegmentTable:
        return SegmentTable(self.index, [self.source], self.virtual_size, name=self.name)

    def pread(self, offset: int, length: int) -> bytes:
        """Bytes of this layer's own virtual device (gaps and zeroed ranges read as zeros)."""
        return self._table.pread(offset, length)


def open_layer(source: ByteSource, name: str | None = None) -> LayerFile:
    """Open and validate a bare LSMT layer file."""
    return LayerFile(source, name)


def _drop_invalid(raw: IndexColumns) -> tuple[list[int] | None, IndexColumns]:
    """Remove invalid (padding) and empty entries; also return the kept entries' positions.

    Positions are ``None`` when every kept entry sits at its own on-disk position (the usual
    case: padding only at the end). An empty entry maps nothing, so dropping it is safe.
    """
    n = len(raw)
    first_invalid = raw.offsets.index(INVALID_OFFSET) if INVALID_OFFSET in raw.offsets else n
    if (
        raw.offsets.count(INVALID_OFFSET) == n - first_invalid
        and 0 not in raw.lengths[:first_invalid]
    ):
        if first_invalid == n:
            return None, raw
        return None, IndexColumns(
            offsets=raw.offsets[:first_invalid],
            lengths=raw.lengths[:first_invalid],
            moffsets=raw.moffsets[:first_invalid],
            zeroed=raw.zeroed[:first_invalid],
            tags=raw.tags[:first_invalid],
        )
    keep = [o != INVALID_OFFSET and k != 0 for o, k in zip(raw.offsets, raw.lengths, strict=True)]
    positions = list(itertools.compress(range(len(keep)), keep))
    index = IndexColumns(
        offsets=array("Q", itertools.compress(raw.offsets, keep)),
        lengths=array("Q", itertools.compress(raw.lengths, keep)),
        moffsets=array("Q", itertools.compress(raw.moffsets, keep)),
        zeroed=bytes(itertools.compress(raw.zeroed, keep)),
        tags=bytes(itertools.compress(raw.tags, keep)),
    )
    return positions, index


def _entry_text(index: IndexColumns, i: int, positions: list[int] | None) -> str:
    m = index.mapping(i)
    at = positions[i] if positions is not None else i
    kind = " zeroed" if m.zeroed else ""
    return f"index entry {at} (offset {m.offset}, length {m.length}, moffset {m.moffset}{kind})"


def _check_order(name: str, index: IndexColumns, positions: list[int] | None) -> None:
    """§2.6: sorted by offset and non-overlapping."""
    offsets = index.offsets
    ends = index.ends()
    if all(map(operator.le, ends[:-1], offsets[1:])):
        return
    for i in range(len(ends) - 1):
        if ends[i] > offsets[i + 1]:
            problem = "overlaps" if offsets[i] < offsets[i + 1] else "is not sorted before"
            raise FormatError(
                f"{name}: {_entry_text(index, i, positions)} {problem} "
                f"{_entry_text(index, i + 1, positions)}"
            )


def _check_moffsets(
    name: str, index: IndexColumns, positions: list[int] | None, limit: int
) -> None:
    """§2.6: data lies in ``[8, index_offset/512)``; zeroed entries point inside it too."""
    moffsets = index.moffsets
    if not moffsets:
        return
    mends = [
        m if z else m + n for m, n, z in zip(moffsets, index.lengths, index.zeroed, strict=True)
    ]
    if min(moffsets) >= DATA_START_SECTOR and max(mends) <= limit:
        return
    for i, (m, e) in enumerate(zip(moffsets, mends, strict=True)):
        if m < DATA_START_SECTOR or e > limit:
            raise FormatError(
                f"{name}: {_entry_text(index, i, positions)} maps sectors [{m}, {e}) outside "
                f"the data area [{DATA_START_SECTOR}, {limit}) before the index"
            )
