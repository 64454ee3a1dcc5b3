"""ZFile compression and decompression against the raw codec calls on the same blocks."""

from __future__ import annotations

import io
import random

import lz4.block
import pytest
import zstandard

from overlaybd_py.io import BytesSource
from overlaybd_py.zfile import ZFileReader, ZFileWriter, compress_bytes

BLOCK = 4096
SIZE = 32 << 20


@pytest.fixture(scope="module")
def data() -> bytes:
    """Compressible but not trivial: text-like lines mixed with random runs."""
    rng = random.Random(1)
    words = [
        bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(2, 9)))
        for _ in range(2000)
    ]
    out = bytearray()
    while len(out) < SIZE:
        out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
        if rng.random() < 0.05:
            out += rng.randbytes(rng.randrange(64, 1024))
    return bytes(out[:SIZE])


def _blocks(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]


def _raw_compress(blocks: list[bytes], algorithm: str) -> int:
    if algorithm == "lz4":
        return sum(len(lz4.block.compress(b, store_size=False)) for b in blocks)
    c = zstandard.ZstdCompressor(level=3)
    return sum(len(c.compress(b)) for b in blocks)


class _Sink(io.RawIOBase):
    """Counts what it is given: the benchmark measures the ZFile work, not a disk."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        self.size += len(data)
        return len(data)


def _zfile_compress(data: bytes, algorithm: str, threads: int) -> int:
    out = _Sink()
    with ZFileWriter(out, algorithm=algorithm, threads=threads) as writer:  # type: ignore[arg-type]
        for i in range(0, len(data), 1 << 20):
            writer.write(data[i : i + (1 << 20)])
    return out.size


@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
def test_compress_baseline_raw_codec(benchmark, data, algorithm) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"compress-{algorithm}"
    benchmark.extra_info["bytes"] = len(data)
    blocks = _blocks(data)
    benchmark.pedantic(_raw_compress, args=(blocks, algorithm), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
def test_compress_zfile(benchmark, data, algorithm, threads) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"compress-{algorithm}"
    benchmark.name = f"zfile {algorithm} threads={threads}"
    benchmark.extra_info["bytes"] = len(data)
    benchmark.pedantic(_zfile_compress, args=(data, algorithm, threads), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
def test_decompress_baseline_raw_codec(benchmark, data, algorithm) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"decompress-{algorithm}"
    benchmark.extra_info["bytes"] = len(data)
    blocks = _blocks(data)
    if algorithm == "lz4":
        packed = [lz4.block.compress(b, store_size=False) for b in blocks]

        def run() -> int:
            return sum(len(lz4.block.decompress(p, uncompressed_size=BLOCK)) for p in packed)
    else:
        c, d = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
        packed = [c.compress(b) for b in blocks]

        def run() -> int:
            return sum(len(d.decompress(p, max_output_size=BLOCK)) for p in packed)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
def test_decompress_zfile(benchmark, data, algorithm) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = f"decompress-{algorithm}"
    benchmark.name = f"zfile {algorithm} pread 1 MiB"
    benchmark.extra_info["bytes"] = len(data)
    reader = ZFileReader(BytesSource(compress_bytes(data, algorithm=algorithm)))

    def run() -> int:
        return sum(len(reader.pread(i, 1 << 20)) for i in range(0, len(data), 1 << 20))

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


def test_open_jump_table_70000_entries(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "open"
    rng = random.Random(2)
    blob = compress_bytes(rng.randbytes(70_000 * BLOCK // 8) * 8)
    source = BytesSource(blob)
    reader = benchmark(ZFileReader, source)
    assert reader.num_blocks == 70_000


def test_open_baseline_read_table_bytes(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = "open"
    blob = bytes(70_000 * 4)
    benchmark(lambda: bytes(blob))
