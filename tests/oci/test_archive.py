"""oci-archive round trips and docker-archive (``docker save``) reading."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from overlaybd_py.errors import ChecksumError, ImageError, NotFoundError, UnsupportedError
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.archive import OCIArchiveWriter, TarStorage, open_oci_archive
from overlaybd_py.oci.image import StoreSource, open_source, open_target
from overlaybd_py.oci.layout import OCILayout

from .conftest import (
    AMD64_CONFIG,
    AMD64_DIFF_ID,
    AMD64_LAYER,
    AMD64_MANIFEST,
    CONVERTED_LAYER,
    CONVERTED_MANIFEST,
    HELLO,
    blob_path,
    snapshot,
)
from .test_layout import copy_image


def test_oci_archive_round_trip(tmp_path: Path) -> None:
    archive = tmp_path / "img.tar"
    source = OCILayout.open_dir(HELLO)
    target = open_target(f"oci-archive:{archive}:converted")
    assert isinstance(target, OCIArchiveWriter)
    copy_image(source.images("amd64-converted")[0], source, target, "converted")
    assert not archive.exists()
    target.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tar"]

    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[:4] == ["index.json", "oci-layout", "blobs", "blobs/sha256"]
    assert names[4:] == sorted(names[4:]) and f"blobs/sha256/{CONVERTED_LAYER[7:]}" in names

    with open_source(f"oci-archive:{archive}:converted") as image_source:
        assert isinstance(image_source, StoreSource)
        assert isinstance(image_source.store.storage, TarStorage)  # type: ignore[attr-defined]
        (image,) = image_source.resolve()
        assert image.descriptor.digest == CONVERTED_MANIFEST
        with image_source.open_blob(image.layers[0]) as stream:
            assert stream.read() == blob_path(HELLO, CONVERTED_LAYER).read_bytes()

    # Adding to an existing archive keeps what it had.
    with OCIArchiveWriter(archive) as again:
        copy_image(source.images("amd64")[0], source, again, "source")
    with open_oci_archive(str(archive)) as layout:
        assert layout.tags() == ["converted", "source"]
        assert layout.images("source")[0].descriptor.digest == AMD64_MANIFEST


def test_oci_archive_failure_leaves_archive_unchanged(tmp_path: Path) -> None:
    archive = tmp_path / "img.tar"
    source = OCILayout.open_dir(HELLO)
    with OCIArchiveWriter(archive, "a") as writer:
        copy_image(source.images("amd64")[0], source, writer, "a")
    before = archive.read_bytes()
    with pytest.raises(RuntimeError), OCIArchiveWriter(archive, "b") as writer:
        copy_image(source.images("arm64")[0], source, writer, "b")
        raise RuntimeError("interrupted")
    assert archive.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tar"]


def test_gzip_compressed_oci_archive_is_extracted(tmp_path: Path) -> None:
    archive = tmp_path / "img.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(HELLO, arcname=".")
    layout = open_oci_archive(str(archive))
    temp = Path(layout.storage.root)  # type: ignore[attr-defined]
    assert temp.is_dir()
    assert [str(i.platform) for i in layout.images("docker-list")][:2] == [
        "linux/amd64",
        "linux/arm/v5",
    ]
    layout.close()
    assert not temp.exists()


def test_archive_member_escaping_root_is_ignored(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("../oci-layout", b"{}"), ("/index.json", b"{}"), ("./a/b", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert TarStorage(str(archive)).names() == ["a/b"]
    with pytest.raises(ImageError, match="expected the oci-layout file"):
        open_oci_archive(str(archive))
    with pytest.raises(NotFoundError, match="archive does not exist"):
        open_oci_archive(str(tmp_path / "missing.tar"))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def build_docker_save(path: Path, *, gzip_layers: bool = False, images: int = 1) -> None:
    """A ``docker save`` archive of hello-world amd64, built from the layout's blobs."""
    config = blob_path(HELLO, AMD64_CONFIG).read_bytes()
    compressed = blob_path(HELLO, AMD64_LAYER).read_bytes()
    layer = compressed if gzip_layers else gzip.decompress(compressed)
    entries = []
    with tarfile.open(path, "w") as tar:
        _add(tar, f"{AMD64_CONFIG[7:]}.json", config)
        _add(tar, "f00d/layer.tar", layer)
        _add(tar, "f00d/VERSION", b"1.0")
        for i in range(images):
            entries.append(
                {
                    "Config": f"{AMD64_CONFIG[7:]}.json",
                    "RepoTags": [f"hello-world:v{i}"],
                    "Layers": ["f00d/layer.tar"],
                }
            )
        _add(tar, "manifest.json", json.dumps(entries).encode())
        _add(tar, "repositories", json.dumps({"hello-world": {"v0": "f00d"}}).encode())


