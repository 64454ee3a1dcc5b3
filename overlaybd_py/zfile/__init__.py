"""ZFile: seekable block compression with per-block CRC (spec §3)."""

from __future__ import annotations

from .checksum import block_crc, crc32c_raw
from .reader import BlockProblem, ZFileReader
from .records import ALGORITHMS, BLOCK_SIZES, ZFileRecord, has_magic
from .writer import ZFileSummary, ZFileWriter, compress_bytes

__all__ = [
    "ALGORITHMS",
    "BLOCK_SIZES",
    "BlockProblem",
    "ZFileReader",
    "ZFileRecord",
    "ZFileSummary",
    "ZFileWriter",
    "block_crc",
    "compress_bytes",
    "crc32c_raw",
    "has_magic",
]
