"""Headline: starting from a lazily read image versus pulling and unpacking the whole image.

The image is the Debian image of ``scripts/build-debian-image.sh`` plus a 400 MB
application layer (half random, half text-like files, generated deterministically),
over 500 MB unpacked. Source and converted images go into a local ``docker-registry``
and are read through a proxy on 127.0.0.1 that limits bandwidth to 10 MB/s and adds
20 ms per request. In one run:

- baseline (a): pull the original OCI image through the proxy and unpack it
  (download each blob, decompress, untar into a temporary directory, whiteouts applied);
- lazy cold (b): open the converted image with an empty cache and read the startup set
  (``/usr/bin/python3`` if present, else ``/bin/bash``, the shared libraries it needs and
  ``/etc/os-release``);
- lazy warm: the same with the cache the cold run filled.

Reported: time ratio a/b (target >= 25x) and bytes fetched / bytes of files read (target
<= 2x). Built images are cached in ``$OBD_CACHE_DIR/lazy-bench`` (else
``~/.cache/overlaybd-py/lazy-bench``); the first run converts them (minutes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from overlaybd_py.compression import open_stream
from overlaybd_py.convert import convert
from overlaybd_py.lazy import LazyOptions, open_image
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.manifest import parse_any
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import HostOptions, RegistryHosts
from tests.registry.fault_proxy import FaultProxy
from tests.registry.registry_server import registry_available, start_plain_registry

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE_SCRIPT = REPO_ROOT / "scripts" / "build-debian-image.sh"
BENCH_VERSION = "v1"
BANDWIDTH = 10e6  # bytes per second
LATENCY = 0.020  # seconds per request
APP_FILES = 200
APP_FILE_SIZE = 2 << 20  # 200 x 2 MiB = 400 MiB, every other file random
MIN_IMAGE_BYTES = 500_000_000
SOURCE_TAG = "src"
CONVERTED_TAG = "obd"
REPO = "bench/debian-app"
PROXY_LIFETIME = 3600.0
FALLBACK_LIBRARIES = (
    "/lib/x86_64-linux-gnu/libtinfo.so.6",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
)
RESULTS: dict[str, float] = {}

PLAIN = HostOptions(plain_http=True, use_environment=False, use_docker_config=False)


def bench_dir() -> Path:
    root = os.environ.get("OBD_CACHE_DIR", str(Path.home() / ".cache" / "overlaybd-py"))
    return Path(root) / "lazy-bench" / BENCH_VERSION


# -- building the image --------------------------------------------------------------------


def debian_layout() -> Path:
    """The Debian image layout from the repository script (skips when it cannot be built)."""
    if not IMAGE_SCRIPT.exists():
        pytest.skip(f"{IMAGE_SCRIPT} is missing")
    done = subprocess.run(
        [str(IMAGE_SCRIPT)], capture_output=True, text=True, timeout=3600, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"Debian image build failed (exit {done.returncode}): {done.stderr[-300:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def text_block(seed: int) -> bytes:
    """256 KiB of text-like bytes (source code, configs): compresses about 3-4x."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randrange(2, 7)).hex() for _ in range(2000)]
    lines = []
    size = 0
    while size < 256 << 10:
        line = " ".join(rng.choice(words) for _ in range(rng.randrange(4, 14))) + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()[: 256 << 10]


