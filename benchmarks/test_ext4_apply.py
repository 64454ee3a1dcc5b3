"""Apply the Debian minbase layer vs ``mkfs.ext4 -d`` over the same tree (the C baseline).

Both build a 64 GiB filesystem with the converter's features; ours runs in a
subprocess so its peak RSS is measured alone: the child reads its own ``VmHWM``
from ``/proc/self/status`` (``ru_maxrss`` would not do: on Linux it survives
``execve``, so a child forked from a large pytest process reports the parent's
size). Results go to ``extra_info`` as MB/s, files/s, the time ratio (ours / C)
and peak RSS.

Run: ``pytest benchmarks/test_ext4_apply.py --benchmark-enable -s``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.ext4.conftest import build_debian_layer

DEVICE = 64 << 30
FEATURES = (
    "none,ext_attr,resize_inode,dir_index,sparse_super2,filetype,extent,64bit,flex_bg,"
    "sparse_super,large_file,huge_file,dir_nlink,extra_isize"
)

_CHILD = r"""
import io, json, sys, time
from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.convert.baselayer import extract_base_layer
from overlaybd_py.ext4 import Filesystem, apply_layer, mkfs
from overlaybd_py.io import FileSource
from overlaybd_py.layer import open_stack
lower = None
if sys.argv[4] == "base-layer":
    lower = open_stack([FileSource(extract_base_layer(sys.argv[3]))])
start = time.perf_counter()
dev = OverlayDevice(lower, int(sys.argv[2]), spool_dir=sys.argv[3])
fs = mkfs(dev) if lower is None else Filesystem(dev, writable=True)
with open(sys.argv[1], "rb") as layer:
    stats = apply_layer(fs, layer)
fs.close()
elapsed = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "peak_rss": peak, "entries": stats.entries,
                  "bytes": stats.bytes, "files": stats.files}))
"""


def _ours(layer: Path, spool: Path, lower: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(layer), str(DEVICE), str(spool), lower],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _mkfs_d(rootfs: Path, image: Path) -> float:
    image.unlink(missing_ok=True)
    with open(image, "wb") as out:
        out.truncate(DEVICE)
    start = time.perf_counter()
    subprocess.run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-b",
            "4096",
            "-I",
            "256",
            "-i",
            "16384",
            "-O",
            FEATURES,
            "-G",
            "1",
            "-E",
            "num_backup_sb=2,lazy_itable_init=1",
            "-d",
            str(rootfs),
            str(image),
        ],
        check=True,
        env={**os.environ, "E2FSPROGS_FAKE_TIME": "0"},
    )
    return time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("lower", ["mkfs", "base-layer"])
def test_apply_debian_minbase_vs_mkfs_d(
    benchmark: pytest.FixtureRequest, tmp_path: Path, lower: str
) -> None:
    """``mkfs``: our mkfs then the layer; ``base-layer``: the layer onto upstream's base (§5.5)."""
    layer, rootfs = build_debian_layer()
    with tarfile.open(layer) as tar:
        entries = sum(1 for _ in tar)
    baseline = min(_mkfs_d(rootfs, tmp_path / "c.img") for _ in range(2))
    result: dict[str, float] = {}

    def run() -> None:
        result.update(_ours(layer, tmp_path, lower))

    benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[attr-defined]
    seconds = result["seconds"]
    info = {
        "lower": lower,
        "entries": entries,
        "layer_mb": result["bytes"] / 1e6,
        "ours_s": seconds,
        "mkfs_d_s": baseline,
        "ratio_ours_over_mkfs_d": seconds / baseline,
        "ours_mb_per_s": result["bytes"] / 1e6 / seconds,
        "ours_files_per_s": result["entries"] / seconds,
        "mkfs_d_mb_per_s": result["bytes"] / 1e6 / baseline,
        "peak_rss_mb": result["peak_rss"] / 2**20,
    }
    benchmark.extra_info.update(info)  # type: ignore[attr-defined]
    print(json.dumps(info, indent=1))
    assert result["entries"] == entries
