"""Archive sources convert to the same image as the layout they were packed from; a failed
conversion leaves the target exactly as it was."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from overlaybd_py.check import check_image
from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.errors import OverlayBDError
from tests.check.layouts import write_layout
from tests.layertar import LayerTar

from .conftest import HELLO, docker_archive, files_digest, obd, oci_archive

SMALL_DISK = 512 << 20


def test_oci_archive_source(tmp_path: Path) -> None:
    archive = oci_archive(HELLO, tmp_path / "hello.tar")
    from_layout = convert(f"oci:{HELLO}:amd64", f"oci:{tmp_path / 'a'}:x")
    from_archive = convert(f"oci-archive:{archive}:amd64", f"oci:{tmp_path / 'b'}:x")
    assert from_archive.source_digest == from_layout.source_digest
    assert from_archive.digest == from_layout.digest
    assert check_image(f"oci:{tmp_path / 'b'}:x", f"oci-archive:{archive}:amd64").ok


def test_docker_archive_source(tmp_path: Path) -> None:
    archive = docker_archive(HELLO, "amd64", "hello-world:latest", tmp_path / "saved.tar")
    from_layout = convert(f"oci:{HELLO}:amd64", f"oci:{tmp_path / 'a'}:x")
    result = obd("convert", f"docker-archive:{archive}", f"oci:{tmp_path / 'b'}:x", "--json")
    assert result.returncode == 0, result.stderr
    assert '"blob_digest": "' + from_layout.images[0].layers[0].blob_digest in result.stdout
    checked = obd("check", f"oci:{tmp_path / 'b'}:x", "--against", f"docker-archive:{archive}")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_converting_into_an_oci_archive_target(tmp_path: Path) -> None:
    convert(f"oci:{HELLO}:amd64", f"oci-archive:{tmp_path / 'out.tar'}:x")
    assert check_image(f"oci-archive:{tmp_path / 'out.tar'}:x", f"oci:{HELLO}:amd64").ok


def _broken_source(tmp_path: Path, damage: str) -> str:
    """A two-layer source whose second layer blob is truncated or corrupted."""
    first = LayerTar().file("a", b"first layer").bytes()
    second = LayerTar().file("b", bytes(range(256)) * 400).bytes()
    ref = write_layout(tmp_path / f"src-{damage}", [first, second])
    blob = next(
        p
        for p in (tmp_path / f"src-{damage}" / "blobs" / "sha256").iterdir()
        if p.read_bytes() == gzip.compress(second, mtime=0)
    )
    data = blob.read_bytes()
    if damage == "truncated":
        blob.write_bytes(data[: len(data) // 2])
    else:
        blob.write_bytes(data[:40] + bytes([data[40] ^ 0xFF]) + data[41:])
    return ref


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_failed_conversion_changes_nothing(tmp_path: Path, damage: str) -> None:
    existing = tmp_path / "existing"
    convert(f"oci:{HELLO}:amd64", f"oci:{existing}:kept", ConvertOptions(vsize=SMALL_DISK))
    before = files_digest(existing)
    source = _broken_source(tmp_path, damage)

    with pytest.raises(OverlayBDError):
        convert(source, f"oci:{existing}:new", ConvertOptions(vsize=SMALL_DISK))
    assert files_digest(existing) == before

    siblings = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OverlayBDError):
        convert(source, f"oci:{tmp_path / 'fresh'}:new", ConvertOptions(vsize=SMALL_DISK))
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no target, no staging left

    result = obd("convert", source, f"oci:{existing}:new")
    assert result.returncode == 1
    assert result.stderr.startswith("obd: error: ") and len(result.stderr.splitlines()) == 1
    assert files_digest(existing) == before


def test_existing_layout_gains_a_tag_and_keeps_the_rest(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    shutil.copytree(HELLO, layout)
    before = files_digest(layout)
    convert(f"oci:{layout}:amd64", f"oci:{layout}:amd64-obd")
    after = files_digest(layout)
    assert {k: v for k, v in after.items() if k in before and k != "index.json"} == {
        k: v for k, v in before.items() if k != "index.json"
    }
    assert check_image(f"oci:{layout}:amd64-obd", f"oci:{layout}:amd64").ok
