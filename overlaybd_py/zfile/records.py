"""ZFile header and trailer: one 512-byte record declared once (spec §3.2, §3.3)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from ..errors import ChecksumError, FormatError
from .checksum import crc32c_raw

MAGIC0 = b"ZFile\x00\x01\x00"
MAGIC1 = b"tuji.yyf@Alibaba"
RECORD_SIZE = 512
STRUCT_SIZE = 96
DIGEST_OFFSET = 28

FLAG_HEADER = 1 << 0
FLAG_DATA = 1 << 1
FLAG_SEALED = 1 << 2
FLAG_HEADER_OVERWRITTEN = 1 << 3
FLAG_DIGEST = 1 << 4
KNOWN_FLAGS = 0x1F
"""Readers look only at bits 0-4: the legacy base layer has junk in the others (§3.3)."""

ALGO_LZ4 = 1
ALGO_ZSTD = 2
ALGORITHMS = {"lz4": ALGO_LZ4, "zstd": ALGO_ZSTD}
ALGORITHM_NAMES = {v: k for k, v in ALGORITHMS.items()}

BLOCK_SIZES = (4096, 8192, 16384, 32768, 65536)
MAX_BLOCK_SIZE = 65536

_LAYOUT = struct.Struct("<8s16sIIQQQQIIIBBBBIIB7x")
assert _LAYOUT.size == STRUCT_SIZE


@dataclass(frozen=True)
class ZFileRecord:
    """The fields shared by the header (flag bit 0 set) and the trailer."""

    flags: int
    index_offset: int = 0
    index_size: int = 0
    original_file_size: int = 0
    index_crc: int = 0
    block_size: int = 4096
    algorithm: int = ALGO_LZ4
    level: int = 0
    verify: bool = True
    dict_size: int = 0
    digest: int = 0

    @property
    def is_header(self) -> bool:
        return bool(self.flags & FLAG_HEADER)

    @property
    def header_overwritten(self) -> bool:
        return bool(self.flags & FLAG_HEADER_OVERWRITTEN)

    @property
    def has_digest(self) -> bool:
        return bool(self.flags & FLAG_DIGEST)

    @property
    def algorithm_name(self) -> str:
        return ALGORITHM_NAMES.get(self.algorithm, f"unknown({self.algorithm})")

    def pack(self) -> bytes:
        """The 512-byte record; the digest is computed when flag bit 4 is set."""
        body = _LAYOUT.pack(
            MAGIC0,
            MAGIC1,
            STRUCT_SIZE,
            0,
            self.flags,
            self.index_offset,
            self.index_size,
            self.original_file_size,
            self.index_crc,
            0,
            self.block_size,
            self.algorithm,
            self.level,
            0,
            0,
            0,
            self.dict_size,
            int(self.verify),
        )
        record = bytearray(body.ljust(RECORD_SIZE, b"\0"))
        if self.has_digest:
            struct.pack_into("<I", record, DIGEST_OFFSET, crc32c_raw(record))
        return bytes(record)

    def with_fields(self, **changes: int | bool) -> ZFileRecord:
        return replace(self, **changes)  # type: ignore[arg-type]


def has_magic(data: bytes) -> bool:
    """True when ``data`` starts with both ZFile magics."""
    return data[:8] == MAGIC0 and data[8:24] == MAGIC1


def unpack(data: bytes, where: str, *, check_digest: bool = False) -> ZFileRecord:
    """Parse a 512-byte record found at ``where`` (used in error messages)."""
    if len(data) < RECORD_SIZE:
        raise FormatError(f"{where}: ZFile record needs {RECORD_SIZE} bytes, found {len(data)}")
    if not has_magic(data):
        raise FormatError(
            f"{where}: not a ZFile (expected the magic bytes {(MAGIC0 + MAGIC1).hex()}, "
            f"found {data[:24].hex()})"
        )
    (
        _,
        _,
        _,
        digest,
        flags,
        index_offset,
        index_size,
        original_size,
        index_crc,
        _,
        block_size,
        algorithm,
        level,
        _,
        _,
        _,
        dict_size,
        verify,
    ) = _LAYOUT.unpack_from(data)
    record = ZFileRecord(
        flags=flags & KNOWN_FLAGS,
        index_offset=index_offset,
        index_size=index_size,
        original_file_size=original_size,
        index_crc=index_crc,
        block_size=block_size,
        algorithm=algorithm,
        level=level,
        verify=bool(verify),
        dict_size=dict_size,
        digest=digest,
    )
    if check_digest and record.has_digest:
        zeroed = bytearray(data[:RECORD_SIZE])
        zeroed[DIGEST_OFFSET : DIGEST_OFFSET + 4] = bytes(4)
        actual = crc32c_raw(zeroed)
        if actual != digest:
            raise ChecksumError(
                f"{where}: ZFile record digest expected {digest:#010x}, computed {actual:#010x}"
            )
    return record