def app_file(index: int) -> bytes:
    rng = random.Random(index)
    if index % 2:
        return rng.randbytes(APP_FILE_SIZE)
    blocks = [text_block(index * 1000 + k) for k in range(APP_FILE_SIZE // (256 << 10))]
    return b"".join(blocks)


def write_app_layer(path: Path) -> str:
    """The application layer as a gzip tar; returns its diff ID."""
    hasher = hashlib.sha256()

    class Hashing:
        def __init__(self, out: Any) -> None:
            self.out = out

        def write(self, data: bytes) -> int:
            hasher.update(data)
            return int(self.out.write(data))

    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
        tarfile.open(fileobj=Hashing(gz), mode="w|", format=tarfile.PAX_FORMAT) as tar,  # type: ignore[call-overload]
    ):
        for name in ("opt", "opt/app", "opt/app/data"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
            tar.addfile(info)
        for index in range(APP_FILES):
            data = app_file(index)
            kind = "blob" if index % 2 else "text"
            info = tarfile.TarInfo(f"opt/app/data/{kind}-{index:03d}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, _BytesReader(data))
    return f"sha256:{hasher.hexdigest()}"


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else self._pos + size
        chunk = bytes(self._view[self._pos : end])
        self._pos += len(chunk)
        return chunk


def build_source(debian: Path, out: Path) -> None:
    """Debian's layers and config plus the application layer, as a layout tagged ``src``."""
    layout = OCILayout.open_dir(debian)
    try:
        root = layout.resolve("latest")
        node = parse_any(layout.fetch(root), root.digest, root.media_type)
        if mt.is_index(root.media_type):
            child = node.manifests[0]  # type: ignore[union-attr]
            node = parse_any(layout.fetch(child), child.digest, child.media_type)
        config = json.loads(layout.fetch(node.config))  # type: ignore[union-attr]
        layers = list(node.layers)  # type: ignore[union-attr]
    finally:
        layout.close()
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        app = Path(work) / "app.tar.gz"
        diff_id = write_app_layer(app)
        with LayoutWriter(out, SOURCE_TAG) as writer:
            stored = [
                writer.put_blob(str(debian / "blobs" / "sha256" / d.digest[7:]), d.media_type)
                for d in layers
            ]
            stored.append(writer.put_blob(str(app), mt.OCI_LAYER_GZIP))
            config["rootfs"]["diff_ids"].append(diff_id)
            config_desc = writer.put_blob(json.dumps(config).encode(), mt.OCI_CONFIG)
            body = {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": config_desc.plain().to_dict(),
                "layers": [d.plain().to_dict() for d in stored],
            }
            writer.put_manifest(json.dumps(body).encode(), mt.OCI_MANIFEST, SOURCE_TAG, True)


def built_images() -> tuple[Path, Path]:
    """(source layout, converted layout), built once and cached."""
    root = bench_dir()
    source, converted = root / "source", root / "converted"
    root.mkdir(parents=True, exist_ok=True)
    if not (source / "index.json").exists():
        build_source(debian_layout(), source)
    if not (converted / "index.json").exists():
        convert(f"oci:{source}:{SOURCE_TAG}", f"oci:{converted}:{CONVERTED_TAG}")
    return source, converted


def push(client: RegistryClient, layout_dir: Path, tag: str) -> list[int]:
    """Push a layout's image; returns its blob sizes."""
    layout = OCILayout.open_dir(layout_dir)
    try:
        root = layout.resolve(tag)
        manifest = parse_any(layout.fetch(root), root.digest, root.media_type)
        sizes = []
        for blob in (manifest.config, *manifest.layers):  # type: ignore[union-attr]
            client.push_blob(REPO, str(layout_dir / "blobs" / "sha256" / blob.digest[7:]))
            sizes.append(blob.size)
        client.put_manifest(REPO, tag, layout.fetch(root), root.media_type)
        return sizes
    finally:
        layout.close()


# -- the measured work ---------------------------------------------------------------------


def pull_and_unpack(client: RegistryClient, target: Path) -> int:
    """Download every layer of ``:src``, decompress and untar it; returns bytes downloaded."""
    manifest = json.loads(client.get_manifest(REPO, SOURCE_TAG).data)
    client.get_blob(REPO, manifest["config"]["digest"])
    downloaded = 0
    for layer in manifest["layers"]:
        stream = _IterReader(client.iter_blob(REPO, layer["digest"]))
        with (
            open_stream(stream) as plain,  # type: ignore[arg-type]
            tarfile.open(fileobj=plain, mode="r|") as tar,
        ):
            for member in tar:
                _apply_member(tar, member, target)
        downloaded += stream.count
    return downloaded


class _IterReader:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.count += len(chunk)
            self._pending += chunk
        if size < 0:
            size = len(self._pending)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


def _apply_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    """Untar one member, honouring OCI whiteouts."""
    head, _, name = member.name.rpartition("/")
    if name == ".wh..wh..opq":
        directory = target / head
        if directory.is_dir():
            for child in directory.iterdir():
                _remove(child)
        return
    if name.startswith(".wh."):
        _remove(target / head / name[4:])
        return
    if member.isdev():
        return
    existing = target / member.name
    if existing.is_symlink() or (existing.exists() and not existing.is_dir()):
        existing.unlink()
    tar.extract(member, target, set_attrs=False, filter="fully_trusted")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def startup_set(unpacked: Path) -> list[str]:
    """The program, the libraries it needs (ELF DT_NEEDED, resolved), /etc/os-release."""
    program = "/usr/bin/python3" if (unpacked / "usr/bin/python3").exists() else "/bin/bash"
    libraries = needed_libraries(unpacked, program) or list(FALLBACK_LIBRARIES)
    return [program, *libraries, "/etc/os-release"]


def needed_libraries(root: Path, program: str) -> list[str]:
    """Transitive DT_NEEDED of ``program`` found in the usual library directories."""
    search = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib")
    found: list[str] = []
    pending = [program]
    interpreter = elf_interpreter(root / program.lstrip("/"))
    if interpreter:
        found.append(interpreter)
    while pending:
        current = pending.pop()
        for name in elf_needed(root / current.lstrip("/")):
            for directory in search:
                candidate = f"{directory}/{name}"
                if (root / candidate.lstrip("/")).exists():
                    if candidate not in found:
                        found.append(candidate)
                        pending.append(candidate)
                    break
    return found


def _elf_segments(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """(type, offset, vaddr, filesz, memsz) of every program header of an ELF64 LE file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return []
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    out = []
    for k in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, filesz, memsz = struct.unpack_from(
            "<IIQQQQQ", data, phoff + k * phentsize
        )
        out.append((p_type, offset, vaddr, filesz, memsz))
    return out


def elf_interpreter(path: Path) -> str | None:
    data = path.resolve().read_bytes()
    for p_type, offset, _vaddr, filesz, _memsz in _elf_segments(data):
        if p_type == 3:  # PT_INTERP
            return data[offset : offset + filesz].rstrip(b"\0").decode()
    return None


def elf_needed(path: Path) -> list[str]:
    data = path.resolve().read_bytes()
    segments = _elf_segments(data)
    loads = [s for s in segments if s[0] == 1]

    def file_offset(vaddr: int) -> int:
        for _t, offset, start, filesz, _m in loads:
            if start <= vaddr < start + filesz:
                return offset + vaddr - start
        return vaddr

    for p_type, offset, _vaddr, filesz, _memsz in segments:
        if p_type != 2:  # PT_DYNAMIC
            continue
        entries = [struct.unpack_from("<qQ", data, offset + 16 * k) for k in range(filesz // 16)]
        strtab = next((value for tag, value in entries if tag == 5), 0)  # DT_STRTAB
        base = file_offset(strtab)
        names = []
        for tag, value in entries:
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", base + value)
                names.append(data[base + value : end].decode())
        return names
    return []


def lazy_start(
    reference: str, hosts: RegistryHosts, cache_dir: Path, paths: list[str]
) -> dict[str, float]:
    """Open the converted image and read every startup file; returns what it cost."""
    options = LazyOptions(hosts=hosts, cache_dir=str(cache_dir))
    read = 0
    with open_image(reference, options=options) as image:
        fs = image.filesystem()
        for path in paths:
            read += len(fs.read_file(path))
        stats = image.stats
        return {
            "bytes_read": read,
            "bytes_fetched": stats.bytes_fetched,
            "requests": stats.requests,
            "blob_bytes": stats.blob_bytes,
        }


# -- fixtures and benchmarks ---------------------------------------------------------------


@dataclass
class Setup:
    proxy: FaultProxy
    hosts: RegistryHosts
    source_bytes: int
    converted_bytes: int
    unpacked_bytes: int
    startup: list[str]
    workdir: Path

    @property
    def converted(self) -> str:
        return f"docker://{self.proxy.host}/{REPO}:{CONVERTED_TAG}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not registry_available():
        pytest.skip("docker-registry not installed")
    source, converted = built_images()
    workdir = tmp_path_factory.mktemp("lazy-bench")
    with start_plain_registry(bench_dir() / "registry") as server:
        with RegistryClient(server.host, PLAIN) as client:
            source_bytes = sum(push(client, source, SOURCE_TAG))
            converted_bytes = sum(push(client, converted, CONVERTED_TAG))
        proxy = FaultProxy(
            server.host, bandwidth=BANDWIDTH, latency=LATENCY, max_lifetime=PROXY_LIFETIME
        )
        with proxy:
            hosts = RegistryHosts(PLAIN)
            try:
                yield Setup(proxy, hosts, source_bytes, converted_bytes, 0, [], workdir)
            finally:
                hosts.close()


def test_lazy_startup_full_pull_baseline(benchmark: BenchmarkFixture, setup: Setup) -> None:
    benchmark.group = "lazy_startup"
    target = setup.workdir / "unpacked"

    def run() -> int:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        with RegistryClient(setup.proxy.host, PLAIN) as client:
            return pull_and_unpack(client, target)

    downloaded = benchmark.pedantic(run, rounds=1, iterations=1)
    unpacked = sum(p.lstat().st_size for p in target.rglob("*") if p.is_file())
    assert unpacked >= MIN_IMAGE_BYTES, unpacked
    setup.unpacked_bytes = unpacked
    setup.startup = startup_set(target)
    RESULTS["full_pull"] = benchmark.stats.stats.mean
    benchmark.extra_info.update(downloaded=downloaded, unpacked_bytes=unpacked)


def _lazy(benchmark: BenchmarkFixture, setup: Setup, warm: bool) -> None:
    if not setup.startup:
        pytest.skip("the baseline did not run (it finds the startup file set)")
    cache = setup.workdir / "cache"
    if not warm and cache.exists():
        shutil.rmtree(cache)
    costs = benchmark.pedantic(
        lazy_start, args=(setup.converted, setup.hosts, cache, setup.startup), rounds=1
    )
    mean = benchmark.stats.stats.mean
    info: dict[str, Any] = {
        "files": len(setup.startup),
        **costs,
        "fetched_over_read": round(costs["bytes_fetched"] / costs["bytes_read"], 3),
    }
    if "full_pull" in RESULTS:
        info["speedup_vs_full_pull"] = round(RESULTS["full_pull"] / mean, 1)
    benchmark.extra_info.update(info)
    assert costs["bytes_read"] > 0
    if warm:
        assert costs["requests"] == 0


def test_lazy_startup_cold_cache(benchmark: BenchmarkFixture, setup: Setup) -> None:
    benchmark.group = "lazy_startup"
    _lazy(benchmark, setup, warm=False)


def test_lazy_startup_warm_cache(benchmark: BenchmarkFixture, setup: Setup) -> None:
    benchmark.group = "lazy_startup"
    _lazy(benchmark, setup, warm=True)
