"""Lazy reads from a real registry: content, bytes fetched, coalescing, readahead, threads."""

from __future__ import annotations

import random
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from overlaybd_py.errors import ImageError
from overlaybd_py.lazy import LazyOptions, open_image
from overlaybd_py.lazy.chunks import DEFAULT_CHUNK_SIZE
from tests.conftest import HELLO_LAYOUT

from .conftest import CONVERTED_TAG, Layouts, Pushed
from .images import SMALL_FILE, SMALL_TEXT


def test_files_read_lazily_equal_the_source_layers(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    with open_image(pushed.converted, options=options) as image:
        fs = image.filesystem()
        for path, content in files.items():
            assert fs.read_file(path) == content, path
        assert fs.readlink("/bin") == "usr/bin"
        assert stat.S_ISLNK(fs.stat("/bin").st_mode)
        assert fs.listdir("/") == ["bin", "etc", "lost+found", "opt", "usr"]
        assert fs.stat("/usr/bin/app").st_mode & 0o777 == 0o755
        assert image.stats.requests > 0


def test_bare_reference_reads_like_the_layout(
    pushed: Pushed, options: LazyOptions, layouts: Layouts
) -> None:
    bare = pushed.converted.removeprefix("docker://")
    with (
        open_image(bare, options=options) as remote,
        open_image(f"oci:{layouts.converted}:{CONVERTED_TAG}") as local,
    ):
        assert remote.device.size == local.device.size
        for offset in (0, 1024, 4096 * 100, remote.device.size - 8192):
            assert remote.device.pread(offset, 8192) == local.device.pread(offset, 8192)
        extents = [(e.offset, e.length) for e in remote.device.extents()]
        assert extents == [(e.offset, e.length) for e in local.device.extents()]


def test_one_small_file_fetches_a_tiny_fraction(pushed: Pushed, options: LazyOptions) -> None:
    with open_image(pushed.converted, options=replace(options, readahead=0)) as image:
        opened = image.stats.bytes_fetched
        assert image.filesystem().read_file(SMALL_FILE) != SMALL_TEXT  # replaced on top
        total = image.stats.blob_bytes
        fetched = image.stats.bytes_fetched
    assert total > 5_000_000
    assert fetched < total * 0.05, (opened, fetched, total)


def test_one_large_read_is_one_request(pushed: Pushed, hosts: object) -> None:
    options = LazyOptions(hosts=hosts, use_cache=False, readahead=0)  # type: ignore[arg-type]
    with open_image(pushed.converted, options=options) as image:
        handle = image.filesystem().open("/usr/bin/app")
        before = image.stats.requests
        data = handle.pread(0, handle.size)
        requests = image.stats.requests - before
    chunks = len(data) // DEFAULT_CHUNK_SIZE
    assert chunks >= 48
    assert 1 <= requests <= 3, requests  # one per contiguous extent run, not one per chunk


def test_readahead_cuts_requests_for_sequential_reads(pushed: Pushed, hosts: object) -> None:
    counts = {}
    for readahead in (0, 1 << 20):
        options = LazyOptions(
            hosts=hosts,  # type: ignore[arg-type]
            use_cache=False,
            readahead=readahead,
        )
        with open_image(pushed.converted, options=options) as image:
            handle = image.filesystem().open("/usr/share/words.txt")
            before = image.stats.requests
            parts = [handle.pread(at, 128 << 10) for at in range(0, handle.size, 128 << 10)]
            counts[readahead] = image.stats.requests - before
            assert b"".join(parts) == handle.pread(0, handle.size)
    assert counts[1 << 20] * 4 <= counts[0], counts


def test_warm_cache_reads_need_no_blob_requests(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    with open_image(pushed.converted, options=options) as image:
        for path in files:
            image.filesystem().read_file(path)
    with open_image(pushed.converted, options=options) as image:
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content
        assert image.stats.requests == 0
        assert image.stats.bytes_fetched == 0
        assert sum(layer.chunks_from_cache for layer in image.stats.layers) > 0


def test_concurrent_readers_get_correct_data(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    paths = sorted(files)

    def worker(seed: int) -> int:
        rng = random.Random(seed)
        checked = 0
        for _ in range(40):
            path = rng.choice(paths)
            content = files[path]
            handle = image.filesystem().open(path)
            offset = rng.randrange(len(content))
            length = rng.choice((1, 4096, 70_000, 300_000))
            assert handle.pread(offset, length) == content[offset : offset + length], path
            checked += 1
        return checked

    for readahead in (0, 256 << 10):
        lazy = replace(options, readahead=readahead)
        with open_image(pushed.converted, options=lazy) as image, ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(worker, range(8))) == 320


def test_library_misuse_is_refused_clearly() -> None:
    with pytest.raises(ImageError, match="expected an image name such as oci:DIR:TAG, found 123"):
        open_image(123)  # type: ignore[arg-type]
    with open_image(f"oci:{HELLO_LAYOUT}:amd64-converted") as image:
        with pytest.raises(ValueError, match="read of 100 bytes at offset -8: negative"):
            image.device.pread(-8, 100)
        assert image.device.pread(0, 0) == b""
