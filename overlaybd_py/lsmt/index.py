"""The byte-level lookup table that serves reads of one layer or of a merged stack (§11).

``SegmentTable`` holds a sorted index in bytes, as parallel lists, and answers ``pread``
with one bisect for the common single-extent case.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from ..errors import FormatError
from ..io import ByteSource, source_name
from .records import (
    SECTOR,
    IndexColumns,
    column_from_lanes,
    lanes,
)

_SECTOR_SHIFT = SECTOR.bit_length() - 1  # sectors to bytes; lanes stay below 2**64 (55+9 bits)


class Extent(NamedTuple):
    """A byte range of a virtual device and where it comes from."""

    offset: int
    length: int
    layer: int
    """Index of the layer in the stack's ``layers`` list (bottom first)."""
    zeroed: bool


class SegmentTable:
    """A merged index in bytes: sorted extents, each read from a source or as zeros.

    Kept as parallel lists so a lookup is one ``bisect`` over Python ints; ``deltas`` hold
    ``file offset - device offset`` so a hit needs a single addition.
    """

    __slots__ = (
        "_deltas", "_ends", "_layer_of_tag", "_sources", "_starts", "_tags", "name", "size",
    )  # fmt: skip

    def __init__(
        self,
        index: IndexColumns,
        sources: Sequence[ByteSource],
        size: int,
        layer_of_tag: Sequence[int] | None = None,
        name: str = "<lsmt>",
    ) -> None:
        """``sources[tag]`` backs entries with that tag; ``layer_of_tag`` relabels tags."""
        self.size = size
        self.name = name
        count = len(index)
        self._starts = column_from_lanes(lanes(index.offsets) << _SECTOR_SHIFT, count).tolist()
        self._ends = column_from_lanes(lanes(index.ends()) << _SECTOR_SHIFT, count).tolist()
        mstarts = column_from_lanes(lanes(index.moffsets) << _SECTOR_SHIFT, count).tolist()
        self._deltas = list(map(operator.sub, mstarts, self._starts))
        if len(sources) == 1:
            self._sources: list[ByteSource | None] = [sources[0]] * count
        else:
            self._sources = [sources[t] for t in index.tags]
        zeroed = index.zeroed.find(1)
        while zeroed >= 0:
            self._sources[zeroed] = None
            zeroed = index.zeroed.find(1, zeroed + 1)
        self._tags = index.tags
        self._layer_of_tag = list(layer_of_tag if layer_of_tag is not None else range(len(sources)))

    def __len__(self) -> int:
        return len(self._starts)

    def pread(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the device, clipped at its end."""
        if offset < 0 or length < 0:
            raise ValueError(f"{self.name}: read of {length} bytes at offset {offset}: negative")
        end = offset + length
        if end > self.size:
            end = self.size
        if offset >= end:
            return b""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and end <= self._ends[i]:
            source = self._sources[i]
            if source is None:
                return bytes(end - offset)
            data = source.pread(offset + self._deltas[i], end - offset)
            if len(data) != end - offset:
                self._short_read(i, offset + self._deltas[i], end - offset, len(data))
            return data
        return self._pread_span(i, offset, end)

    def _pread_span(self, i: int, offset: int, end: int) -> bytes:
        """Slow path: the range crosses extent boundaries or gaps."""
        out = bytearray(end - offset)
        if i < 0 or self._ends[i] <= offset:
            i += 1
        starts, ends, n = self._starts, self._ends, len(self._starts)
        while i < n and starts[i] < end:
            source = self._sources[i]
            if source is not None:
                start = max(starts[i], offset)
                stop = min(ends[i], end)
                at = start + self._deltas[i]
                data = source.pread(at, stop - start)
                if len(data) != stop - start:
                    self._short_read(i, at, stop - start, len(data))
                out[start - offset : stop - offset] = data
            i += 1
        return bytes(out)

    def _short_read(self, i: int, at: int, wanted: int, got: int) -> None:
        source = self._sources[i]
        layer = self._layer_of_tag[self._tags[i]]
        raise FormatError(
            f"{self.name}: merged entry {i} (layer {layer}) maps {wanted} bytes at "
            f"offset {at} of {source_name(source)}, which returned {got} "
            f"(source is {source.size if source is not None else 0} bytes)"
        )

    def extents(self) -> Iterator[Extent]:
        """Every merged extent in device order, clipped to the device size."""
        layer_of_tag = self._layer_of_tag
        for start, end, tag, source in zip(
            self._starts, self._ends, self._tags, self._sources, strict=True
        ):
            if start >= self.size:
                return
            yield Extent(start, min(end, self.size) - start, layer_of_tag[tag], source is None)

    def data_extents(self) -> Iterator[tuple[int, int]]:
        """Byte ranges ``(offset, length)`` holding data (not zeroed, not gaps), coalesced."""
        run_start = run_end = -1
        for extent in self.extents():
            if extent.zeroed:
                continue
            if extent.offset == run_end:
                run_end += extent.length
                continue
            if run_end > run_start:
                yield run_start, run_end - run_start
            run_start, run_end = extent.offset, extent.offset + extent.length
        if run_end > run_start:
            yield run_start, run_end - run_start
