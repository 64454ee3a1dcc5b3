"""Random 4 KiB reads through a 3-layer LSMT stack, against raw ``os.pread`` in the same run.

Three layers of a 1 GiB device, each with a few thousand mappings of 4 to 64 KiB, are
committed plain and as lz4 and zstd ZFiles. Every read lands on mapped data, so each one
costs a lookup, a read of the layer file and (compressed) one block decompression.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from overlaybd_py.io import FileSource
from overlaybd_py.lsmt.reader import LayerFile
from overlaybd_py.lsmt.stack import LayerStack
from overlaybd_py.lsmt.writer import SourceSegment, write_commit
from overlaybd_py.zfile import ZFileReader, ZFileWriter

DEVICE = 1 << 30
SEGMENTS_PER_LAYER = 3000
READS = 20_000
READ_SIZE = 4096
INDEX_ENTRIES = 70_000


def _layer_segments(rng: random.Random) -> list[SourceSegment]:
    """Non-overlapping 4 KiB-aligned segments of 8 to 128 sectors scattered over the device."""
    starts = sorted(rng.sample(range(0, DEVICE // 65536), SEGMENTS_PER_LAYER))
    return [SourceSegment(s * 128, rng.choice((8, 16, 32, 64, 128))) for s in starts]


def _text_like(rng: random.Random, size: int) -> bytes:
    """Compressible data (about 2:1 with lz4), so decompression does real work."""
    words = [rng.randbytes(rng.randrange(3, 9)).hex().encode() for _ in range(512)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=64)) + b"\n"
    return bytes(out[:size])


def _write_layer(path: Path, segments: list[SourceSegment], seed: int, codec: str | None) -> None:
    pool = _text_like(random.Random(seed), 4 << 20)

    def read(offset: int, length: int) -> bytes:
        start = offset % (len(pool) - length)
        return pool[start : start + length]

    with open(path, "wb") as out:
        if codec is None:
            write_commit(out, segments, read, virtual_size=DEVICE, uuid=None)
            return
        with ZFileWriter(out, algorithm=codec, block_size=4096) as zfile:
            write_commit(zfile, segments, read, virtual_size=DEVICE, uuid=None)


@pytest.fixture(scope="module")
def layer_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("lsmt-bench")
    rng = random.Random(7)
    segments = [_layer_segments(rng) for _ in range(3)]
    paths: dict[str, list[Path]] = {}
    for codec in (None, "lz4", "zstd"):
        name = codec or "plain"
        paths[name] = []
        for k, layer_segments in enumerate(segments):
            path = root / f"l{k}.{name}"
            _write_layer(path, layer_segments, seed=k, codec=codec)
            paths[name].append(path)
    return paths


def _open_stack(paths: list[Path], compressed: bool) -> LayerStack:
    layers = []
    for path in paths:
        source = FileSource(path)
        layers.append(LayerFile(ZFileReader(source) if compressed else source))
    return LayerStack(layers)


def _read_offsets(stack: LayerStack) -> list[int]:
    """Random 4 KiB-aligned offsets inside merged data extents."""
    rng = random.Random(11)
    extents = list(stack.data_extents())
    offsets = []
    for _ in range(READS):
        offset, length = rng.choice(extents)
        offsets.append(offset + rng.randrange(length // READ_SIZE) * READ_SIZE)
    return offsets


@pytest.mark.benchmark(group="lsmt-random-4k-pread")
def test_baseline_os_pread(benchmark: BenchmarkFixture, layer_paths: dict[str, list[Path]]) -> None:
    """Raw ``os.pread`` of 4 KiB at the same number of random offsets of one layer file."""
    path = layer_paths["plain"][0]
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    rng = random.Random(11)
    offsets = [rng.randrange(size // READ_SIZE) * READ_SIZE for _ in range(READS)]

    def run() -> None:
        for offset in offsets:
            os.pread(fd, READ_SIZE, offset)

    benchmark.extra_info["ops"] = READS
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    os.close(fd)


@pytest.mark.parametrize("variant", ["plain", "lz4", "zstd"])
@pytest.mark.benchmark(group="lsmt-random-4k-pread")
def test_stack_pread(
    benchmark: BenchmarkFixture, layer_paths: dict[str, list[Path]], variant: str
) -> None:
    """4 KiB ``LayerStack.pread`` at random mapped offsets of a 3-layer stack."""
    stack = _open_stack(layer_paths[variant], compressed=variant != "plain")
    offsets = _read_offsets(stack)
    pread = stack.pread
    expected = _open_stack(layer_paths["plain"], compressed=False)
    assert all(pread(o, READ_SIZE) == expected.pread(o, READ_SIZE) for o in offsets[:200])

    def run() -> None:
        for offset in offsets:
            pread(offset, READ_SIZE)

    benchmark.extra_info["ops"] = READS
    benchmark.extra_info["merged_entries"] = len(stack)
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


@pytest.fixture(scope="module")
def big_index_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain layer whose index holds 70,000 one-sector mappings (2 sectors apart)."""
    path = tmp_path_factory.mktemp("lsmt-open") / "big.commit"
    segments = [SourceSegment(2 * i, 1) for i in range(INDEX_ENTRIES)]
    _write_layer(path, segments, seed=3, codec=None)
    return path


@pytest.mark.benchmark(group="lsmt-open-70k-entries")
def test_baseline_open_struct_iter_unpack(
    benchmark: BenchmarkFixture, big_index_layer: Path
) -> None:
    """Reading the same index bytes and splitting them with ``struct.iter_unpack`` only."""
    source = FileSource(big_index_layer)
    offset, count = struct.unpack_from("<QQ", source.pread(source.size - 4096 + 32, 16))

    def run() -> list[tuple[int, int]]:
        return list(struct.iter_unpack("<QQ", source.pread(offset, count * 16)))

    assert len(benchmark(run)) == count


@pytest.mark.benchmark(group="lsmt-open-70k-entries")
def test_open_layer(benchmark: BenchmarkFixture, big_index_layer: Path) -> None:
    """``LayerFile``: read, decode and validate the whole 70,000-entry index."""
    source = FileSource(big_index_layer)
    layer = benchmark(LayerFile, source)
    assert layer.stats.real == INDEX_ENTRIES
