"""The persistent chunk cache: corruption healed, size bound, restarts, several processes."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from overlaybd_py.lazy import ChunkCache, LazyOptions, open_image
from overlaybd_py.lazy.cache import HEADER_SIZE, INDEX_NAME, pack_entry, unpack_entry

from .conftest import Pushed

DIGEST = "sha256:" + "ab" * 32


def entry_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "entries").rglob("*") if p.is_file())


def chunk_files(cache_dir: Path) -> list[Path]:
    """Entries holding ZFile chunks (named ``z<blocks>.<chunk>``)."""
    return [p for p in entry_files(cache_dir) if p.name.startswith("z")]


def read_all(pushed: Pushed, options: LazyOptions, files: dict[str, bytes]) -> LazyOptions:
    with open_image(pushed.converted, options=options) as image:
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content, path
    return options


def test_put_get_and_checksum(tmp_path: Path) -> None:
    with ChunkCache(tmp_path) as cache:
        assert cache.get(DIGEST, "a") is None
        cache.put(DIGEST, "a", b"payload")
        assert cache.get(DIGEST, "a") == b"payload"  # served while waiting for the writer
        cache.flush()
        path = cache.path_for(DIGEST, "a")
        assert unpack_entry(f"{DIGEST}/a", path.read_bytes()) == b"payload"
        raw = bytearray(path.read_bytes())
        raw[HEADER_SIZE + 2] ^= 0x01
        path.write_bytes(bytes(raw))
        assert cache.get(DIGEST, "a") is None  # detected, dropped
        assert not path.exists()
        assert cache.counters.corrupt == 1
    assert unpack_entry("k", pack_entry("k", b"x")) == b"x"
    assert unpack_entry("other", pack_entry("k", b"x")) is None  # a file under the wrong name
    assert unpack_entry("k", pack_entry("k", b"xy")[:-1]) is None  # torn


def test_limit_evicts_least_recently_used(tmp_path: Path) -> None:
    with ChunkCache(tmp_path, limit=10_000, write_behind=False) as cache:
        for n in range(8):
            cache.put(DIGEST, f"e{n}", bytes([n]) * 1000)
            if n == 0:
                continue
            assert cache.get(DIGEST, "e0") is not None  # keep e0 recently used
        cache.put(DIGEST, "big", b"z" * 4000)
        assert cache.total_bytes() <= 10_000
        assert cache.get(DIGEST, "e0") is not None
        assert cache.get(DIGEST, "e1") is None  # oldest use went first
        assert cache.get(DIGEST, "big") is not None


def test_corrupted_cache_file_is_detected_and_healed(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    read_all(pushed, options, files)
    cache_dir = Path(options.cache_dir or "")
    victims = chunk_files(cache_dir)[::7]
    for victim in victims:
        raw = bytearray(victim.read_bytes())
        raw[-1] ^= 0xFF
        victim.write_bytes(bytes(raw))
    cache = ChunkCache(cache_dir)
    try:
        healed = LazyOptions(hosts=options.hosts, cache=cache)
        with open_image(pushed.converted, options=healed) as image:
            for path, content in files.items():
                assert image.filesystem().read_file(path) == content, path
            assert image.stats.requests > 0
        assert cache.counters.corrupt == len(victims)
    finally:
        cache.close()
    for victim in victims:
        key = f"sha256:{victim.parent.name}/{victim.name}"
        assert unpack_entry(key, victim.read_bytes()) is not None, victim


def test_bad_block_crc_in_a_well_formed_entry_is_refetched(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    """An entry whose file checksum matches but whose ZFile CRCs do not is not used."""
    read_all(pushed, options, files)
    cache_dir = Path(options.cache_dir or "")
    victim = max(chunk_files(cache_dir), key=lambda p: p.stat().st_size)
    key = f"sha256:{victim.parent.name}/{victim.name}"
    payload = bytearray(unpack_entry(key, victim.read_bytes()) or b"")
    payload[len(payload) // 2] ^= 0xFF
    victim.write_bytes(pack_entry(key, bytes(payload)))
    with open_image(pushed.converted, options=options) as image:
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content, path
        assert sum(layer.corrupt_entries for layer in image.stats.layers) == 1
        assert image.stats.requests >= 1


def test_small_limit_still_reads_correctly(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    from dataclasses import replace

    limited = replace(options, cache_limit=300_000)
    read_all(pushed, limited, files)
    with ChunkCache(limited.cache_dir, limited.cache_limit) as cache:
        assert cache.total_bytes() <= 300_000
    assert sum(p.stat().st_size for p in entry_files(Path(limited.cache_dir or ""))) <= 300_000


def test_lost_index_is_rebuilt_from_the_files(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    read_all(pushed, options, files)
    cache_dir = Path(options.cache_dir or "")
    for name in (INDEX_NAME, INDEX_NAME + "-wal", INDEX_NAME + "-shm"):
        (cache_dir / name).unlink(missing_ok=True)
    (cache_dir / INDEX_NAME).write_bytes(b"not a database" * 100)
    with open_image(pushed.converted, options=options) as image:
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content
        assert image.stats.requests == 0
    with ChunkCache(cache_dir) as cache:
        assert cache.total_bytes() == sum(p.stat().st_size for p in entry_files(cache_dir))


READER = textwrap.dedent(
    """
    import hashlib, json, sys
    from overlaybd_py.lazy import LazyOptions, open_image
    from overlaybd_py.registry.options import HostOptions, RegistryHosts
    ref, cache_dir, paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    hosts = RegistryHosts(HostOptions(plain_http=True, use_environment=False,
                                      use_docker_config=False))
    out = {}
    for _round in range(3):
        with open_image(ref, options=LazyOptions(hosts=hosts, cache_dir=cache_dir)) as image:
            for path in paths:
                out[path] = hashlib.sha256(image.filesystem().read_file(path)).hexdigest()
    print(json.dumps(out))
    """
)


def test_cache_shared_by_processes(
    pushed: Pushed, cache_dir: Path, files: dict[str, bytes]
) -> None:
    paths = sorted(files)
    args = [sys.executable, "-c", READER, pushed.converted, str(cache_dir), json.dumps(paths)]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)
    ]
    expected = {path: hashlib.sha256(files[path]).hexdigest() for path in paths}
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert json.loads(out) == expected
    with ChunkCache(cache_dir) as cache:
        cache.reconcile()
        assert cache.total_bytes() == sum(p.stat().st_size for p in entry_files(cache_dir))
    leftovers = [p for p in entry_files(cache_dir) if p.name.startswith(".tmp-")]
    assert leftovers == []


@pytest.mark.parametrize("limit", [0, -5])
def test_bad_limit_is_refused(tmp_path: Path, limit: int) -> None:
    from overlaybd_py.errors import OverlayBDError

    with pytest.raises(OverlayBDError, match="expected a positive byte count"):
        ChunkCache(tmp_path, limit)


def test_an_unusable_cache_directory_costs_a_warning_not_the_read(
    pushed: Pushed,
    options: LazyOptions,
    files: dict[str, bytes],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dataclasses import replace

    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        read_all(pushed, replace(options, cache_dir=str(blocker / "cache")), files)
    assert f"cache {blocker / 'cache'} is unusable" in caplog.text


def test_entries_that_cannot_be_read_or_stored_warn_once(
    pushed: Pushed,
    options: LazyOptions,
    files: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_dir = Path(options.cache_dir or "")
    with ChunkCache(cache_dir):
        pass
    (cache_dir / "entries" / "sha256").write_bytes(b"")  # every entry directory fails to appear
    with caplog.at_level(logging.WARNING):
        read_all(pushed, options, files)
    warnings = [r for r in caplog.records if "could not" in r.getMessage()]
    assert len(warnings) == 1
    assert entry_files(cache_dir) == [cache_dir / "entries" / "sha256"]