def test_docker_archive_read(tmp_path: Path) -> None:
    archive = tmp_path / "save.tar"
    build_docker_save(archive)
    with open_source(f"docker-archive:{archive}") as source:
        (image,) = source.resolve()
        assert str(image.platform) == "linux/amd64"
        assert image.manifest.media_type == mt.DOCKER_MANIFEST
        assert image.manifest.config.digest == AMD64_CONFIG
        assert image.config_bytes == blob_path(HELLO, AMD64_CONFIG).read_bytes()
        (layer,) = image.layers
        assert layer.media_type == mt.DOCKER_LAYER_TAR
        assert layer.digest == AMD64_DIFF_ID == image.diff_ids[0]
        with source.open_blob(layer) as stream:
            tar_bytes = stream.read()
        assert len(tar_bytes) == layer.size
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as layer_tar:
            assert "hello" in layer_tar.getnames()


def test_docker_archive_with_gzip_layers_hashes_them(tmp_path: Path) -> None:
    archive = tmp_path / "save.tar"
    build_docker_save(archive, gzip_layers=True)
    with open_source(f"docker-archive:{archive}:hello-world:v0") as source:
        (layer,) = source.resolve()[0].layers
    assert (layer.media_type, layer.digest) == (mt.DOCKER_LAYER_GZIP, AMD64_LAYER)


def test_docker_archive_selection(tmp_path: Path) -> None:
    archive = tmp_path / "save.tar"
    build_docker_save(archive, images=2)
    with pytest.raises(ImageError, match="choose one of: hello-world:v0, hello-world:v1"):
        open_source(f"docker-archive:{archive}")
    with open_source(f"docker-archive:{archive}:docker.io/library/hello-world:v1") as source:
        assert source.root().media_type == mt.DOCKER_MANIFEST
    with open_source(f"docker-archive:{archive}:@1") as source:
        assert source.resolve()[0].layers[0].digest == AMD64_DIFF_ID
    with pytest.raises(NotFoundError, match="no image @2; the archive holds 2"):
        open_source(f"docker-archive:{archive}:@2")
    with pytest.raises(NotFoundError, match="no image named docker.io/library/busybox:latest"):
        open_source(f"docker-archive:{archive}:busybox")


def test_docker_archive_corrupt_layer_is_detected(tmp_path: Path) -> None:
    archive = tmp_path / "save.tar"
    build_docker_save(archive)
    data = bytearray(archive.read_bytes())
    offset = data.index(b"hello\x00") + 2048  # inside the layer's file data
    data[offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    with open_source(f"docker-archive:{archive}") as source:
        (layer,) = source.resolve()[0].layers
        with pytest.raises(ChecksumError, match=f"expected digest {AMD64_DIFF_ID}"):
            source.open_blob(layer).read()


def test_legacy_docker_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "old.tar"
    with tarfile.open(archive, "w") as tar:
        _add(tar, "repositories", b"{}")
    with pytest.raises(UnsupportedError, match="before 1.10"):
        open_source(f"docker-archive:{archive}")


def test_registry_transport_is_pluggable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from overlaybd_py.oci import image as oci_image

    # The registry package registers docker:// when imported; without it, none exists.
    monkeypatch.delitem(oci_image._SOURCES, "docker", raising=False)
    with pytest.raises(UnsupportedError, match="no docker transport is available"):
        open_source("docker://registry.example/x:y")
    with pytest.raises(ImageError, match="named by a tag, not a digest"):
        open_target(f"oci:{tmp_path}@sha256:{'a' * 64}")
    assert snapshot(tmp_path) == {}


def test_open_layer_checks_diff_id(tmp_path: Path) -> None:
    from overlaybd_py.oci.layers import open_layer

    with open_source(f"oci:{HELLO}:amd64") as source:
        (image,) = source.resolve()
        with open_layer(source, image, 0) as stream:
            data = stream.read()
    assert data == gzip.decompress(blob_path(HELLO, AMD64_LAYER).read_bytes())

    # A config whose diff ID does not match the layer content.
    archive = tmp_path / "save.tar"
    build_docker_save(archive, gzip_layers=True)
    with open_source(f"docker-archive:{archive}") as source:
        (image,) = source.resolve()
        wrong = image.config.copy()
        wrong["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}
        broken = dataclasses.replace(image, config=wrong)
        with pytest.raises(ChecksumError, match="uncompressed: expected digest sha256:1111"):
            open_layer(source, broken, 0).read()
