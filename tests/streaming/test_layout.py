"""Publish, list and verify streaming referrers in OCI layouts, with faults."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.errors import ImageError, NotFoundError
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.platform import Platform
from overlaybd_py.streaming.discover import list_referrers
from overlaybd_py.streaming.publish import publish_converted, publish_report
from overlaybd_py.streaming.verify import verify_image

from .conftest import INDEX_TAG, Converted, convert_into, copy_hello
from .helpers import failed, flip_byte, layout_blob, passed_names, store_manifest

SHALLOW_CHECKS = {
    "referrer.found",
    "manifest.media-type",
    "manifest.schema",
    "artifact-type",
    "subject",
    "annotations",
    "layer[0].annotations",
    "config",
    "config.blob",
    "layer[0].blob",
    "layer[0].format",
}
DEEP_CHECKS = {"layer[0].digest", "layer[0].crc", "disk.ext4"}


def _referrer_body(converted: Converted) -> dict:
    """The JSON of the published referrer (for hand-made variants)."""
    published = publish_report(converted.report)
    layout = OCILayout.open_dir(converted.layout)
    entry = layout.resolve(digest=published[0].referrer)
    return json.loads(layout.fetch(entry))


def test_publish_list_verify(converted: Converted) -> None:
    results = publish_report(converted.report)

    assert [r.action for r in results] == ["pushed"]
    result = results[0]
    assert result.subject == converted.report.images[0].source_manifest
    assert result.indexed_by == "index.json"
    assert set(result.blobs.values()) == {"exists"}
    assert converted.report.referrers == [result.to_dict()]

    listing = list_referrers(converted.source)
    assert len(listing) == 1 and listing[0].platform == "linux/amd64"
    (descriptor,) = listing[0].referrers
    assert descriptor.digest == result.referrer
    assert descriptor.artifact_type == mt.ARTIFACT_AZURE_STREAMING
    assert descriptor.annotations["streaming.platform.arch"] == "amd64"

    shallow = verify_image(converted.source)
    assert shallow.passed, failed(shallow)
    assert passed_names(shallow) == SHALLOW_CHECKS
    deep = verify_image(converted.source, deep=True)
    assert deep.passed, failed(deep)
    assert passed_names(deep) == SHALLOW_CHECKS | DEEP_CHECKS
    ext4 = next(c for c in deep.checks if c.name == "disk.ext4")
    assert "0xEF53" in ext4.detail


def test_existing_skip_replace_add(converted: Converted) -> None:
    first = publish_report(converted.report)[0]
    again = publish_report(converted.report)[0]
    assert again.action == "exists" and again.referrer == first.referrer

    # A different conversion of the same source: another referrer candidate.
    other_report = convert_into(
        converted.layout, "amd64", "amd64-zstd", ConvertOptions(algorithm="zstd")
    )
    skipped = publish_report(other_report)[0]
    assert skipped.action == "skipped" and skipped.referrer == first.referrer
    assert len(list_referrers(converted.source)[0].referrers) == 1

    replaced = publish_report(other_report, existing="replace")[0]
    assert replaced.action == "replaced"
    assert replaced.removed == [first.referrer] == replaced.deleted
    (only,) = list_referrers(converted.source)[0].referrers
    assert only.digest == replaced.referrer
    assert not layout_blob(converted.layout, first.referrer).exists()
    assert verify_image(converted.source).passed

    added = publish_report(converted.report, existing="add")[0]
    assert added.action == "pushed" and added.referrer == first.referrer
    listed = {d.digest for d in list_referrers(converted.source)[0].referrers}
    assert listed == {first.referrer, replaced.referrer}
    report = verify_image(converted.source)
    assert report.passed and len(report.referrers) == 2

    native = publish_report(converted.report, artifact_type="overlaybd-native")[0]
    assert native.action == "pushed"
    assert len(list_referrers(converted.source, "overlaybd-native")[0].referrers) == 1
    assert verify_image(converted.source, artifact_type="overlaybd-native").passed


def test_multi_platform_one_referrer_per_child(tmp_path: Path) -> None:
    layout = copy_hello(tmp_path)
    report = convert_into(layout, INDEX_TAG, "docker-list-obd")
    results = publish_report(report)
    children = OCILayout.open_dir(layout).images(INDEX_TAG)

    assert len(results) == len(children) == 9
    assert {r.subject for r in results} == {c.descriptor.digest for c in children}
    arches = {r.platform for r in results}
    assert {"linux/amd64", "linux/arm64/v8", "linux/s390x"} <= arches

    report = verify_image(f"oci:{layout}:{INDEX_TAG}")
    assert report.passed, failed(report)
    assert len(report.referrers) == 9
    found = [c for c in report.checks if c.name == "referrer.found"]
    assert len(found) == 9
    platform_of = {r.subject: r.platform for r in results}
    assert all(check.platform == platform_of[check.subject] for check in report.checks)
    listing = list_referrers(f"oci:{layout}:{INDEX_TAG}")
    assert listing[0].platform == "index" and listing[0].referrers == []
    assert all(len(s.referrers) == 1 for s in listing[1:])


def test_publish_converted_from_another_layout(tmp_path: Path) -> None:
    source = copy_hello(tmp_path, "source")
    target = f"oci:{tmp_path / 'target'}:obd"
    convert(f"oci:{source}:amd64", target)
    (result,) = publish_converted(f"oci:{source}:amd64", target)
    assert set(result.blobs.values()) == {"copied"}
    report = verify_image(f"oci:{source}:amd64", deep=True)
    assert report.passed, failed(report)


def test_listed_referrer_without_a_blob_is_repaired(tmp_path: Path) -> None:
    source = copy_hello(tmp_path, "source")
    target = f"oci:{tmp_path / 'target'}:obd"
    convert(f"oci:{source}:amd64", target)
    (first,) = publish_converted(f"oci:{source}:amd64", target)
    _config, layer = first.blobs  # config first, then the one layer
    layout_blob(source, layer).unlink()

    (again,) = publish_converted(f"oci:{source}:amd64", target)
    assert (again.action, again.restored) == ("repaired", [layer])
    assert again.blobs[layer] == "copied" and again.referrer == first.referrer
    report = verify_image(f"oci:{source}:amd64", deep=True)
    assert report.passed, failed(report)


def test_partly_converted_list_names_both_images_and_the_platforms(tmp_path: Path) -> None:
    layout = copy_hello(tmp_path)
    two = ConvertOptions(platforms=(Platform("linux", "amd64"), Platform("linux", "arm64")))
    convert_into(layout, INDEX_TAG, "two-obd", two)
    source, target = f"oci:{layout}:{INDEX_TAG}", f"oci:{layout}:two-obd"
    with pytest.raises(NotFoundError) as caught:
        publish_converted(source, target)
    assert str(caught.value) == (
        f"{target} has no image for 7 platform(s) of {source}: linux/arm/v5, linux/arm/v7, "
        "linux/386, linux/mips64le, linux/ppc64le, linux/riscv64, linux/s390x "
        "(it has linux/amd64, linux/arm64/v8); convert them too, or pass skip_missing=True "
        "to attach only the platforms it has"
    )

    results = publish_converted(source, target, skip_missing=True)
    assert [r.platform for r in results] == ["linux/amd64", "linux/arm64/v8"]
    assert verify_image(f"oci:{layout}@{results[0].subject}").passed


def test_no_referrer_fails(converted: Converted) -> None:
    report = verify_image(converted.source)
    assert not report.passed
    assert (
        "no application/vnd.azure.artifact.streaming.v1 referrer"
        in failed(report)["referrer.found"]
    )


def test_corrupt_layer_blob(converted: Converted) -> None:
    publish_report(converted.report)
    layer = converted.report.images[0].layers[0]
    path = layout_blob(converted.layout, layer.blob_digest)
    os.chmod(path, 0o644)
    flip_byte(path, layer.blob_size // 2)

    deep = verify_image(converted.source, deep=True)
    problems = failed(deep)
    assert set(problems) == {"layer[0].digest", "layer[0].crc"}
    assert "block CRCs wrong" in problems["layer[0].crc"]

    flip_byte(path, 300)  # inside the first tar header
    problems = failed(verify_image(converted.source))
    assert set(problems) == {"layer[0].format"}
    assert "expected a ZFile or LSMT magic" in problems["layer[0].format"]

    with open(path, "r+b") as handle:
        handle.truncate(layer.blob_size - 4096)
    problems = failed(verify_image(converted.source))
    assert "expected 118784 bytes" in problems["layer[0].blob"]


def test_bad_manifest_fields_are_reported(converted: Converted) -> None:
    body = _referrer_body(converted)
    layer = body["layers"][0]
    layer["annotations"]["containerd.io/snapshot/overlaybd/version"] = "0.2.0"
    layer["annotations"]["containerd.io/snapshot/overlaybd/blob-size"] = "1"
    del body["annotations"]["streaming.platform.arch"]
    body["artifactType"] = mt.ARTIFACT_AZURE_STREAMING
    body["config"]["mediaType"] = mt.DOCKER_CONFIG
    store_manifest(converted.layout, body)

    report = verify_image(converted.source)
    assert len(report.referrers) == 2
    problems = failed(report)
    assert set(problems) == {"annotations", "layer[0].annotations", "config"}
    assert "streaming.platform.arch: expected 'amd64', found None" in problems["annotations"]
    assert "version: expected '0.1.0', found '0.2.0'" in problems["layer[0].annotations"]
    assert "blob-size: expected '118784', found '1'" in problems["layer[0].annotations"]
    assert "config mediaType" in problems["config"]


def test_referrer_named_by_digest_and_wrong_subject(converted: Converted) -> None:
    body = _referrer_body(converted)
    referrer = list_referrers(converted.source)[0].referrers[0]
    report = verify_image(f"oci:{converted.layout}@{referrer.digest}", deep=True)
    assert report.passed, failed(report)
    assert report.referrers == [referrer.digest]

    # A subject of the right size and type whose digest names no manifest here.
    body["subject"]["digest"] = "sha256:" + "0" * 64
    bad = store_manifest(converted.layout, body)
    report = verify_image(f"oci:{converted.layout}@{bad.digest}")
    assert not report.passed
    assert "subject sha256:000000000000" in failed(report)["subject"]

    # A subject that exists but is another image (arm64): digest, size match it, not amd64.
    arm = OCILayout.open_dir(converted.layout).resolve("arm64")
    body["subject"] = {"mediaType": arm.media_type, "digest": arm.digest, "size": arm.size}
    wrong = store_manifest(converted.layout, body)
    problems = failed(verify_image(f"oci:{converted.layout}@{wrong.digest}"))
    assert "annotations" in problems  # arch amd64 annotated on an arm64 subject
    assert "config" in problems  # config platform differs from the subject's


def test_bad_existing_value(converted: Converted) -> None:
    with pytest.raises(ImageError, match="--existing: expected one of skip, replace, add"):
        publish_report(converted.report, existing="keep")


def test_replace_keeps_a_referrer_someone_tagged(converted: Converted) -> None:
    """``replace`` drops the untagged listing of the old referrer; a tag on the same
    manifest is the user's, so the tag and its blob stay (and it stays a referrer)."""
    (first,) = publish_report(converted.report)
    layout = OCILayout.open_dir(converted.layout)
    data = layout.fetch(layout.resolve(digest=first.referrer))
    with LayoutWriter(converted.layout) as writer:
        writer.put_manifest(data, mt.OCI_MANIFEST, tag="kept")

    other = convert_into(converted.layout, "amd64", "zstd", ConvertOptions(algorithm="zstd"))
    (replaced,) = publish_report(other, existing="replace")
    assert (replaced.removed, replaced.deleted) == ([first.referrer], [])
    assert layout_blob(converted.layout, first.referrer).exists()
    assert OCILayout.open_dir(converted.layout).resolve("kept").digest == first.referrer
    listed = [d.digest for d in list_referrers(converted.source)[0].referrers]
    assert listed == [first.referrer, replaced.referrer]  # still a referrer, through its tag
