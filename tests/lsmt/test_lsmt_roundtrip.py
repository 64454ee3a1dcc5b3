"""Writer to reader round trips, the write log's override rule and the commit's index shape."""

from __future__ import annotations

import io
import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.errors import FormatError
from overlaybd_py.io import BytesSource
from overlaybd_py.lsmt.reader import LayerFile
from overlaybd_py.lsmt.records import (
    NULL_UUID,
    HeaderTrailer,
    Mapping,
    decode_index,
    encode_index,
    normalize_uuid,
)
from overlaybd_py.lsmt.stack import LayerStack
from overlaybd_py.lsmt.writable import AppendLayer, WritableIndex
from overlaybd_py.lsmt.writer import (
    SourceSegment,
    commit_device,
    segments_from_extents,
    write_commit,
)

SECTOR = 512


def test_header_record_round_trip_and_layout() -> None:
    record = HeaderTrailer(
        flags=0x06,
        index_offset=1 << 40,
        index_size=768,
        virtual_size=64 << 30,
        uuid="01BB4FCE-3EB1-B56B-05AD-F99504DAFD31",
        parent_uuid=NULL_UUID,
        user_tag=b"x" * 256,
    )
    block = record.pack()
    assert len(block) == 4096 and block[390:] == bytes(3706)
    assert block[24:28] == (390).to_bytes(4, "little")
    assert block[132:134] == b"\x01\x01"
    assert HeaderTrailer.unpack(block, "t") == record


def test_uuid_normalisation() -> None:
    assert normalize_uuid("fd132d1e-f522-5b05-90a0-1403477665cb") == (
        "FD132D1E-F522-5B05-90A0-1403477665CB"
    )
    assert normalize_uuid("not a uuid") == NULL_UUID
    assert normalize_uuid(None) == NULL_UUID


def test_mapping_bit_layout() -> None:
    m = Mapping(offset=(1 << 50) - 2, length=16383, moffset=(1 << 55) - 1, zeroed=True, tag=255)
    raw = m.pack()
    lo, hi = int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")
    assert lo == ((1 << 50) - 2) | (16383 << 50)
    assert hi == ((1 << 55) - 1) | (1 << 55) | (255 << 56)
    assert list(decode_index(raw + encode_index([Mapping(3, 4, 5)]))) == [m, Mapping(3, 4, 5)]
    padded = encode_index([m], pad_to=256)
    assert padded == raw + bytes.fromhex("ffffffffffff0300" + "00" * 8) * 255
    assert encode_index([], pad_to=256) == b""  # 4096 * ceil(0 / 256) bytes (§2.8)


def test_write_log_override_rule_matches_upstream_example() -> None:
    """The inserts and result of upstream's ``TEST(Index0, insert)``."""
    index = WritableIndex()
    for o, n, m in [(0, 20, 0), (10, 15, 50), (30, 100, 20), (5, 10, 3), (40, 10, 123),
                    (200, 10, 2133), (150, 100, 21)]:  # fmt: skip
        index.insert(Mapping(o, n, m))
    assert [tuple(m)[:3] for m in index] == [
        (0, 5, 0), (5, 10, 3), (15, 10, 55), (30, 10, 20), (40, 10, 123), (50, 80, 40),
        (150, 100, 21),
    ]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.integers(1, 60), st.integers(8, 5000), st.booleans()),
        max_size=25,
    )
)
def test_write_log_matches_per_sector_model(inserts: list[tuple[int, int, int, bool]]) -> None:
    index = WritableIndex()
    model: dict[int, tuple[bool, int]] = {}
    for o, n, m, z in inserts:
        index.insert(Mapping(o, n, m, z))
        for s in range(o, o + n):
            model[s] = (z, m if z else m + s - o)
    entries = list(index)
    assert all(a.end <= b.offset for a, b in itertools.pairwise(entries))
    seen = {
        s: (e.zeroed, e.moffset if e.zeroed else e.moffset + s - e.offset)
        for e in entries
        for s in range(e.offset, e.end)
    }
    assert seen == model


def _commit_segments(segments: list[SourceSegment], device: bytes) -> tuple[LayerFile, bytes]:
    out = io.BytesIO()
    info = write_commit(
        out,
        segments,
        lambda offset, length: device[offset : offset + length],
        virtual_size=len(device),
        uuid="12345678-9abc-def0-1234-56789abcdef0",
        parent_uuid="garbage",
        user_tag=b"round trip",
    )
    data = out.getvalue()
    assert len(data) == info.size
    return LayerFile(BytesSource(data)), data


def test_long_runs_are_cut_by_the_merge_rule() -> None:
    """One 20000-sector extent: source 16383 + 3617, chunk entries folded while < 16383."""
    device = random.Random(1).randbytes(20000 * SECTOR)
    segments = list(segments_from_extents([(0, len(device))]))
    assert [(s.offset, s.length) for s in segments] == [(0, 16383), (16383, 3617)]
    layer, _ = _commit_segments(segments, device)
    assert layer.mappings == [Mapping(0, 16320, 8), Mapping(16320, 3680, 8 + 16320)]
    assert layer.pread(0, len(device)) == device
    assert (layer.uuid, layer.parent_uuid, layer.user_tag) == (
        "12345678-9ABC-DEF0-1234-56789ABCDEF0",
        NULL_UUID,
        b"round trip",
    )


