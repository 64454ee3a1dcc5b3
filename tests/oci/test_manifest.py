"""Manifests, indexes and configs: parse every real one, re-serialise byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overlaybd_py.errors import ImageError, UnsupportedError
from overlaybd_py.oci import gojson
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.config import diff_ids, go_time, parse_config, rewrite_config
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.manifest import Index, Manifest, parse_any, parse_index, parse_manifest
from overlaybd_py.oci.platform import Platform

from .conftest import (
    AMD64_CONFIG,
    CONVERTED_CONFIG,
    CONVERTED_LAYER,
    CONVERTED_MANIFEST,
    E2E,
    HELLO,
    UCONV,
    blob_path,
)


def _json_blobs(layout: Path) -> list[Path]:
    return [
        p for p in sorted((layout / "blobs" / "sha256").iterdir()) if p.read_bytes()[:1] == b"{"
    ]


@pytest.mark.parametrize("layout", [HELLO, E2E], ids=["hello-world", "e2e-store"])
def test_every_json_blob_parses(layout: Path) -> None:
    counts = {"manifest": 0, "index": 0, "config": 0}
    for path in _json_blobs(layout):
        data = path.read_bytes()
        obj = json.loads(data)
        if "rootfs" in obj:
            config = parse_config(data, str(path))
            assert len(diff_ids(config, str(path))) == 1
            counts["config"] += 1
            continue
        parsed = parse_any(data, str(path))
        if isinstance(parsed, Index):
            assert parsed.media_type == mt.DOCKER_MANIFEST_LIST
            assert all(
                m.platform is not None or mt.is_index(m.media_type) for m in parsed.manifests
            )
            counts["index"] += 1
        else:
            assert len(parsed.layers) == 1
            assert mt.is_config(parsed.config.media_type)
            counts["manifest"] += 1
    assert all(counts.values()), counts
    index = parse_index((layout / "index.json").read_bytes(), "index.json")
    assert index.manifests and index.media_type == ""


def test_converted_manifest_reserialises_byte_exact() -> None:
    data = blob_path(HELLO, CONVERTED_MANIFEST).read_bytes()
    manifest = parse_manifest(data, "converted")
    assert manifest.to_bytes() == data
    layer = manifest.layers[0]
    assert layer.media_type == mt.OCI_LAYER_TAR
    assert layer.digest == CONVERTED_LAYER and layer.size == 642560
    assert dict(layer.annotations) == {
        mt.ANNOTATION_BLOB_DIGEST: CONVERTED_LAYER,
        mt.ANNOTATION_BLOB_SIZE: "642560",
        mt.ANNOTATION_VERSION: mt.OVERLAYBD_VERSION,
    }
    assert manifest.config == Descriptor(mt.OCI_CONFIG, CONVERTED_CONFIG, 584)


def test_building_the_converted_manifest_from_parts_gives_upstream_bytes() -> None:
    layer = Descriptor(
        mt.OCI_LAYER_TAR,
        CONVERTED_LAYER,
        642560,
        annotations={
            mt.ANNOTATION_VERSION: mt.OVERLAYBD_VERSION,
            mt.ANNOTATION_BLOB_SIZE: "642560",
            mt.ANNOTATION_BLOB_DIGEST: CONVERTED_LAYER,
        },
    )
    config = Descriptor(mt.OCI_CONFIG, CONVERTED_CONFIG, 584)
    built = Manifest(config, (layer,), media_type=mt.OCI_MANIFEST).to_bytes()
    assert built == blob_path(HELLO, CONVERTED_MANIFEST).read_bytes()


UCONV_IMAGES = sorted(p.name for p in UCONV.iterdir())


@pytest.mark.parametrize("image", UCONV_IMAGES)
def test_upstream_reproduce_manifests_reserialise_byte_exact(image: str) -> None:
    data = (UCONV / image / "manifest.json").read_bytes()
    manifest = parse_manifest(data, image)
    assert manifest.to_bytes() == data
    assert all(
        layer.annotations[mt.ANNOTATION_BLOB_DIGEST] == layer.digest for layer in manifest.layers
    )


@pytest.mark.parametrize("image", UCONV_IMAGES)
def test_upstream_config_form_is_byte_exact(image: str) -> None:
    data = (UCONV / image / "config.json").read_bytes()
    ids = diff_ids(parse_config(data, image), image)
    assert rewrite_config(data, ids, upstream=True) == data


def test_rewrite_of_hello_world_config_gives_upstream_converted_config() -> None:
    source = blob_path(HELLO, AMD64_CONFIG).read_bytes()
    expected = blob_path(HELLO, CONVERTED_CONFIG).read_bytes()
    assert rewrite_config(source, [CONVERTED_LAYER], upstream=True) == expected


def test_rewrite_keeping_fields_only_changes_diff_ids() -> None:
    source = blob_path(HELLO, AMD64_CONFIG).read_bytes()
    out = rewrite_config(source, [CONVERTED_LAYER])
    before, after = json.loads(source), json.loads(out)
    assert list(after) == list(before)
    assert after["rootfs"]["diff_ids"] == [CONVERTED_LAYER]
    after["rootfs"]["diff_ids"] = before["rootfs"]["diff_ids"]
    assert after == before
    # The source blob is already compact Go output, so only the digest text differs.
    assert out == source.replace(before["rootfs"]["diff_ids"][0].encode(), CONVERTED_LAYER.encode())


def test_go_escaping() -> None:
    assert gojson.dumps({"b": "<a&b>", "a": "é\u2028", "c": "\n\x01"}) == (
        b'{"b":"\\u003ca\\u0026b\\u003e","a":"\xc3\xa9\\u2028","c":"\\n\\u0001"}'
    )
    assert gojson.dumps(json.loads('"\\ud800"')) == '"\ufffd"'.encode()


def test_go_time_formatting() -> None:
    assert go_time("2023-05-04T17:37:03.872958712Z", "t") == "2023-05-04T17:37:03.872958712Z"
    assert go_time("2023-05-04T17:37:03.870000000Z", "t") == "2023-05-04T17:37:03.87Z"
    assert go_time("2023-05-04T17:37:03.000Z", "t") == "2023-05-04T17:37:03Z"
    assert go_time("2023-05-04T17:37:03+00:00", "t") == "2023-05-04T17:37:03Z"
    assert go_time("2023-05-04T17:37:03-07:00", "t") == "2023-05-04T17:37:03-07:00"
    with pytest.raises(ImageError, match="expected an RFC 3339 time"):
        go_time("yesterday", "history[0].created")


def test_index_round_trip_with_referrer_fields() -> None:
    subject = Descriptor(mt.OCI_INDEX, CONVERTED_MANIFEST, 641)
    child = Descriptor(
        mt.OCI_MANIFEST, CONVERTED_MANIFEST, 641, platform=Platform("linux", "arm64", "v8")
    )
    index = Index(
        (child,),
        artifact_type=mt.ARTIFACT_OVERLAYBD_NATIVE,
        subject=subject,
        annotations={"z": "1", "a": "2"},
    )
    data = index.to_bytes()
    assert list(json.loads(data)) == [
        "schemaVersion",
        "mediaType",
        "artifactType",
        "manifests",
        "subject",
        "annotations",
    ]
    assert b'"annotations":{"a":"2","z":"1"}' in data
    assert b'"platform":{"architecture":"arm64","os":"linux","variant":"v8"}' in data
    assert parse_index(data, "x") == index
    manifest = Manifest(child, (), artifact_type="t", subject=subject)
    assert list(json.loads(manifest.to_bytes())) == [
        "schemaVersion",
        "mediaType",
        "artifactType",
        "config",
        "layers",
        "subject",
    ]
    assert parse_manifest(manifest.to_bytes(), "m") == manifest


GOOD = blob_path(HELLO, CONVERTED_MANIFEST).read_bytes()
MALFORMED = [
    (GOOD[:100], ImageError, "expected JSON, found a syntax error at offset"),
    (b"\xff{}", ImageError, "expected UTF-8 JSON"),
    (b"[]", ImageError, "expected a JSON object, found array"),
    (GOOD.replace(b'"schemaVersion":2', b'"schemaVersion":1'), UnsupportedError, "schema 1"),
    (GOOD.replace(b'"schemaVersion":2', b'"schemaVersion":"2"'), ImageError, "expected 2"),
    (GOOD.replace(b'"size":642560', b'"size":-1'), ImageError, "m.layers[0].size: expected"),
    (
        GOOD.replace(b'"digest":"sha256:0222', b'"digest":"sha256:XX22'),
        ImageError,
        "m.layers[0].digest: expected a digest",
    ),
    (
        GOOD.replace(b"vnd.oci.image.manifest.v1+json", b"vnd.oci.image.index.v1+json"),
        ImageError,
        "m.mediaType: expected manifest type",
    ),
    (
        GOOD.replace(b'"layers":[', b'"layers":{"x":[').replace(b"}}]}", b"}}]}}"),
        ImageError,
        "m.layers: expected an array, found object",
    ),
    (
        GOOD.replace(b'/blob-size":"642560"', b'/blob-size":642560'),
        ImageError,
        "m.layers[0].annotations: expected an object of strings",
    ),
]


@pytest.mark.parametrize(
    ("data", "error", "message"), MALFORMED, ids=[m[2][:30] for m in MALFORMED]
)
def test_malformed_manifests_give_one_line_errors(data: bytes, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        parse_manifest(data, "m")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_any_sniffs_untyped_json() -> None:
    index = b'{"schemaVersion":2,"manifests":[]}'
    assert isinstance(parse_any(index, "x"), Index)
    with pytest.raises(UnsupportedError, match="expected an image manifest or index"):
        parse_any(b'{"schemaVersion":2}', "x")


def test_config_without_rootfs_is_rejected() -> None:
    with pytest.raises(ImageError, match=r"c\.rootfs: expected an object, found null"):
        parse_config(b'{"architecture":"amd64"}', "c")
