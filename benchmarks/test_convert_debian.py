"""``obd convert`` of the Debian minbase image against a C baseline on the same content.

Baseline: ``mkfs.ext4 -d`` over the unpacked tree (the C filesystem builder) plus
raw block-by-block compression of the used 4 KiB blocks of the image it makes
(``lz4.block`` for the lz4 run, single-threaded zstd level 3 for the zstd run).
Ours runs ``convert`` in a subprocess, so its peak RSS is measured alone.

Run: ``pytest benchmarks/test_convert_debian.py --benchmark-only -s``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import lz4.block
import pytest
import zstandard

from benchmarks.test_ext4_apply import _mkfs_d
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.digest import sha256_stream
from overlaybd_py.oci.gojson import dumps
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.manifest import Manifest
from tests.ext4.conftest import build_debian_layer

BLOCK = 4096

_CHILD = r"""
import json, sys, time
from overlaybd_py.convert import ConvertOptions, convert

def peak_rss():
    # VmHWM belongs to this process image; ru_maxrss would survive execve from the parent.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0

start = time.perf_counter()
options = ConvertOptions(algorithm=sys.argv[3], workdir=sys.argv[4])
report = convert(sys.argv[1], sys.argv[2], options)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_rss": peak_rss(),
                  "blob": report.images[0].layers[0].blob_size,
                  "tar": report.images[0].layers[0].tar_bytes}))
"""


def _single_layer_layout(layer: Path, out: Path) -> str:
    """An OCI layout holding the Debian tar as a one-layer, uncompressed image."""
    with layer.open("rb") as stream:
        digest, size = sha256_stream(stream)
    config = dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest]},
        }
    )
    writer = LayoutWriter(out, "minbase")
    writer.put_blob(layer, mt.OCI_LAYER_TAR)
    config_desc = writer.put_blob(config, mt.OCI_CONFIG)
    manifest = Manifest(config_desc, (Descriptor(mt.OCI_LAYER_TAR, digest, size),))
    writer.put_manifest(manifest.to_bytes(), mt.OCI_MANIFEST, tag="minbase", root=True)
    writer.commit()
    return f"oci:{out}:minbase"


def _used_blocks(image: Path) -> list[bytes]:
    """The image's data blocks, found with SEEK_DATA/SEEK_HOLE (mkfs writes only those)."""
    blocks: list[bytes] = []
    fd = os.open(image, os.O_RDONLY)
    try:
        end, offset = os.fstat(fd).st_size, 0
        while offset < end:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            data = os.pread(fd, stop - start, start)
            blocks.extend(data[i : i + BLOCK] for i in range(0, len(data), BLOCK))
            offset = stop
    finally:
        os.close(fd)
    return blocks


def _compress_seconds(blocks: list[bytes], algorithm: str) -> float:
    if algorithm == "lz4":
        compress = partial(lz4.block.compress, store_size=False)
    else:
        compress = zstandard.ZstdCompressor(level=3).compress
    start = time.perf_counter()
    for _ in map(compress, blocks):
        pass
    return time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["lz4", "zstd"])
def test_convert_debian_vs_c_baseline(benchmark, tmp_path: Path, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    layer, rootfs = build_debian_layer()
    source = _single_layer_layout(layer, tmp_path / "source")
    image = tmp_path / "c.img"
    mkfs_seconds = min(_mkfs_d(rootfs, image) for _ in range(2))
    blocks = _used_blocks(image)
    compress_seconds = _compress_seconds(blocks, algorithm)
    image.unlink()
    baseline = mkfs_seconds + compress_seconds
    result: dict[str, float] = {}

    def run() -> None:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                source,
                f"oci:{tmp_path / 'out'}:{algorithm}",
                algorithm,
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result.update(json.loads(proc.stdout))

    benchmark.group = f"convert-debian-{algorithm}"
    benchmark.pedantic(run, rounds=1, iterations=1)
    info = {
        "tar_mb": round(result["tar"] / 1e6, 1),
        "ours_s": round(result["seconds"], 2),
        "ours_mb_per_s": round(result["tar"] / 1e6 / result["seconds"], 1),
        "baseline_s": round(baseline, 2),
        "baseline_mkfs_d_s": round(mkfs_seconds, 2),
        "baseline_compress_s": round(compress_seconds, 2),
        "ratio_ours_over_baseline": round(result["seconds"] / baseline, 2),
        "peak_rss_mb": round(result["peak_rss"] / 2**20, 1),
        "blob_mb": round(result["blob"] / 1e6, 1),
    }
    benchmark.extra_info.update(info)
    print(json.dumps(info, indent=1))
