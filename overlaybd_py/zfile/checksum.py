"""The CRC32C variant of ZFile (spec §3.6).

Castagnoli polynomial without the usual pre- and post-inversion: the register
starts at the seed and is returned as is. A standard CRC-32C library computes
it once both inversions are undone around the call.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import partial

import crc32c as _crc32c

BLOCK_SEED = 100007
"""Seed of the per-block CRC over the compressed bytes."""

_INVERT = 0xFFFFFFFF


def crc32c_raw(data: bytes | bytearray | memoryview, seed: int = 0) -> int:
    """CRC32C of ``data`` starting from ``seed`` with no inversion (ZFile's variant)."""
    return _crc32c.crc32c(data, seed ^ _INVERT) ^ _INVERT


def block_crc(compressed: bytes | bytearray | memoryview) -> int:
    """The CRC stored after each compressed block."""
    return _crc32c.crc32c(compressed, BLOCK_SEED ^ _INVERT) ^ _INVERT


_inverted_block_crc = partial(_crc32c.crc32c, value=BLOCK_SEED ^ _INVERT)
_NOT = bytes(255 - b for b in range(256))
"""Byte table for bitwise NOT: XOR-ing a little-endian u32 with 0xFFFFFFFF inverts each byte."""


def block_crcs_packed(blocks: Sequence[bytes | memoryview]) -> bytes:
    """The little-endian CRCs of many blocks, 4 bytes each, computed without a Python loop.

    The library returns the inverted register; inverting the packed bytes with a
    translation table undoes that for the whole batch at once.
    """
    return struct.pack(f"<{len(blocks)}I", *map(_inverted_block_crc, blocks)).translate(_NOT)


def block_crcs(blocks: Sequence[bytes | memoryview]) -> list[bytes]:
    """The 4-byte little-endian CRC of each block."""
    packed = block_crcs_packed(blocks)
    return [packed[i : i + 4] for i in range(0, len(packed), 4)]
