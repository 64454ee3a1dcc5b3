"""Index merging across layers (spec §2.9) and the byte-level lookup table used for reads.

``merge_indexes`` turns per-layer indexes, top layer first, into one sorted index whose tags
name the layer depth. ``SegmentTable`` holds such an index in bytes, as parallel lists, and
answers ``pread`` with one bisect for the common single-extent case.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from ..errors import FormatError
from ..io import ByteSource, source_name
from .records import MAX_MERGED_INDEX_ENTRIES, SECTOR, IndexColumns


def merge_indexes(layers_top_first: Sequence[IndexColumns]) -> IndexColumns:
    """Merge indexes so the higher layer wins sector by sector (§2.9).

    Every entry of the top layer is kept whole (zeroed ones too); gaps are filled from the
    next layer down, trimming its entries at the gap edges and advancing a trimmed data
    entry's ``moffset``. Each result entry's ``tag`` is the depth it came from (0 = top).
    """
    pieces: list[tuple[int, int, int, int, int]] = []
    cover_starts: list[int] = []
    cover_ends: list[int] = []
    for depth, layer in enumerate(layers_top_first):
        _fill_gaps(layer, depth, cover_starts, cover_ends, pieces)
        if len(pieces) > MAX_MERGED_INDEX_ENTRIES:
            raise FormatError(
                f"merged index of {len(layers_top_first)} layers exceeds "
                f"{MAX_MERGED_INDEX_ENTRIES} entries at layer depth {depth}"
            )
        if depth + 1 < len(layers_top_first):
            cover_starts, cover_ends = _union(cover_starts, cover_ends, layer)
    pieces.sort()
    return IndexColumns(
        offsets=[p[0] for p in pieces],
        lengths=[p[1] for p in pieces],
        moffsets=[p[2] for p in pieces],
        zeroed=bytes(p[3] for p in pieces),
        tags=bytes(p[4] for p in pieces),
    )


def _fill_gaps(
    layer: IndexColumns,
    depth: int,
    cover_starts: list[int],
    cover_ends: list[int],
    out: list[tuple[int, int, int, int, int]],
) -> None:
    """Append the parts of ``layer``'s entries not inside the coverage of the layers above."""
    n_cover = len(cover_starts)
    j = 0
    for offset, length, moffset, zeroed in zip(
        layer.offsets, layer.lengths, layer.moffsets, layer.zeroed, strict=True
    ):
        end = offset + length
        while j < n_cover and cover_ends[j] <= offset:
            j += 1
        pos = offset
        while j < n_cover and cover_starts[j] < end:
            if cover_starts[j] > pos:
                out.append(_trimmed(offset, moffset, zeroed, depth, pos, cover_starts[j]))
            pos = max(pos, cover_ends[j])
            if cover_ends[j] > end:
                break
            j += 1
        if pos < end:
            out.append(_trimmed(offset, moffset, zeroed, depth, pos, end))


def _trimmed(
    offset: int, moffset: int, zeroed: int, depth: int, start: int, end: int
) -> tuple[int, int, int, int, int]:
    """The part ``[start, end)`` of an entry; only data entries move their ``moffset``."""
    return (start, end - start, moffset if zeroed else moffset + start - offset, zeroed, depth)


def _union(starts: list[int], ends: list[int], layer: IndexColumns) -> tuple[list[int], list[int]]:
    """Coverage of the layers so far plus ``layer``, as coalesced sorted ranges."""
    ranges = sorted(
        [
            *zip(starts, ends, strict=True),
            *zip(layer.offsets, map(_add, layer.offsets, layer.lengths), strict=True),
        ]
    )
    new_starts: list[int] = []
    new_ends: list[int] = []
    for start, end in ranges:
        if new_ends and start <= new_ends[-1]:
            if end > new_ends[-1]:
                new_ends[-1] = end
        else:
            new_starts.append(start)
            new_ends.append(end)
    return new_starts, new_ends


def _add(a: int, b: int) -> int:
    return a + b


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

    __slots__ = ("_deltas", "_ends", "_layers", "_sources", "_starts", "name", "size")

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
        self._starts = [o * SECTOR for o in index.offsets]
        self._ends = [(o + n) * SECTOR for o, n in zip(index.offsets, index.lengths, strict=True)]
        self._deltas = [
            (m - o) * SECTOR for o, m in zip(index.offsets, index.moffsets, strict=True)
        ]
        self._sources: list[ByteSource | None] = [
            None if z else sources[t] for z, t in zip(index.zeroed, index.tags, strict=True)
        ]
        relabel = layer_of_tag if layer_of_tag is not None else range(len(sources))
        self._layers = [relabel[t] for t in index.tags]

    def __len__(self) -> int:
        return len(self._starts)

    def pread(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the device, clipped at its end."""
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
        raise FormatError(
            f"{self.name}: merged entry {i} (layer {self._layers[i]}) maps {wanted} bytes at "
            f"offset {at} of {source_name(source)}, which returned {got} "
            f"(source is {source.size if source is not None else 0} bytes)"
        )

    def extents(self) -> Iterator[Extent]:
        """Every merged extent in device order, clipped to the device size."""
        for start, end, layer, source in zip(
            self._starts, self._ends, self._layers, self._sources, strict=True
        ):
            if start >= self.size:
                return
            yield Extent(start, min(end, self.size) - start, layer, source is None)

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
