"""Write-then-read round trips over every algorithm, block size and checksum choice."""

from __future__ import annotations

import io
import os
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaybd_py.io import BytesSource
from overlaybd_py.zfile import BLOCK_SIZES, ZFileReader, ZFileWriter, compress_bytes


def _sample(size: int, seed: int = 7) -> bytes:
    """Half compressible text, half random bytes, so both codec paths are exercised."""
    rng = random.Random(seed)
    text = b"".join(
        b"line %d of the sample %d\n" % (i, rng.randrange(100)) for i in range(size // 20 + 1)
    )
    noise = rng.randbytes(size)
    return bytes(
        a if (i // 3000) % 2 else b
        for i, (a, b) in enumerate(zip(text[:size], noise, strict=False))
    )


COMBOS = [(a, bs, c) for a in ("lz4", "zstd") for bs in BLOCK_SIZES for c in (True, False)]


@pytest.mark.parametrize(("algorithm", "block_size", "checksum"), COMBOS)
def test_round_trip_sizes(algorithm: str, block_size: int, checksum: bool) -> None:
    for size in (0, 1, block_size - 1, block_size, block_size + 1, 3 * 1024 * 1024 + 123):
        data = _sample(size)
        blob = compress_bytes(data, algorithm=algorithm, block_size=block_size, checksum=checksum)
        reader = ZFileReader(BytesSource(blob))
        assert reader.size == size
        assert reader.pread(0, size + 10) == data
        assert reader.verify() == []
        assert reader.info.verify is checksum
        if size > 2:
            mid = size // 2
            assert reader.pread(mid - 1, 3) == data[mid - 1 : mid + 2]


@pytest.mark.parametrize("overwrite", [True, False])
def test_header_overwrite_flag(overwrite: bool) -> None:
    blob = compress_bytes(b"x" * 10000, overwrite_header=overwrite)
    reader = ZFileReader(BytesSource(blob))
    assert reader.header.header_overwritten is overwrite
    assert (reader.trailer is None) is overwrite
    assert reader.header.flags == (0x1B if overwrite else 0x13)


def test_unseekable_output_keeps_provisional_header() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b):  # type: ignore[no-untyped-def]
            self.data += b
            return len(b)

    pipe = Pipe()
    with ZFileWriter(pipe) as writer:  # type: ignore[arg-type]
        writer.write(b"abc" * 5000)
    reader = ZFileReader(BytesSource(bytes(pipe.data)))
    assert reader.header.flags == 0x13
    assert reader.pread(0, 15000) == b"abc" * 5000


@pytest.mark.parametrize("size", [0, 4096, 8 << 20, 9 * 1024 * 1024 + 17])
@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
def test_threads_give_the_same_bytes(algorithm: str, size: int) -> None:
    data = _sample(size, seed=3)
    serial = compress_bytes(data, algorithm=algorithm)
    for threads in (2, 3):
        threaded = io.BytesIO()
        with ZFileWriter(threaded, algorithm=algorithm, threads=threads) as writer:
            for i in range(0, len(data), 777_777):
                writer.write(data[i : i + 777_777])
        assert threaded.getvalue() == serial, threads


def test_a_failed_block_stops_the_threads_and_raises() -> None:
    class Refusing(io.BytesIO):
        def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
            if self.tell() > 1 << 20:
                raise OSError(28, "No space left on device")
            return super().write(data)

    with (
        pytest.raises(OSError, match="No space left"),
        ZFileWriter(Refusing(), algorithm="zstd", threads=2) as writer,
    ):
        for _ in range(12):
            writer.write(_sample(1 << 20, seed=4))
    assert not [t for t in threading.enumerate() if t.name.startswith("zfile")]


def test_streaming_writes_in_odd_pieces_equal_one_write() -> None:
    data = os.urandom(100_000)
    whole = compress_bytes(data, block_size=8192)
    pieces = io.BytesIO()
    with ZFileWriter(pieces, block_size=8192) as writer:
        for i in range(0, len(data), 999):
            writer.write(data[i : i + 999])
    assert pieces.getvalue() == whole


def test_bad_options_are_refused() -> None:
    with pytest.raises(Exception, match="block size must be one of"):
        ZFileWriter(io.BytesIO(), block_size=3000)
    with pytest.raises(Exception, match="algorithm must be one of"):
        ZFileWriter(io.BytesIO(), algorithm="gzip")


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=40_000),
    algorithm=st.sampled_from(["lz4", "zstd"]),
    block_size=st.sampled_from([4096, 8192, 16384]),
    checksum=st.booleans(),
    reads=st.lists(st.tuples(st.integers(0, 45_000), st.integers(0, 20_000)), max_size=8),
)
def test_any_range_reads_back(
    data: bytes, algorithm: str, block_size: int, checksum: bool, reads: list[tuple[int, int]]
) -> None:
    reader = ZFileReader(
        BytesSource(
            compress_bytes(data, algorithm=algorithm, block_size=block_size, checksum=checksum)
        )
    )
    for offset, length in reads:
        assert reader.pread(offset, length) == data[offset : offset + length]
