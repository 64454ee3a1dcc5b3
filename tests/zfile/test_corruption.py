"""Damaged ZFiles fail with their own specific error, never with wrong data."""

from __future__ import annotations

import struct

import pytest

from overlaybd_py.errors import ChecksumError, FormatError, UnsupportedError
from overlaybd_py.io import BytesSource
from overlaybd_py.zfile import ZFileReader, compress_bytes, crc32c_raw
from overlaybd_py.zfile.records import DIGEST_OFFSET, RECORD_SIZE

DATA = bytes(range(256)) * 200 + b"tail"


def _blob(**options: object) -> bytearray:
    return bytearray(compress_bytes(DATA, **options))  # type: ignore[arg-type]


def _edit_record(blob: bytearray, at: int, offset: int, fmt: str, value: int) -> None:
    """Change one field of the record at ``at`` and re-sign it, so only that field is wrong."""
    struct.pack_into(fmt, blob, at + offset, value)
    struct.pack_into("<I", blob, at + DIGEST_OFFSET, 0)
    digest = crc32c_raw(bytes(blob[at : at + RECORD_SIZE]))
    struct.pack_into("<I", blob, at + DIGEST_OFFSET, digest)


def test_flipped_byte_in_a_block_is_a_checksum_error() -> None:
    blob = _blob()
    blob[RECORD_SIZE + 3] ^= 0x40
    reader = ZFileReader(BytesSource(bytes(blob)))
    with pytest.raises(ChecksumError, match=r"block 0 at offset 512 CRC expected"):
        reader.pread(0, 100)
    problems = reader.verify()
    assert [p.block for p in problems] == [0]


def test_flipped_byte_without_crc_is_caught_by_the_codec_or_size() -> None:
    blob = _blob(checksum=False)
    blob[RECORD_SIZE] ^= 0xFF
    reader = ZFileReader(BytesSource(bytes(blob)))
    with pytest.raises(FormatError, match="block 0"):
        reader.pread(0, 4096)


def test_bad_magic() -> None:
    blob = _blob()
    blob[0:5] = b"ZFilf"
    with pytest.raises(FormatError, match="not a ZFile \\(expected the magic bytes"):
        ZFileReader(BytesSource(bytes(blob)))


def test_header_digest_mismatch() -> None:
    blob = _blob()
    blob[80] = 1
    with pytest.raises(ChecksumError, match="record digest expected"):
        ZFileReader(BytesSource(bytes(blob)))


def test_truncated_file() -> None:
    blob = _blob(overwrite_header=False)
    with pytest.raises(FormatError, match="not a ZFile|trailer"):
        ZFileReader(BytesSource(bytes(blob[:-100])))
    with pytest.raises(FormatError, match="needs 512 bytes, found 100"):
        ZFileReader(BytesSource(bytes(blob[:100])))


def test_truncated_overwritten_file_loses_its_jump_table() -> None:
    blob = _blob()
    with pytest.raises(FormatError, match="jump table"):
        ZFileReader(BytesSource(bytes(blob[: RECORD_SIZE + 200])))


def test_jump_table_past_eof() -> None:
    blob = _blob(overwrite_header=False)
    trailer = len(blob) - RECORD_SIZE
    struct.pack_into("<Q", blob, trailer + 40, len(blob) + 4096)
    with pytest.raises(FormatError, match="jump table .* runs outside"):
        ZFileReader(BytesSource(bytes(blob)))


def test_jump_table_entry_overruns_the_blocks() -> None:
    blob = _blob(overwrite_header=False)
    reader = ZFileReader(BytesSource(bytes(blob)))
    table = reader.info.index_offset
    struct.pack_into("<I", blob, table, 100_000)
    table_crc = crc32c_raw(bytes(blob[table : table + 4 * reader.num_blocks]))
    _edit_record(blob, len(blob) - RECORD_SIZE, 64, "<I", table_crc)
    with pytest.raises(FormatError, match="blocks end at offset"):
        ZFileReader(BytesSource(bytes(blob)))


def test_jump_table_crc_mismatch() -> None:
    blob = _blob()
    reader = ZFileReader(BytesSource(bytes(blob)))
    blob[reader.info.index_offset] ^= 1
    with pytest.raises(ChecksumError, match="jump table at offset .* CRC expected"):
        ZFileReader(BytesSource(bytes(blob)))


def test_impossible_sizes() -> None:
    blob = _blob(overwrite_header=False)
    _edit_record(blob, len(blob) - RECORD_SIZE, 56, "<Q", 10**12)
    with pytest.raises(FormatError, match="jump table has .* entries, expected"):
        ZFileReader(BytesSource(bytes(blob)))


def test_unknown_algorithm() -> None:
    blob = _blob(overwrite_header=False)
    for at in (0, len(blob) - RECORD_SIZE):
        _edit_record(blob, at, 76, "<B", 9)
    with pytest.raises(UnsupportedError, match="algorithm 9"):
        ZFileReader(BytesSource(bytes(blob)))


def test_a_missing_trailer_is_reported_to_validators_only() -> None:
    """With flag bit 3 the header holds the final fields, so readers (upstream's too)
    never read the trailer; ``trailer_problem`` still says it is gone."""
    blob = bytes(_blob())[:-RECORD_SIZE]
    reader = ZFileReader(BytesSource(blob))
    assert reader.pread(0, len(DATA)) == DATA
    problem = reader.trailer_problem()
    assert problem is not None and problem.endswith(
        f"after the jump table at offset {len(blob)}, found 0 bytes"
    )
    assert ZFileReader(BytesSource(bytes(_blob()))).trailer_problem() is None
