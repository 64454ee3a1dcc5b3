"""Platform parsing, normalisation and selection from real multi-platform layouts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from overlaybd_py.errors import ImageError, NotFoundError
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.manifest import Index
from overlaybd_py.oci.platform import Platform, host_platform, parse_platform

from .conftest import AMD64_MANIFEST, E2E, HELLO, blob_path


def test_parse_and_format() -> None:
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert str(parse_platform("linux/amd64")) == "linux/amd64"
    for bad in ("linux", "linux/", "a/b/c/d", "/amd64"):
        with pytest.raises(ImageError, match="expected OS/ARCH"):
            parse_platform(bad)


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", "linux/amd64"),
        ("AMD64", "linux/amd64"),
        ("aarch64", "linux/arm64/v8"),
        ("arm64", "linux/arm64/v8"),
        ("armv7l", "linux/arm/v7"),
        ("armv6l", "linux/arm/v6"),
        ("i686", "linux/386"),
        ("ppc64le", "linux/ppc64le"),
        ("s390x", "linux/s390x"),
        ("riscv64", "linux/riscv64"),
    ],
)
def test_host_platform_mapping(machine: str, expected: str) -> None:
    assert str(host_platform(machine)) == expected


def test_matching_normalises_aliases_and_default_variants() -> None:
    assert parse_platform("linux/arm64").matches(Platform("linux", "arm64", "v8"))
    assert parse_platform("linux/aarch64").matches(Platform("linux", "arm64"))
    assert parse_platform("linux/arm").matches(Platform("linux", "arm", "v7"))
    assert not parse_platform("linux/arm").matches(Platform("linux", "arm", "v5"))
    assert parse_platform("linux/amd64").matches(Platform("linux", "amd64", "v1"))
    assert not parse_platform("linux/amd64").matches(Platform("windows", "amd64"))


def test_all_platforms_of_a_docker_list() -> None:
    images = OCILayout.open_dir(HELLO).images(tag="docker-list")
    assert [str(i.platform) for i in images] == [
        "linux/amd64",
        "linux/arm/v5",
        "linux/arm/v7",
        "linux/arm64/v8",
        "linux/386",
        "linux/mips64le",
        "linux/ppc64le",
        "linux/riscv64",
        "linux/s390x",
    ]
    for image in images:
        assert image.platform.matches(Platform.from_config(image.config))
        assert image.manifest.media_type == mt.DOCKER_MANIFEST
        assert image.layers[0].media_type == mt.DOCKER_LAYER_GZIP


def test_select_platforms_keeps_source_order() -> None:
    images = OCILayout.open_dir(HELLO).images(
        tag="docker-list", platforms=[parse_platform("linux/s390x"), parse_platform("linux/arm64")]
    )
    assert [str(i.platform) for i in images] == ["linux/arm64/v8", "linux/s390x"]


def test_nested_index_is_flattened() -> None:
    images = OCILayout.open_dir(E2E).images(tag="nested-index")
    assert [str(i.platform) for i in images] == ["linux/386", "linux/amd64", "linux/arm64/v8"]
    outer = "sha256:9f32e20678dd3c4e7474ed063fcdaa62d32fef2046458f57efae408eccb1f935"
    inner = "sha256:a88a816b83f40e5d7b73eda36a450e1b07c5982840f13b0d2a1048adb98571c2"
    assert [[p.digest for p in i.parents] for i in images] == [
        [outer],
        [outer, inner],
        [outer, inner],
    ]
    amd64 = OCILayout.open_dir(E2E).images(tag="nested-index", platforms=[host_platform("x86_64")])
    assert [i.descriptor.digest for i in amd64] == [AMD64_MANIFEST]


def test_missing_platform_names_the_choices() -> None:
    with pytest.raises(NotFoundError) as info:
        OCILayout.open_dir(E2E).images(
            tag="nested-index", platforms=[parse_platform("linux/sparc")]
        )
    assert str(info.value).endswith("available: linux/386, linux/amd64, linux/arm64/v8")


def test_single_manifest_ignores_platform_filter(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        images = OCILayout.open_dir(HELLO).images(tag="arm64", platforms=[host_platform("x86_64")])
    assert [str(i.platform) for i in images] == ["linux/arm64/v8"]
    assert "single linux/arm64/v8 image" in caplog.text


def test_attestation_manifests_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A BuildKit-style index: an image plus its attestation manifest."""
    source = OCILayout.open_dir(HELLO)
    amd64 = source.images(tag="amd64")[0]
    attestation_target = Descriptor(
        mt.OCI_MANIFEST,
        amd64.descriptor.digest,
        amd64.descriptor.size,
        annotations={
            mt.ANNOTATION_DOCKER_REFERENCE_TYPE: mt.ATTESTATION_MANIFEST,
            mt.ANNOTATION_DOCKER_REFERENCE_DIGEST: amd64.descriptor.digest,
        },
        platform=Platform("unknown", "unknown"),
    )
    image_entry = Descriptor(
        amd64.descriptor.media_type,
        amd64.descriptor.digest,
        amd64.descriptor.size,
        platform=Platform("linux", "amd64"),
    )
    index = Index((image_entry, attestation_target))
    with LayoutWriter(tmp_path / "att", "buildkit") as writer:
        for digest in (
            amd64.descriptor.digest,
            amd64.manifest.config.digest,
            amd64.layers[0].digest,
        ):
            writer.put_blob(blob_path(HELLO, digest).read_bytes())
        writer.put_manifest(index.to_bytes(), mt.OCI_INDEX, tag="buildkit")
    with caplog.at_level(logging.WARNING):
        images = OCILayout.open_dir(tmp_path / "att").images()
    assert [i.descriptor.digest for i in images] == [amd64.descriptor.digest]
    assert "skipping attestation manifest" in caplog.text
