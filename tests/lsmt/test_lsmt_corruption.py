"""Damaged layer files: each kind of damage gives its own one-line FormatError."""

from __future__ import annotations

import os
import struct

import pytest

from overlaybd_py.errors import FormatError
from overlaybd_py.io import BytesSource
from overlaybd_py.lsmt.reader import LayerFile
from overlaybd_py.lsmt.records import (
    HT_SPACE,
    RW_DATA_HEADER_FLAGS,
    HeaderTrailer,
    Mapping,
    encode_index,
)

from .conftest import fixture_path

L0 = fixture_path("lsmt/l0.commit").read_bytes()
TRAILER_AT = len(L0) - HT_SPACE
INDEX_AT = struct.unpack_from("<Q", L0, TRAILER_AT + 32)[0]


def open_bytes(data: bytes | bytearray) -> LayerFile:
    return LayerFile(BytesSource(bytes(data), name="damaged.commit"))


def with_entry(i: int, mapping: Mapping) -> bytearray:
    data = bytearray(L0)
    data[INDEX_AT + 16 * i : INDEX_AT + 16 * (i + 1)] = mapping.pack()
    return data


def entry(i: int) -> Mapping:
    return open_bytes(L0).mappings[i]


def expect_error(data: bytes | bytearray, *fragments: str) -> str:
    with pytest.raises(FormatError) as caught:
        open_bytes(data)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("damaged.commit: ")
    for fragment in fragments:
        assert fragment in message
    return message


def test_undamaged_file_opens() -> None:
    assert len(open_bytes(L0).mappings) == 5


def test_overlapping_mappings() -> None:
    damaged = with_entry(1, entry(1)._replace(offset=500))
    expect_error(damaged, "index entry 0 (offset 0, length 512", "overlaps", "index entry 1")


def test_unsorted_mappings() -> None:
    data = bytearray(L0)
    first, fourth = (
        bytes(data[INDEX_AT : INDEX_AT + 16]),
        bytes(data[INDEX_AT + 48 : INDEX_AT + 64]),
    )
    data[INDEX_AT : INDEX_AT + 16], data[INDEX_AT + 48 : INDEX_AT + 64] = fourth, first
    expect_error(data, "index entry 0 (offset 204800", "is not sorted before", "index entry 1")


def test_moffset_past_the_index() -> None:
    damaged = with_entry(3, entry(3)._replace(moffset=INDEX_AT // 512 - 10))
    expect_error(damaged, "index entry 3", f"outside the data area [8, {INDEX_AT // 512})")


def test_moffset_inside_the_header() -> None:
    damaged = with_entry(0, entry(0)._replace(moffset=2))
    expect_error(damaged, "index entry 0", "maps sectors [2, 514)")


def test_zeroed_moffset_past_the_index() -> None:
    damaged = with_entry(1, entry(1)._replace(moffset=INDEX_AT // 512 + 1))
    expect_error(damaged, "index entry 1", "zeroed", "outside the data area")


def test_bad_header_magic() -> None:
    data = bytearray(L0)
    data[0] ^= 0xFF
    expect_error(data, "LSMT header at offset 0", "expected LSMT magic")


def test_bad_trailer_magic() -> None:
    data = bytearray(L0)
    data[TRAILER_AT + 10] ^= 0x01
    expect_error(data, f"LSMT trailer at offset {TRAILER_AT}", "expected LSMT magic")


def test_truncated_below_header_and_trailer() -> None:
    expect_error(L0[:5000], "needs at least 8192 bytes", "found 5000")


def test_truncated_loses_the_trailer() -> None:
    cut = L0[:-100]
    expect_error(cut, f"LSMT trailer at offset {len(cut) - HT_SPACE}", "expected LSMT magic")


@pytest.mark.parametrize("flags", [0x07, 0x02, 0x04, 0x00])
def test_trailer_flags_wrong(flags: int) -> None:
    data = bytearray(L0)
    struct.pack_into("<I", data, TRAILER_AT + 28, flags)
    expect_error(data, f"LSMT trailer at offset {TRAILER_AT} has flags {flags:#x}")


def test_header_without_header_bit() -> None:
    data = bytearray(L0)
    struct.pack_into("<I", data, 28, 0x06)
    expect_error(data, "LSMT header at offset 0 has flags 0x6")


def test_index_past_eof() -> None:
    data = bytearray(L0)
    struct.pack_into("<Q", data, TRAILER_AT + 40, 100_000)
    expect_error(data, "index of 100000 entries", "lies outside the data area")


def test_index_offset_inside_header() -> None:
    data = bytearray(L0)
    struct.pack_into("<Q", data, TRAILER_AT + 32, 512)
    expect_error(data, "index of 256 entries at offset 512")


def test_index_over_the_entry_limit() -> None:
    data = bytearray(L0)
    struct.pack_into("<Q", data, TRAILER_AT + 40, 1_000_001)
    expect_error(data, "1000001 index entries", "read-only limit 1000000")


def test_data_past_a_truncated_source_is_an_error_not_zeros() -> None:
    """A source that returns fewer bytes than a mapping promises is reported on read."""

    class ShortSource(BytesSource):
        def pread(self, offset: int, length: int) -> bytes:
            data = super().pread(offset, length)
            return data[:-1] if 4096 <= offset < INDEX_AT else data

    layer = LayerFile(ShortSource(L0, name="short.commit"))
    with pytest.raises(FormatError, match=r"short.commit: merged entry 0 .* returned 4095"):
        layer.pread(0, 4096)


def test_sealed_file_with_uninitialised_padding_opens() -> None:
    """Sealed layout (§2.5): writable header 0x03, real count only, junk after the index."""
    layer = open_bytes(L0)
    real = layer.mappings
    data_end = INDEX_AT
    index = encode_index(real)
    junk = os.urandom(-(len(index)) % 512)
    trailer = HeaderTrailer(
        flags=0x06,
        index_offset=data_end,
        index_size=len(real),
        virtual_size=layer.virtual_size,
        uuid=layer.uuid,
    )
    header = HeaderTrailer(flags=RW_DATA_HEADER_FLAGS, virtual_size=layer.virtual_size)
    sealed = header.pack() + L0[HT_SPACE:data_end] + index + junk + trailer.pack()
    reopened = open_bytes(sealed)
    assert reopened.sealed and not layer.sealed
    assert reopened.mappings == real
    assert reopened.stats.padding == 0
    assert reopened.pread(0, 2 << 20) == layer.pread(0, 2 << 20)


def test_on_disk_tags_are_reset() -> None:
    damaged = with_entry(2, entry(2)._replace(tag=7))
    assert open_bytes(damaged).mappings[2].tag == 0


def test_invalid_entries_anywhere_are_dropped_and_errors_keep_disk_positions() -> None:
    data = with_entry(1, Mapping(offset=(1 << 50) - 1, length=0, moffset=0))
    assert [m.offset for m in open_bytes(data).mappings] == [0, 640, 204800, 2097024]
    data[INDEX_AT + 48 : INDEX_AT + 64] = entry(3)._replace(offset=1000).pack()
    expect_error(data, "index entry 2 (offset 640", "overlaps index entry 3 (offset 1000")