def test_adjacent_zeroed_segments_fold() -> None:
    device = bytes(40 * SECTOR)
    segments = [SourceSegment(0, 10, True), SourceSegment(10, 10, True), SourceSegment(20, 4)]
    layer, _ = _commit_segments(segments, device)
    assert layer.mappings == [Mapping(0, 20, 8, zeroed=True), Mapping(20, 4, 8)]


def test_unsorted_segments_are_refused() -> None:
    with pytest.raises(ValueError, match="not sorted"):
        _commit_segments([SourceSegment(10, 4), SourceSegment(12, 4)], bytes(40 * SECTOR))


@st.composite
def source_segments(draw: st.DrawFn) -> list[SourceSegment]:
    cuts = sorted(draw(st.sets(st.integers(0, 600), max_size=14)))
    return [
        SourceSegment(a, b - a, draw(st.booleans()))
        for a, b in itertools.pairwise(cuts)
        if draw(st.booleans())
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source_segments(), st.integers(0, 2**32))
def test_commit_round_trip(segments: list[SourceSegment], seed: int) -> None:
    device = random.Random(seed).randbytes(600 * SECTOR)
    layer, data = _commit_segments(segments, device)
    expected = bytearray(len(device))
    for s in segments:
        if not s.zeroed:
            expected[s.offset * SECTOR : s.end * SECTOR] = device[
                s.offset * SECTOR : s.end * SECTOR
            ]
    assert layer.pread(0, len(device)) == expected
    covered = {x for s in segments for x in range(s.offset, s.end)}
    assert {x for m in layer.mappings for x in range(m.offset, m.end)} == covered
    data_sectors = sum(s.length for s in segments if not s.zeroed)
    entries = layer.stats.entries
    assert entries % 256 == 0 and entries - 256 < layer.stats.real <= entries
    assert len(data) == 4096 + data_sectors * SECTOR + entries * 16 + 4096
    assert all(m.length < 16383 for m in layer.mappings)


@st.composite
def layer_writes(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    ops = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["w", "w", "p"]))
        start = draw(st.integers(0, 250))
        ops.append((kind, start, draw(st.integers(1, 256 - start))))
    return ops


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer_writes(), min_size=1, max_size=4), st.integers(0, 2**32))
def test_stack_of_committed_layers_matches_naive_device(
    layers_ops: list[list[tuple[str, int, int]]], seed: int
) -> None:
    """Append-mode layers committed and stacked read like a bytearray given the same writes."""
    rnd = random.Random(seed)
    size = 256 * SECTOR
    model = bytearray(size)
    layers = []
    for ops in layers_ops:
        alone = bytearray(size)
        with AppendLayer(size) as writable:
            for kind, start, count in ops:
                at, length = start * SECTOR, count * SECTOR
                payload = rnd.randbytes(length) if kind == "w" else bytes(length)
                if kind == "w":
                    writable.write(at, payload)
                else:
                    writable.discard(at, length)
                model[at : at + length] = payload
                alone[at : at + length] = payload
            at = rnd.randrange(size)
            assert writable.pread(at, 5000) == alone[at : at + 5000]
            assert writable.pread(0, size) == alone
            out = io.BytesIO()
            writable.commit(out, uuid=None)
        layers.append(LayerFile(BytesSource(out.getvalue())))
    stack = LayerStack(layers)
    assert stack.size == size
    assert stack.pread(0, size) == model
    for _ in range(20):
        at = rnd.randrange(size)
        length = rnd.randrange(1, 9000)
        assert stack.pread(at, length) == model[at : at + length]
    extents = list(stack.data_extents())
    for a, b in itertools.pairwise(extents):
        assert a[0] + a[1] < b[0]
    for offset, length in extents:
        assert offset + length <= size


def test_commit_device_writes_the_upper_only() -> None:
    size = 64 << 20
    lower = LayerFile(BytesSource(_commit_segments([SourceSegment(0, 64)], bytes(size))[1]))
    with OverlayDevice(lower, size) as device:
        device.pwrite(4096, b"A" * 10000)
        device.pwrite(40 << 20, random.Random(5).randbytes(9 << 20))
        out = io.BytesIO()
        info = commit_device(device, out, uuid="fd132d1e-f522-5b05-90a0-1403477665cb",
                             parent_uuid=None, user_tag=b"upper")  # fmt: skip
        layer = LayerFile(BytesSource(out.getvalue()))
        assert layer.virtual_size == size
        assert layer.uuid == "FD132D1E-F522-5B05-90A0-1403477665CB"
        assert info.data_sectors * SECTOR == sum(n for _, n in device.written_extents())
        stack = LayerStack([lower, layer])
        for at, n in [(0, 1 << 20), (40 << 20, 9 << 20), (4000, 12000)]:
            assert stack.pread(at, n) == device.pread(at, n)
        assert [(m.offset, m.length) for m in layer.mappings][:1] == [(8, 20)]


def test_append_layer_rejects_unaligned_and_oversized_writes() -> None:
    with AppendLayer(1 << 20) as writable:
        with pytest.raises(FormatError, match="multiples of 512"):
            writable.write(100, b"x" * 512)
        with pytest.raises(FormatError, match="runs past the device end"):
            writable.write(1 << 20, b"x" * 512)


def test_append_layer_splits_writes_over_4_mib() -> None:
    data = random.Random(3).randbytes(9 << 20)
    with AppendLayer(16 << 20) as writable:
        writable.write(0, data)
        assert [(m.offset, m.length, m.moffset) for m in writable.index] == [
            (0, 8192, 8), (8192, 8192, 8200), (16384, 2048, 16392),
        ]  # fmt: skip
        assert writable.pread(0, len(data)) == data
