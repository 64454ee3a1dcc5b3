"""The referrer manifest we build: exact fields, order and bytes (spec §8)."""

from __future__ import annotations

import json

import pytest

from overlaybd_py.errors import ImageError
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.digest import sha256_digest
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.platform import Platform
from overlaybd_py.streaming.referrer import build_referrer, resolve_artifact_type
from tests.conftest import HELLO_LAYOUT

# Upstream's converted hello-world manifest and its source (spec §10).
CONVERTED = "sha256:42caa56a19e082b872d43f645bb392e25c9e78bce429755bd709fac598265f88"
SOURCE = "sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3"
AMD64 = Platform("linux", "amd64")


def _upstream() -> tuple[bytes, Descriptor]:
    layout = OCILayout.open_dir(HELLO_LAYOUT)
    converted = layout.fetch(layout.resolve(digest=CONVERTED))
    source = layout.resolve(digest=SOURCE)
    assert len(layout.fetch(source)) == source.size == 525
    return converted, source


def test_referrer_of_upstream_conversion() -> None:
    converted, source = _upstream()
    data = build_referrer(converted, source, AMD64).to_bytes()
    body = json.loads(data)
    upstream = json.loads(converted)

    assert list(body) == [
        "schemaVersion",
        "mediaType",
        "artifactType",
        "config",
        "layers",
        "subject",
        "annotations",
    ]
    assert body["mediaType"] == mt.OCI_MANIFEST
    assert body["artifactType"] == "application/vnd.azure.artifact.streaming.v1"
    assert body["subject"] == {
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": SOURCE,
        "size": 525,
    }
    assert body["annotations"] == {
        "streaming.format": "overlaybd",
        "streaming.platform.arch": "amd64",
        "streaming.platform.os": "linux",
        "streaming.version": "v1",
    }
    assert body["config"] == upstream["config"]
    assert body["layers"] == upstream["layers"]
    # Compact Go-style JSON: the referrer's bytes are exactly the upstream bytes with the
    # three fields spliced in.
    head, tail = converted.split(b',"config"', 1)
    assert data.startswith(head + b',"artifactType":"application/vnd.azure.artifact.streaming.v1"')
    assert b',"config"' + tail[:-1] in data
    assert sha256_digest(data) != CONVERTED


def test_native_alias_and_platform_from_argument() -> None:
    converted, source = _upstream()
    arm = Platform("linux", "arm64", "v8")
    manifest = build_referrer(converted, source, arm, "overlaybd-native")
    assert manifest.artifact_type == "application/vnd.containerd.overlaybd.native.v1+json"
    assert manifest.annotations["streaming.platform.arch"] == "arm64"
    assert resolve_artifact_type(None) == mt.ARTIFACT_AZURE_STREAMING
    assert resolve_artifact_type("application/x.custom") == "application/x.custom"
    with pytest.raises(ImageError, match="--artifact-type"):
        resolve_artifact_type("bogus")


def test_subject_keeps_only_media_type_digest_size() -> None:
    converted, source = _upstream()
    decorated = source.with_annotations({"org.opencontainers.image.ref.name": "amd64"})
    body = json.loads(build_referrer(converted, decorated, AMD64).to_bytes())
    assert set(body["subject"]) == {"mediaType", "digest", "size"}


def test_rejects_docker_converted_manifest_and_index_subject() -> None:
    converted, source = _upstream()
    docker = json.loads(converted)
    docker["mediaType"] = mt.DOCKER_MANIFEST
    with pytest.raises(ImageError, match="OCI media types"):
        build_referrer(json.dumps(docker).encode(), source, AMD64)
    index = Descriptor(mt.OCI_INDEX, source.digest, source.size)
    with pytest.raises(ImageError, match="single-platform manifest"):
        build_referrer(converted, index, AMD64)
