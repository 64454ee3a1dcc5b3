"""The hello-world conversion against upstream's ``amd64-converted``: same shape, byte for byte
except digests and sizes; and converting twice gives the same digests."""

from __future__ import annotations

import json
from pathlib import Path

from overlaybd_py.check import check_image
from overlaybd_py.convert import convert
from overlaybd_py.io import FileSource
from overlaybd_py.layer import open_layer_blob

from .conftest import HELLO, blob, image_of, json_blob

UPSTREAM_TAG = "amd64-converted"
ANNOTATION = "containerd.io/snapshot/overlaybd/"
HELLO_UUID = "01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"  # chainID of the single diff ID (spec §5.1)
NULL_UUID = "00000000-0000-0000-0000-000000000000"


def _convert_hello(tmp_path: Path, name: str = "out") -> Path:
    out = tmp_path / name
    convert(f"oci:{HELLO}:amd64", f"oci:{out}:converted")
    return out


def _layer_uuids(layout: Path, digest: str) -> tuple[str, str]:
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    with FileSource(path) as source:
        header = open_layer_blob(source).lsmt.header
        return header.uuid, header.parent_uuid


def test_manifest_and_config_have_upstreams_shape(tmp_path: Path) -> None:
    ours_layout = _convert_hello(tmp_path)
    ours_descriptor = image_of(ours_layout, "converted")
    theirs_descriptor = image_of(HELLO, UPSTREAM_TAG)
    assert ours_descriptor["mediaType"] == theirs_descriptor["mediaType"]

    ours_raw = blob(ours_layout, ours_descriptor["digest"])
    theirs_raw = blob(HELLO, theirs_descriptor["digest"])
    ours, theirs = json.loads(ours_raw), json.loads(theirs_raw)
    assert list(ours) == list(theirs) == ["schemaVersion", "mediaType", "config", "layers"]
    assert ours["mediaType"] == theirs["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert list(ours["config"]) == list(theirs["config"])
    assert ours["config"]["mediaType"] == theirs["config"]["mediaType"]
    assert len(ours["layers"]) == len(theirs["layers"]) == 1

    ours_layer, theirs_layer = ours["layers"][0], theirs["layers"][0]
    assert list(ours_layer) == list(theirs_layer)
    assert ours_layer["mediaType"] == theirs_layer["mediaType"]
    assert list(ours_layer["annotations"]) == list(theirs_layer["annotations"])
    for layer in (ours_layer, theirs_layer):
        notes = layer["annotations"]
        assert notes[ANNOTATION + "blob-digest"] == layer["digest"]
        assert notes[ANNOTATION + "blob-size"] == str(layer["size"])
        assert notes[ANNOTATION + "version"] == "0.1.0"

    # Only digests and sizes may differ: substituting upstream's gives upstream's bytes.
    ours_config_raw = blob(ours_layout, ours["config"]["digest"])
    theirs_config_raw = blob(HELLO, theirs["config"]["digest"])
    ours_config = json.loads(ours_config_raw)
    assert ours_config["rootfs"]["diff_ids"] == [ours_layer["digest"]]  # diff_id = blob digest
    assert (
        ours_config_raw.replace(ours_layer["digest"].encode(), theirs_layer["digest"].encode())
        == theirs_config_raw
    )
    substituted = (
        ours_raw.replace(ours_layer["digest"].encode(), theirs_layer["digest"].encode())
        .replace(ours["config"]["digest"].encode(), theirs["config"]["digest"].encode())
        .replace(f'"{ours_layer["size"]}"'.encode(), f'"{theirs_layer["size"]}"'.encode())
        .replace(f":{ours_layer['size']},".encode(), f":{theirs_layer['size']},".encode())
        .replace(f":{ours['config']['size']}}}".encode(), f":{theirs['config']['size']}}}".encode())
    )
    assert substituted == theirs_raw


def test_layer_uuid_is_read_back_from_the_blob(tmp_path: Path) -> None:
    layout = _convert_hello(tmp_path)
    manifest = json_blob(layout, image_of(layout, "converted")["digest"])
    upstream = json_blob(HELLO, image_of(HELLO, UPSTREAM_TAG)["digest"])
    assert _layer_uuids(layout, manifest["layers"][0]["digest"]) == (HELLO_UUID, NULL_UUID)
    assert _layer_uuids(HELLO, upstream["layers"][0]["digest"]) == (HELLO_UUID, NULL_UUID)


def test_converting_twice_gives_identical_digests(tmp_path: Path) -> None:
    first = convert(f"oci:{HELLO}:amd64", f"oci:{tmp_path / 'a'}:x")
    second = convert(f"oci:{HELLO}:amd64", f"oci:{tmp_path / 'b'}:x")
    assert first.digest == second.digest
    assert [layer.blob_digest for layer in first.images[0].layers] == [
        layer.blob_digest for layer in second.images[0].layers
    ]
    assert (tmp_path / "a" / "index.json").read_bytes() == (
        tmp_path / "b" / "index.json"
    ).read_bytes()


def test_converted_hello_world_passes_check(tmp_path: Path) -> None:
    layout = _convert_hello(tmp_path)
    report = check_image(f"oci:{layout}:converted", f"oci:{HELLO}:amd64")
    assert report.ok, report.differences
