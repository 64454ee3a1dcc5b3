"""OCI layouts: resolution, digest checking, transactional writes, referrers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from overlaybd_py.errors import ChecksumError, ImageError, NotFoundError
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.image import ImageTarget, open_source, open_target
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.manifest import Manifest, parse_index
from overlaybd_py.oci.resolve import ResolvedImage

from .conftest import (
    AMD64_LAYER,
    AMD64_MANIFEST,
    CONVERTED_LAYER,
    CONVERTED_MANIFEST,
    E2E,
    HELLO,
    blob_path,
    snapshot,
)


def copy_image(image: ResolvedImage, source: OCILayout, target: ImageTarget, tag: str) -> None:
    """What a convert run does with its target: blobs first, then the manifest."""
    target.put_blob(image.config_bytes, expected=image.manifest.config)
    for layer in image.layers:
        with source.open_blob(layer) as stream:
            target.put_blob(stream, expected=layer)
    target.put_manifest(image.manifest_bytes, image.descriptor.media_type, tag=tag)


def test_resolve_by_tag_digest_and_only_image() -> None:
    layout = OCILayout.open_dir(HELLO)
    assert layout.tags() == ["amd64-converted", "arm64", "docker-list", "amd64"]
    assert layout.resolve("amd64-converted").digest == CONVERTED_MANIFEST
    child = "sha256:084c3bdd1271adc754e2c5f6ba7046f1a2c099597dbd9643592fa8eb99981402"
    assert str(layout.resolve(digest=child).platform) == "linux/arm/v5"
    with pytest.raises(ImageError, match="choose one of: amd64-converted, arm64, docker-list"):
        layout.resolve()
    with pytest.raises(NotFoundError, match="no image tagged 'nope'; tags: amd64-converted"):
        layout.resolve("nope")
    with pytest.raises(NotFoundError, match="no manifest or index with digest"):
        layout.resolve(digest="sha256:" + "0" * 64)
    with pytest.raises(ImageError, match="expected a manifest or index"):
        layout.resolve(digest=AMD64_LAYER)


def test_digest_not_listed_in_index_json(hello_copy: Path) -> None:
    index = parse_index((hello_copy / "index.json").read_bytes(), "index.json")
    docker_list = [m for m in index.manifests if m.ref_name == "docker-list"]
    (hello_copy / "index.json").write_bytes(index.evolve(manifests=tuple(docker_list)).to_bytes())
    layout = OCILayout.open_dir(hello_copy)
    assert layout.resolve().ref_name == "docker-list"
    child = "sha256:084c3bdd1271adc754e2c5f6ba7046f1a2c099597dbd9643592fa8eb99981402"
    assert layout.resolve(digest=child) == Descriptor(mt.DOCKER_MANIFEST, child, 525)
    (image,) = layout.images(digest=child)
    assert str(image.platform) == "linux/arm/v5"  # from the config, no index entry


def test_only_image_in_single_image_layout(tmp_path: Path) -> None:
    source = OCILayout.open_dir(HELLO)
    with LayoutWriter(tmp_path / "one") as writer:
        copy_image(source.images("amd64")[0], source, writer, "only")
    assert OCILayout.open_dir(tmp_path / "one").resolve().digest == AMD64_MANIFEST
    with open_source(f"oci:{tmp_path / 'one'}") as image:
        assert image.root().digest == AMD64_MANIFEST


def test_converted_image_is_readable_through_open_source() -> None:
    with open_source(f"oci:{HELLO}:amd64-converted") as source:
        (image,) = source.resolve()
        assert image.descriptor.digest == CONVERTED_MANIFEST
        assert str(image.platform) == "linux/amd64"
        with source.open_blob(image.layers[0]) as stream:
            head = stream.read(512)
            assert len(stream.read()) + 512 == 642560
        assert head[257:262] == b"ustar"  # the tar wrapper of spec §4
        blob = source.blob_source(image.layers[0])  # type: ignore[attr-defined]
        assert blob.size == 642560 and blob.pread(257, 5) == b"ustar"


def test_corrupted_blob_is_detected(hello_copy: Path) -> None:
    path = blob_path(hello_copy, CONVERTED_LAYER)
    data = bytearray(path.read_bytes())
    data[100_000] ^= 0x01
    path.write_bytes(bytes(data))
    layout = OCILayout.open_dir(hello_copy)
    (image,) = layout.images("amd64-converted")
    with pytest.raises(ChecksumError) as info, layout.open_blob(image.layers[0]) as stream:
        while stream.read(65536):
            pass
    message = str(info.value)
    assert f"expected digest {CONVERTED_LAYER}, found sha256:" in message
    assert CONVERTED_LAYER.split(":")[1] in message and "\n" not in message


def test_truncated_and_oversized_blobs_are_detected(hello_copy: Path) -> None:
    path = blob_path(hello_copy, AMD64_LAYER)
    original = path.read_bytes()
    layer = Descriptor(mt.DOCKER_LAYER_GZIP, AMD64_LAYER, len(original))
    layout = OCILayout.open_dir(hello_copy)
    path.write_bytes(original[:-1])
    with pytest.raises(
        ChecksumError, match=f"expected {len(original)} bytes .* found {len(original) - 1}"
    ):
        layout.open_blob(layer).read()
    path.write_bytes(original + b"x")
    with pytest.raises(ChecksumError, match="found more"):
        layout.open_blob(layer).read()


def test_corrupted_manifest_is_detected(hello_copy: Path) -> None:
    path = blob_path(hello_copy, AMD64_MANIFEST)
    path.write_bytes(path.read_bytes().replace(b"2457", b"2458"))
    with pytest.raises(ChecksumError, match=f"expected digest {AMD64_MANIFEST}"):
        OCILayout.open_dir(hello_copy).images("amd64")


def test_not_a_layout() -> None:
    with pytest.raises(NotFoundError, match="expected an OCI layout directory"):
        OCILayout.open_dir("/nonexistent/layout")
    with pytest.raises(ImageError, match="oci-layout: expected the oci-layout file"):
        OCILayout.open_dir(Path(__file__).parent)


def test_write_new_layout_then_add_a_second_tag(tmp_path: Path) -> None:
    source = OCILayout.open_dir(HELLO)
    target_dir = tmp_path / "out"
    target = open_target(f"oci:{target_dir}:first")
    assert isinstance(target, LayoutWriter) and target.tag == "first"
    copy_image(source.images("amd64-converted")[0], source, target, "first")
    assert not target_dir.exists()  # nothing visible before commit
    target.commit()
    written = OCILayout.open_dir(target_dir)
    assert written.tags() == ["first"]
    (image,) = written.images("first")
    assert image.manifest_bytes == blob_path(HELLO, CONVERTED_MANIFEST).read_bytes()
    assert (
        written.open_blob(image.layers[0]).read() == blob_path(HELLO, CONVERTED_LAYER).read_bytes()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind

    with LayoutWriter(target_dir) as again:
        copy_image(source.images("amd64")[0], source, again, "second")
        copy_image(source.images("arm64")[0], source, again, "first")  # moves the tag
    layout = OCILayout.open_dir(target_dir)
    assert layout.tags() == ["second", "first"]
    assert str(layout.images("first")[0].platform) == "linux/arm64/v8"
    index = parse_index((target_dir / "index.json").read_bytes(), "index.json")
    assert index.media_type == mt.OCI_INDEX
    assert not [p for p in (target_dir / "blobs" / "sha256").iterdir() if p.name.startswith(".")]


def test_failed_run_leaves_an_existing_layout_unchanged(hello_copy: Path, tmp_path: Path) -> None:
    """A source layer that fails its digest check half-way through the image."""
    bad = blob_path(hello_copy, CONVERTED_LAYER)
    data = bad.read_bytes()
    bad.write_bytes(data[:-10] + b"0123456789")
    target_dir = tmp_path / "target"
    shutil.copytree(E2E, target_dir)
    before = snapshot(target_dir)

    source = OCILayout.open_dir(hello_copy)
    (image,) = source.images("amd64-converted")
    with pytest.raises(ChecksumError, match="expected digest"), LayoutWriter(target_dir) as writer:
        writer.put_manifest(
            blob_path(HELLO, AMD64_MANIFEST).read_bytes(), mt.DOCKER_MANIFEST, root=True
        )
        writer.put_blob(b"a brand new blob")
        copy_image(image, source, writer, "multi-arch")
    assert snapshot(target_dir) == before


def test_failed_run_does_not_create_a_new_layout(tmp_path: Path) -> None:
    source = OCILayout.open_dir(HELLO)
    image = source.images("amd64")[0]
    wrong = Descriptor(mt.DOCKER_LAYER_GZIP, image.layers[0].digest, image.layers[0].size + 1)
    error = pytest.raises(ChecksumError, match="expected 2458 bytes, received 2457")
    with error, LayoutWriter(tmp_path / "new", "t") as writer:
        writer.put_blob(image.config_bytes, expected=image.manifest.config)
        with source.open_blob(image.layers[0]) as stream:
            writer.put_blob(stream.read(), expected=wrong)
    assert list(tmp_path.iterdir()) == []


def test_explicit_abort_and_use_after_finish(hello_copy: Path) -> None:
    before = snapshot(hello_copy)
    writer = LayoutWriter(hello_copy)
    writer.put_manifest(b'{"schemaVersion":2,"manifests":[]}', mt.OCI_INDEX, tag="empty")
    writer.abort()
    assert snapshot(hello_copy) == before
    with pytest.raises(ImageError, match="already finished"):
        writer.put_blob(b"x")


def test_refuses_a_non_layout_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ImageError, match="expected an OCI layout directory"):
        LayoutWriter(tmp_path)


def test_streaming_blob_writer(tmp_path: Path) -> None:
    with LayoutWriter(tmp_path / "s", "t") as writer:
        blob = writer.blob_writer()
        for _ in range(5):
            blob.write(b"z" * 1_000_000)
        descriptor = writer.finish_blob(blob, mt.OCI_LAYER_TAR)
        assert descriptor.size == 5_000_000
        config = writer.put_blob(b"{}", mt.OCI_CONFIG)
        manifest = Manifest(config, (descriptor,))
        writer.put_manifest(manifest.to_bytes(), mt.OCI_MANIFEST, tag="t")
    layout = OCILayout.open_dir(tmp_path / "s")
    assert layout.open_blob(descriptor).read() == b"z" * 5_000_000


def test_referrers_are_stored_and_found(tmp_path: Path) -> None:
    source = OCILayout.open_dir(HELLO)
    image = source.images("amd64")[0]
    target_dir = tmp_path / "ref"
    with LayoutWriter(target_dir) as writer:
        copy_image(image, source, writer, "v1")
    converted = source.images("amd64-converted")[0]
    referrer = converted.manifest.evolve(
        artifact_type=mt.ARTIFACT_AZURE_STREAMING,
        subject=image.descriptor.plain(),
        annotations={
            mt.ANNOTATION_STREAMING_FORMAT: mt.STREAMING_FORMAT_OVERLAYBD,
            mt.ANNOTATION_STREAMING_VERSION: mt.STREAMING_VERSION_V1,
            mt.ANNOTATION_STREAMING_OS: "linux",
            mt.ANNOTATION_STREAMING_ARCH: "amd64",
        },
    )
    with LayoutWriter(target_dir) as writer:
        copy_image(converted, source, writer, "unused")
        stored = writer.put_manifest(referrer.to_bytes(), mt.OCI_MANIFEST)
    layout = OCILayout.open_dir(target_dir)
    found = layout.referrers(image.descriptor.digest)
    assert [d.digest for d in found] == [stored.digest]
    assert found[0].artifact_type == mt.ARTIFACT_AZURE_STREAMING
    assert found[0].annotations[mt.ANNOTATION_STREAMING_ARCH] == "amd64"
    assert layout.referrers(image.descriptor.digest, mt.ARTIFACT_OVERLAYBD_NATIVE) == []
    assert layout.referrers(CONVERTED_MANIFEST) == []
    # The untagged referrer entry never counts as "the image" of the layout.
    assert layout.resolve("v1").digest == image.descriptor.digest
    # A listed manifest whose blob is gone is skipped, not fatal to the listing.
    (target_dir / "blobs/sha256" / stored.digest.split(":")[1]).unlink()
    assert OCILayout.open_dir(target_dir).referrers(image.descriptor.digest) == []


def test_existing_empty_directory_becomes_a_layout(tmp_path: Path) -> None:
    target_dir = tmp_path / "empty"
    target_dir.mkdir()
    source = OCILayout.open_dir(HELLO)
    image = source.images("amd64")[0]
    with LayoutWriter(target_dir) as writer:
        copy_image(image, source, writer, "t")
    assert OCILayout.open_dir(target_dir).resolve().digest == AMD64_MANIFEST
    plain = image.descriptor.plain()
    assert len({plain, plain.with_annotations({"a": "b"}), plain.with_annotations(None)}) == 2
