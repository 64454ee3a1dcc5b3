"""Merging layer indexes (§2.9): upstream's worked examples and a per-sector model."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaybd_py.lsmt.merge import merge_indexes
from overlaybd_py.lsmt.records import IndexColumns, Mapping

# Inputs and expected results of upstream's ``TEST(Index, merge)`` (lsmt/test/test.cpp),
# as (offset, length, moffset[, tag]) in sectors; index 0 is the top layer.
UPSTREAM_LAYERS = [
    [(5, 5, 0), (10, 10, 50), (100, 10, 20)],
    [(0, 1, 7), (2, 4, 5), (15, 10, 22), (30, 15, 89), (87, 50, 32), (150, 10, 84)],
    [(1, 3, 134), (8, 4, 873), (18, 72, 320), (100, 100, 4893), (1000, 1000, 39823)],
    [(23, 10, 0), (65, 10, 50), (89, 10, 20), (230, 43, 432), (1999, 31, 2393)],
]
# Upstream checks these through a combo index: the top layer carries tag ``n - 1`` and the
# lower layers ``0, 1, ...`` from the top down. ``_depth`` turns that into this library's
# tags (the depth: 0 = top).
UPSTREAM_MERGED = {
    2: [(0, 1, 7, 0), (2, 3, 5, 0), (5, 5, 0, 1), (10, 10, 50, 1), (20, 5, 27, 0),
        (30, 15, 89, 0), (87, 13, 32, 0), (100, 10, 20, 1), (110, 27, 55, 0), (150, 10, 84, 0)],
    3: [(0, 1, 7, 0), (1, 1, 134, 1), (2, 3, 5, 0), (5, 5, 0, 2), (10, 10, 50, 2),
        (20, 5, 27, 0), (25, 5, 327, 1), (30, 15, 89, 0), (45, 42, 347, 1), (87, 13, 32, 0),
        (100, 10, 20, 2), (110, 27, 55, 0), (137, 13, 4930, 1), (150, 10, 84, 0),
        (160, 40, 4953, 1), (1000, 1000, 39823, 1)],
    4: [(0, 1, 7, 0), (1, 1, 134, 1), (2, 3, 5, 0), (5, 5, 0, 3), (10, 10, 50, 3),
        (20, 5, 27, 0), (25, 5, 327, 1), (30, 15, 89, 0), (45, 42, 347, 1), (87, 13, 32, 0),
        (100, 10, 20, 3), (110, 27, 55, 0), (137, 13, 4930, 1), (150, 10, 84, 0),
        (160, 40, 4953, 1), (230, 43, 432, 2), (1000, 1000, 39823, 1), (2000, 30, 2394, 2)],
}  # fmt: skip


def _columns(entries: list[tuple[int, int, int]]) -> IndexColumns:
    return IndexColumns.from_mappings(Mapping(o, n, m) for o, n, m in entries)


def _depth(combo_tag: int, layers: int) -> int:
    return 0 if combo_tag == layers - 1 else combo_tag + 1


def test_upstream_merge_examples() -> None:
    for count, expected in UPSTREAM_MERGED.items():
        merged = merge_indexes([_columns(layer) for layer in UPSTREAM_LAYERS[:count]])
        want = [Mapping(o, n, m, False, _depth(t, count)) for o, n, m, t in expected]
        assert list(merged) == want, f"{count} layers"


def test_single_layer_merge_is_identity() -> None:
    layer = _columns(UPSTREAM_LAYERS[1])
    assert list(merge_indexes([layer])) == list(layer)


def test_zeroed_entries_hide_lower_data_and_keep_moffset_when_trimmed() -> None:
    top = IndexColumns.from_mappings([Mapping(10, 5, 99, zeroed=True)])
    middle = IndexColumns.from_mappings([Mapping(0, 30, 500, zeroed=True)])
    bottom = IndexColumns.from_mappings([Mapping(0, 100, 8)])
    assert list(merge_indexes([top, middle, bottom])) == [
        Mapping(0, 10, 500, True, 1),
        Mapping(10, 5, 99, True, 0),
        Mapping(15, 15, 500, True, 1),
        Mapping(30, 70, 30 + 8, False, 2),
    ]


SPACE = 160


@st.composite
def layer_indexes(draw: st.DrawFn) -> list[Mapping]:
    """Sorted non-overlapping mappings over a small device, some zeroed."""
    cuts = sorted(draw(st.sets(st.integers(0, SPACE), max_size=16)))
    entries = []
    for start, end in itertools.pairwise(cuts):
        if draw(st.booleans()):
            entries.append(
                Mapping(start, end - start, draw(st.integers(8, 10_000)), draw(st.booleans()))
            )
    return entries


def _per_sector(layers: list[list[Mapping]]) -> dict[int, tuple[int, bool, int]]:
    """The naive model: for each sector, the top-most layer mapping it wins."""
    model: dict[int, tuple[int, bool, int]] = {}
    for depth in reversed(range(len(layers))):
        for m in layers[depth]:
            for sector in range(m.offset, m.end):
                where = m.moffset if m.zeroed else m.moffset + sector - m.offset
                model[sector] = (depth, m.zeroed, where)
    return model


def _expand(merged: list[Mapping]) -> dict[int, tuple[int, bool, int]]:
    out: dict[int, tuple[int, bool, int]] = {}
    for m in merged:
        for sector in range(m.offset, m.end):
            out[sector] = (
                m.tag,
                m.zeroed,
                m.moffset if m.zeroed else m.moffset + sector - m.offset,
            )
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(layer_indexes(), min_size=1, max_size=6))
def test_merge_matches_per_sector_model(layers: list[list[Mapping]]) -> None:
    merged = list(merge_indexes([IndexColumns.from_mappings(layer) for layer in layers]))
    assert all(a.end <= b.offset for a, b in itertools.pairwise(merged))
    assert all(m.length > 0 for m in merged)
    assert _expand(merged) == _per_sector(layers)
    top = set(layers[0])
    assert top <= {m._replace(tag=0) for m in merged if m.tag == 0}  # top entries kept whole
