"""Layer blobs in every wrapping open to the same LSMT content; real blobs export to valid ext4."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from overlaybd_py import tarwrap
from overlaybd_py.errors import FormatError
from overlaybd_py.export import export_raw
from overlaybd_py.io import BytesSource, FileSource
from overlaybd_py.layer import open_layer_blob, open_stack
from overlaybd_py.zfile import compress_bytes
from tests.conftest import HELLO_LAYER, HELLO_LAYOUT

HELLO_LSMT_SHA256 = "39195424aa10572fe002262190877b4306a66be9c62c8f1594141b01dc79c2ea"
SOURCE_LAYER = (
    HELLO_LAYOUT / "blobs/sha256/719385e32844401d57ecfd3eacab360bf551a1491c05b85806ed8f1b08d792f6"
)

# The upstream mkfs leaves lost+found with a one-entry htree root that does not
# reference its third block; e2fsck 1.47 reports exactly this and nothing else.
UPSTREAM_LOST_FOUND_DEFECT = [
    "Problem in HTREE directory inode 11: block #2 not referenced",
    "Invalid HTREE directory inode 11 (/lost+found).  Clear HTree index? no",
]


def _e2fsck(image: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["e2fsck", "-fn", str(image)], capture_output=True, text=True, check=False
    )


def _problems(output: str) -> list[str]:
    noise = ("Pass ", "e2fsck ")
    return [
        line
        for line in output.splitlines()
        if line.strip()
        and not line.startswith(noise)
        and " files (" not in line
        and "still has errors" not in line
    ]


def test_hello_world_blob_opens_through_every_layer() -> None:
    blob = open_layer_blob(FileSource(HELLO_LAYER))
    assert blob.tar is not None and blob.zfile is not None
    layer = blob.lsmt
    assert layer.uuid == "01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"
    assert layer.parent_uuid == "00000000-0000-0000-0000-000000000000"
    assert layer.virtual_size == 64 << 30
    assert layer.stats.real == 515 and layer.stats.padding == 253
    assert blob.zfile.verify() == []
    content = blob.zfile.pread(0, blob.zfile.size)
    assert hashlib.sha256(content).hexdigest() == HELLO_LSMT_SHA256


def test_every_wrapping_reads_the_same() -> None:
    lsmt = open_layer_blob(FileSource(HELLO_LAYER)).zfile.pread(0, 71528448)  # type: ignore[union-attr]
    zfile = compress_bytes(lsmt, algorithm="zstd", block_size=65536)
    variants = {
        "bare lsmt": lsmt,
        "bare zfile": zfile,
        "tar lsmt": tarwrap.prefix(len(lsmt)) + lsmt + tarwrap.suffix(len(lsmt)),
        "tar zfile": tarwrap.prefix(len(zfile)) + zfile + tarwrap.suffix(len(zfile)),
        "512-byte tar zfile": _plain_tar("overlaybd.commit", zfile),
    }
    for name, data in variants.items():
        blob = open_layer_blob(BytesSource(data, name))
        assert (blob.tar is not None) == name.startswith(("tar", "512")), name
        assert (blob.zfile is not None) == ("zfile" in name), name
        assert blob.lsmt.stats.real == 515, name
        assert blob.pread(1024, 1024)[56:58] == b"\x53\xef", name


def _plain_tar(name: str, payload: bytes) -> bytes:
    """A ustar archive with one member and no pax header, as Go's archive/tar writes it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mode = 0o444
        tar.addfile(info, io.BytesIO(payload))
    data = out.getvalue()
    assert tarwrap.find_payload(BytesSource(data)) == tarwrap.TarPrefix(512, len(payload), False)
    return data


def test_not_a_layer() -> None:
    with pytest.raises(FormatError, match="expected a ZFile or LSMT magic at offset 0"):
        open_layer_blob(BytesSource(b"\x1f\x8b" + bytes(5000), "junk"))
    zfile = compress_bytes(b"not an lsmt file" * 100)
    with pytest.raises(FormatError, match="expected a ZFile or LSMT magic at the ZFile content"):
        open_layer_blob(BytesSource(zfile))


def test_truncated_tar_payload() -> None:
    data = HELLO_LAYER.read_bytes()[:100_000]
    with pytest.raises(FormatError, match="runs past the blob end 100000"):
        open_layer_blob(BytesSource(data, "cut"))


def test_hello_world_exports_to_its_source_file(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    summary = export_raw(open_stack([FileSource(HELLO_LAYER)]), image)
    assert image.stat().st_size == 64 << 30
    assert image.stat().st_blocks * 512 < 100 << 20, "the export must stay sparse"
    assert summary.data_bytes <= 71507968
    result = _e2fsck(image)
    assert _problems(result.stdout + result.stderr) == UPSTREAM_LOST_FOUND_DEFECT, result.stdout
    hello = tmp_path / "hello"
    subprocess.run(
        ["debugfs", "-R", f"dump /hello {hello}", str(image)], check=True, capture_output=True
    )
    with tarfile.open(SOURCE_LAYER) as tar:
        member = tar.extractfile("hello")
        assert member is not None
        assert hello.read_bytes() == member.read()


def test_legacy_base_layer_exports_and_checks(base_layer_path: Path, tmp_path: Path) -> None:
    blob = open_layer_blob(FileSource(base_layer_path))
    assert blob.tar is None and blob.zfile is not None
    assert blob.lsmt.uuid == "C02FB491-B4D4-4904-8684-A014D032AF78"
    assert blob.lsmt.stats.entries == 8448 and blob.lsmt.stats.real == 8323
    image = tmp_path / "base.img"
    export_raw(open_stack([FileSource(base_layer_path)]), image)
    result = _e2fsck(image)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11/4194304 files" in result.stdout


def test_a_disk_that_cannot_be_written_is_named_and_left_behind(tmp_path: Path) -> None:
    """A file size limit (EFBIG, as a full disk gives ENOSPC) names the output; no .part stays."""
    script = (
        "import resource, signal, sys\n"
        "from overlaybd_cli.entry import main\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "sys.argv = ['obd', 'layer', 'export', sys.argv[1], '--output', sys.argv[2]]\n"
        "main()\n"
    )
    disk = tmp_path / "disk.img"
    result = subprocess.run(
        [sys.executable, "-c", script, str(HELLO_LAYER), str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"obd: error: {disk}: writing {64 << 30} bytes (sparse) failed: File too large"
    ]
    assert list(tmp_path.iterdir()) == []
