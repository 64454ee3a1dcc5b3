"""Merging the indexes of stacked layers into one (spec §2.9).

The top layer is kept whole; each lower layer contributes only what falls into the gaps
left by the layers above it. Work is done per gap, not per entry: the entries wholly
inside a gap are copied as one array slice and only the two at its edges are trimmed, so
a large base layer under a few small upper layers merges without a Python loop per entry.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from array import array
from collections.abc import Sequence

from ..errors import FormatError
from .records import INVALID_OFFSET, MAX_MERGED_INDEX_ENTRIES, IndexColumns

_Ranges = tuple[list[int], list[int]]


def merge_indexes(layers_top_first: Sequence[IndexColumns]) -> IndexColumns:
    """Merge indexes so the higher layer wins sector by sector (§2.9).

    Every entry of the top layer is kept whole (zeroed ones too); gaps are filled from the
    next layer down, trimming its entries at the gap edges and advancing a trimmed data
    entry's ``moffset`` (a zeroed entry's stays). Each result entry's ``tag`` is the depth
    of the layer it came from (0 = top).
    """
    if not layers_top_first:
        return IndexColumns(array("Q"), array("Q"), array("Q"), b"", b"")
    top = layers_top_first[0]
    runs = [_retagged(top, 0)]
    total = len(top)
    cover = _coverage(top)
    for depth in range(1, len(layers_top_first)):
        layer = layers_top_first[depth]
        run = _fill_gaps(layer, depth, cover)
        if run is not None:
            runs.append(run)
            total += len(run)
        if total > MAX_MERGED_INDEX_ENTRIES:
            raise FormatError(
                f"merged index of {len(layers_top_first)} layers exceeds "
                f"{MAX_MERGED_INDEX_ENTRIES} entries at layer depth {depth}"
            )
        if depth + 1 < len(layers_top_first):
            cover = _union(cover, _coverage(layer))
    return _concatenate(runs)


def _retagged(index: IndexColumns, depth: int) -> IndexColumns:
    return IndexColumns(
        index.offsets, index.lengths, index.moffsets, index.zeroed, bytes([depth]) * len(index)
    )


def _coverage(index: IndexColumns) -> _Ranges:
    """The sectors an index maps, as coalesced sorted ``(starts, ends)``."""
    if not len(index):
        return [], []
    offsets = index.offsets
    ends = index.ends()
    # A new range starts after entry i - 1 wherever entry i does not touch it.
    breaks = list(
        itertools.compress(range(1, len(offsets)), map(operator.lt, ends[:-1], offsets[1:]))
    )
    starts = [offsets[0], *(offsets[i] for i in breaks)]
    stops = [*(ends[i - 1] for i in breaks), ends[-1]]
    return starts, stops


def _union(a: _Ranges, b: _Ranges) -> _Ranges:
    """Union of two coalesced range lists, coalesced."""
    starts: list[int] = []
    stops: list[int] = []
    for start, stop in sorted(zip(a[0] + b[0], a[1] + b[1], strict=True)):
        if stops and start <= stops[-1]:
            if stop > stops[-1]:
                stops[-1] = stop
        else:
            starts.append(start)
            stops.append(stop)
    return starts, stops


def _gaps(cover: _Ranges) -> list[tuple[int, int]]:
    """The complement of ``cover`` over all valid offsets."""
    edges = [0, *itertools.chain.from_iterable(zip(cover[0], cover[1], strict=True)),
             INVALID_OFFSET]  # fmt: skip
    return [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2) if edges[i] < edges[i + 1]]


def _fill_gaps(layer: IndexColumns, depth: int, cover: _Ranges) -> IndexColumns | None:
    """The parts of ``layer`` inside the gaps of ``cover``, in offset order.

    Each gap selects a range of entry positions (two bisects); the positions are gathered
    into new columns at once, then the entries cut by a gap edge are trimmed in place.
    """
    if not len(layer):
        return None
    offsets = layer.offsets.tolist()  # bisect on a list avoids boxing array items per probe
    ends = layer.ends().tolist()
    picked: list[int] = []
    trims: list[tuple[int, int, int]] = []  # (output position, gap start, gap end)
    stop = 0
    for gap_start, gap_end in _gaps(cover):
        first = bisect.bisect_right(ends, gap_start, max(stop - 1, 0))  # may span 2 gaps
        stop = bisect.bisect_left(offsets, gap_end, first)
        if first >= stop:
            continue
        if offsets[first] < gap_start or ends[first] > gap_end:
            trims.append((len(picked), gap_start, gap_end))
        if stop - 1 > first and ends[stop - 1] > gap_end:
            trims.append((len(picked) + stop - 1 - first, gap_start, gap_end))
        picked.extend(range(first, stop))
    if not picked:
        return None
    run = IndexColumns(
        array("Q", map(layer.offsets.__getitem__, picked)),
        array("Q", map(layer.lengths.__getitem__, picked)),
        array("Q", map(layer.moffsets.__getitem__, picked)),
        bytes(map(layer.zeroed.__getitem__, picked)),
        bytes([depth]) * len(picked),
    )
    for position, gap_start, gap_end in trims:
        _trim(run, position, gap_start, gap_end)
    return run


def _trim(run: IndexColumns, i: int, gap_start: int, gap_end: int) -> None:
    """Cut entry ``i`` to the gap; a data entry advances its ``moffset`` by the front cut."""
    cut = gap_start - run.offsets[i]
    if cut > 0:
        run.offsets[i] = gap_start
        run.lengths[i] -= cut
        if not run.zeroed[i]:
            run.moffsets[i] += cut
    over = run.offsets[i] + run.lengths[i] - gap_end
    if over > 0:
        run.lengths[i] -= over


def _concatenate(runs: list[IndexColumns]) -> IndexColumns:
    """All runs in offset order; entries never overlap, so sorting by offset is enough.

    A deeper run can fill holes inside a shallower one, so runs interleave: they are
    joined, then reordered with one stable sort (cheap, since the input is sorted runs).
    """
    if len(runs) == 1:
        return runs[0]
    offsets, lengths, moffsets = array("Q"), array("Q"), array("Q")
    for run in runs:
        offsets.extend(run.offsets)
        lengths.extend(run.lengths)
        moffsets.extend(run.moffsets)
    zeroed = b"".join(run.zeroed for run in runs)
    tags = b"".join(run.tags for run in runs)
    order = sorted(range(len(offsets)), key=offsets.__getitem__)
    return IndexColumns(
        array("Q", map(offsets.__getitem__, order)),
        array("Q", map(lengths.__getitem__, order)),
        array("Q", map(moffsets.__getitem__, order)),
        bytes(map(zeroed.__getitem__, order)),
        bytes(map(tags.__getitem__, order)),
    )
