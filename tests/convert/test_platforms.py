"""Multi-platform sources: one converted index with the same platforms, ``--platform``
selection, and nested indexes (real upstream layouts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from overlaybd_py.check import check_image
from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.errors import OverlayBDError
from overlaybd_py.oci import parse_platform

from .conftest import E2E_STORE, HELLO, image_of, json_blob, obd

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OVERLAYBD_VERSION = "containerd.io/snapshot/overlaybd/version"


def _platforms(index: dict[str, Any]) -> list[dict[str, str]]:
    return [m["platform"] for m in index["manifests"]]


def _converted_index(layout: Path, tag: str) -> dict[str, Any]:
    descriptor = image_of(layout, tag)
    assert descriptor["mediaType"] == OCI_INDEX
    index: dict[str, Any] = json_blob(layout, descriptor["digest"])
    assert index["mediaType"] == OCI_INDEX
    for child in index["manifests"]:
        assert child["mediaType"] == OCI_MANIFEST
        manifest = json_blob(layout, child["digest"])
        assert all(
            layer["annotations"][OVERLAYBD_VERSION] == "0.1.0" for layer in manifest["layers"]
        )
    return index


def test_every_platform_of_an_index_is_converted(tmp_path: Path) -> None:
    source_index = json_blob(HELLO, image_of(HELLO, "docker-list")["digest"])
    report = convert(f"oci:{HELLO}:docker-list", f"oci:{tmp_path / 'out'}:list")
    index = _converted_index(tmp_path / "out", "list")
    assert _platforms(index) == _platforms(source_index)
    assert len(report.images) == 9
    for platform in ("linux/arm/v5", "linux/s390x", "linux/riscv64"):
        wanted = [parse_platform(platform)]
        result = check_image(f"oci:{tmp_path / 'out'}:list", f"oci:{HELLO}:docker-list", wanted)
        assert result.ok and result.platform == platform, result.differences


def test_platform_option_selects(tmp_path: Path) -> None:
    target = f"oci:{tmp_path / 'out'}:two"
    result = obd(
        "convert", f"oci:{HELLO}:docker-list", target,
        "--platform", "linux/arm64", "--platform", "linux/386", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [image["platform"] for image in report["images"]] == ["linux/arm64/v8", "linux/386"]
    index = _converted_index(tmp_path / "out", "two")
    assert _platforms(index) == [
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "386", "os": "linux"},
    ]


def test_nested_index_is_flattened(tmp_path: Path) -> None:
    convert(f"oci:{E2E_STORE}:nested-index", f"oci:{tmp_path / 'out'}:nested")
    index = _converted_index(tmp_path / "out", "nested")
    assert _platforms(index) == [
        {"architecture": "386", "os": "linux"},
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    result = obd(
        "check", f"oci:{tmp_path / 'out'}:nested", "--against", f"oci:{E2E_STORE}:nested-index",
        "--platform", "linux/386",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_media_types_keep_the_source_index_type(tmp_path: Path) -> None:
    options = ConvertOptions(oci=False, platforms=(parse_platform("linux/amd64"),))
    convert(f"oci:{HELLO}:docker-list", f"oci:{tmp_path / 'out'}:d", options)
    descriptor = image_of(tmp_path / "out", "d")
    assert descriptor["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    index = json_blob(tmp_path / "out", descriptor["digest"])
    (child,) = index["manifests"]
    manifest = json_blob(tmp_path / "out", child["digest"])
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar"


def test_options_take_platform_text(tmp_path: Path) -> None:
    options = ConvertOptions(platforms=["linux/arm64", parse_platform("linux/386")])
    assert options.platforms == (parse_platform("linux/arm64"), parse_platform("linux/386"))
    report = convert(f"oci:{HELLO}:docker-list", f"oci:{tmp_path / 'out'}:two", options)
    assert [image.platform for image in report.images] == ["linux/arm64/v8", "linux/386"]


@pytest.mark.parametrize(
    ("platforms", "fragment"),
    [
        ("linux/amd64", "must be a list of platforms like ['linux/amd64'], found 'linux/amd64'"),
        ([42], "platforms[0]: expected a Platform or text like 'linux/amd64', found 42"),
        (["linux/amd64", None], "platforms[1]: expected a Platform or text"),
        (["linux"], "expected OS/ARCH[/VARIANT] like 'linux/arm64', found 'linux'"),
    ],
)
def test_options_refuse_what_is_not_a_platform(platforms: object, fragment: str) -> None:
    with pytest.raises(OverlayBDError) as raised:
        ConvertOptions(platforms=platforms)  # type: ignore[arg-type]
    assert fragment in str(raised.value)
