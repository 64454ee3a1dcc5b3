"""Block codecs: raw LZ4 blocks and one zstd frame per block (spec §3.4).

python-lz4 and python-zstandard release the GIL while they work, which is what
lets the writer compress on several threads. zstandard objects are not
thread-safe, so each thread keeps its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import lz4.block
import zstandard

from ..errors import UnsupportedError
from .records import ALGO_LZ4, ALGO_ZSTD

ZSTD_LEVEL = 3
"""Upstream always compresses zstd blocks at level 3, whatever the header says."""

Compress = Callable[[bytes | memoryview], bytes]
Decompress = Callable[..., bytes]
"""``decompress(data, capacity)``: at most ``capacity`` bytes out."""

_local = threading.local()


_lz4_compress: Compress = partial(lz4.block.compress, mode="default", store_size=False)


def _lz4_decompress(data: bytes | memoryview, capacity: int) -> bytes:
    return lz4.block.decompress(data, uncompressed_size=capacity)


def _zstd_compress(data: bytes | memoryview) -> bytes:
    compressor = getattr(_local, "zstd_c", None)
    if compressor is None:
        compressor = _local.zstd_c = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return compressor.compress(data)


def _zstd_decompress(data: bytes | memoryview, capacity: int) -> bytes:
    decompressor = getattr(_local, "zstd_d", None)
    if decompressor is None:
        decompressor = _local.zstd_d = zstandard.ZstdDecompressor()
    return decompressor.decompress(data, max_output_size=capacity)


_CODECS: dict[int, tuple[Compress, Decompress, type[Exception]]] = {
    ALGO_LZ4: (_lz4_compress, _lz4_decompress, lz4.block.LZ4BlockError),
    ALGO_ZSTD: (_zstd_compress, _zstd_decompress, zstandard.ZstdError),
}


def compressor(algorithm: int) -> Compress:
    return _codec(algorithm)[0]


def decompressor(algorithm: int, capacity: int) -> tuple[Callable[..., bytes], type[Exception]]:
    """``decompress(block)`` giving at most ``capacity`` bytes, and the exception it raises
    on corrupt input. For LZ4 it is the library call itself: no Python frame per block."""
    _, decompress, error = _codec(algorithm)
    if algorithm == ALGO_LZ4:
        return partial(lz4.block.decompress, uncompressed_size=capacity), error
    return partial(decompress, capacity=capacity), error


def _codec(algorithm: int) -> tuple[Compress, Decompress, type[Exception]]:
    try:
        return _CODECS[algorithm]
    except KeyError:
        raise UnsupportedError(
            f"ZFile algorithm {algorithm} is not supported (expected 1 = lz4 or 2 = zstd)"
        ) from None
