"""Streaming referrers on a real registry (distribution 2.8: tag schema) and through the
referrers-API test double in front of it; blob corruption in the registry's storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from overlaybd_py.convert import ConvertOptions
from overlaybd_py.convert.report import LayerReport
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.platform import Platform
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import RegistryHosts
from overlaybd_py.registry.referrers import referrer_descriptor, referrers_tag, update_tag_index
from overlaybd_py.streaming.discover import list_referrers
from overlaybd_py.streaming.publish import publish_converted
from overlaybd_py.streaming.referrer import build_referrer
from overlaybd_py.streaming.verify import verify_image
from tests.registry.referrers_proxy import ReferrersProxy
from tests.registry.registry_server import RegistryServer

from .conftest import CONVERTED_TAG, INDEX_TAG, SOURCE_TAG, Converted, convert_into, copy_hello
from .helpers import failed, flip_byte, passed_names, push_image, registry_blob

SOURCE_DIGEST = "sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3"


def _publish(
    host: str, repo: str, converted: Converted, hosts: RegistryHosts, **kwargs: object
) -> tuple[str, list]:
    image = f"docker://{host}/{repo}:{SOURCE_TAG}"
    return image, publish_converted(image, converted.target, hosts=hosts, **kwargs)  # type: ignore[arg-type]


@contextmanager
def _stored_layer_blob(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> Iterator[tuple[str, LayerReport, Path]]:
    """Publish the source and its referrer; yield the image, its layer and the layer's file
    in the registry's storage, which is put back as it was afterwards."""
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image, _ = _publish(registry.host, repo, converted, hosts)
    layer = converted.report.images[0].layers[0]
    stored = registry_blob(registry, layer.blob_digest)
    original = stored.read_bytes()
    try:
        yield image, layer, stored
    finally:
        stored.write_bytes(original)


def test_tag_schema_publish_list_verify(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image, (result,) = _publish(registry.host, repo, converted, hosts)

    assert result.action == "pushed" and result.indexed_by == "tag schema"
    assert result.subject == SOURCE_DIGEST
    assert set(result.blobs.values()) == {"uploaded"}
    index = client.get_manifest(repo, referrers_tag(SOURCE_DIGEST))
    assert index.media_type == mt.OCI_INDEX
    (entry,) = index.json()["manifests"]
    assert entry["digest"] == result.referrer
    assert entry["artifactType"] == mt.ARTIFACT_AZURE_STREAMING
    assert entry["annotations"]["streaming.format"] == "overlaybd"

    (listing,) = list_referrers(image, hosts=hosts)
    assert [d.digest for d in listing.referrers] == [result.referrer]

    shallow = verify_image(image, hosts=hosts)
    assert shallow.passed, failed(shallow)
    fmt = next(c for c in shallow.checks if c.name == "layer[0].format")
    read = int(fmt.detail.split("; read ")[1].split(" of ")[0])
    blob_size = converted.report.images[0].layers[0].blob_size
    assert 0 < read < blob_size // 2  # headers by range requests, not a download
    deep = verify_image(image, deep=True, hosts=hosts)
    assert deep.passed, failed(deep)
    assert {"layer[0].digest", "layer[0].crc", "disk.ext4"} <= passed_names(deep)


def test_existing_on_registry(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image, (first,) = _publish(registry.host, repo, converted, hosts)
    _, (again,) = _publish(registry.host, repo, converted, hosts)
    assert again.action == "exists"

    convert_into(converted.layout, SOURCE_TAG, "zstd", ConvertOptions(algorithm="zstd"))
    target = f"oci:{converted.layout}:zstd"
    (skipped,) = publish_converted(image, target, hosts=hosts)
    assert skipped.action == "skipped" and skipped.referrer == first.referrer
    index = client.get_manifest(repo, referrers_tag(SOURCE_DIGEST)).json()
    assert [e["digest"] for e in index["manifests"]] == [first.referrer]

    (replaced,) = publish_converted(image, target, hosts=hosts, existing="replace")
    assert replaced.action == "replaced" and replaced.removed == [first.referrer]
    assert replaced.deleted == [first.referrer]  # the test registry allows deletes
    index = client.get_manifest(repo, referrers_tag(SOURCE_DIGEST)).json()
    assert [e["digest"] for e in index["manifests"]] == [replaced.referrer]
    assert client.head_manifest(repo, first.referrer) is None
    assert verify_image(image, deep=True, hosts=hosts).passed


def test_referrers_api_through_proxy(
    api_proxy: ReferrersProxy,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    """TEST DOUBLE for the API: distribution 2.8 cannot serve /referrers itself."""
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image, (result,) = _publish(api_proxy.host, repo, converted, hosts)

    assert result.indexed_by == "referrers API"
    assert client.head_manifest(repo, referrers_tag(SOURCE_DIGEST)) is None  # no tag index
    (listing,) = list_referrers(image, "azure-streaming", hosts=hosts)
    assert [d.digest for d in listing.referrers] == [result.referrer]
    assert any("/referrers/" in path for _, path, _, _ in api_proxy.log)

    _, (again,) = _publish(api_proxy.host, repo, converted, hosts)
    assert again.action == "exists"
    report = verify_image(image, deep=True, hosts=hosts)
    assert report.passed, failed(report)


def test_multi_platform_on_registry(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    tmp_path: Path,
    hosts: RegistryHosts,
) -> None:
    layout = copy_hello(tmp_path)
    convert_into(layout, INDEX_TAG, "list-obd")
    push_image(client, layout, INDEX_TAG, repo)
    image = f"docker://{registry.host}/{repo}:{INDEX_TAG}"
    results = publish_converted(image, f"oci:{layout}:list-obd", hosts=hosts)
    assert len(results) == 9 and len({r.subject for r in results}) == 9
    report = verify_image(image, hosts=hosts)
    assert report.passed, failed(report)
    assert len(report.referrers) == 9


def test_blob_corrupted_in_registry_storage(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    with _stored_layer_blob(registry, client, repo, converted, hosts) as (image, layer, stored):
        assert stored.stat().st_size == layer.blob_size
        flip_byte(stored, layer.blob_size // 2)
        problems = failed(verify_image(image, deep=True, hosts=hosts))
        assert set(problems) == {"layer[0].digest", "layer[0].crc"}
        assert "block CRCs wrong" in problems["layer[0].crc"]

        flip_byte(stored, 2000)  # the ZFile header right after the tar prefix
        problems = failed(verify_image(image, hosts=hosts))
        assert set(problems) == {"layer[0].format"}


def test_referrer_with_wrong_subject(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    """A buggy publisher listed, under the amd64 subject, a referrer naming arm64."""
    push_image(client, converted.layout, SOURCE_TAG, repo)
    arm = push_image(client, converted.layout, "arm64", repo)
    image, (good,) = _publish(registry.host, repo, converted, hosts)
    body = json.loads(client.get_manifest(repo, good.referrer).data)
    body["subject"]["digest"] = arm.digest
    data = json.dumps(body, separators=(",", ":")).encode()
    pushed = client.put_manifest(repo, "wrong-subject", data, mt.OCI_MANIFEST)
    entry = referrer_descriptor(data, mt.OCI_MANIFEST)
    update_tag_index(
        client,
        repo,
        SOURCE_DIGEST,
        lambda entries: [*entries, entry],
        lambda entries: any(e["digest"] == pushed.digest for e in entries),
    )

    report = verify_image(image, hosts=hosts)
    assert len(report.referrers) == 2
    bad = [c for c in report.failures if c.referrer == pushed.digest]
    assert [c.name for c in bad] == ["subject"]
    assert f"subject.digest: expected '{SOURCE_DIGEST}', found '{arm.digest}'" in bad[0].detail
    assert all(c.passed for c in report.checks if c.referrer == good.referrer)


def test_converted_image_in_another_repository_is_mounted(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    """The converted image was pushed elsewhere on the same registry: blobs are mounted."""
    push_image(client, converted.layout, SOURCE_TAG, repo)
    push_image(client, converted.layout, "amd64-obd", f"{repo}-obd")
    image = f"docker://{registry.host}/{repo}:{SOURCE_TAG}"
    (result,) = publish_converted(
        image, f"docker://{registry.host}/{repo}-obd:amd64-obd", hosts=hosts
    )
    assert set(result.blobs.values()) == {"mounted"}
    report = verify_image(image, deep=True, hosts=hosts)
    assert report.passed, failed(report)


def test_convert_from_registry_then_attach(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    tmp_path: Path,
    docker_transport: RegistryHosts,
) -> None:
    """``obd convert docker://... docker://... --referrer`` as the CLI will run it."""
    from overlaybd_py.convert import convert
    from overlaybd_py.streaming.publish import publish_report

    layout = copy_hello(tmp_path)
    push_image(client, layout, INDEX_TAG, repo)
    source = f"docker://{registry.host}/{repo}:{INDEX_TAG}"
    report = convert(
        source,
        f"docker://{registry.host}/{repo}:obd",
        ConvertOptions(platforms=(Platform("linux", "amd64"), Platform("linux", "arm64"))),
    )
    results = publish_report(report)  # hosts: the transport's configuration
    assert [r.action for r in results] == ["pushed", "pushed"]
    assert {r.platform for r in results} == {"linux/amd64", "linux/arm64/v8"}
    assert all(set(r.blobs.values()) == {"exists"} for r in results)
    assert report.referrers == [r.to_dict() for r in results]
    assert [r.action for r in publish_report(report)] == ["exists", "exists"]

    listing = list_referrers(source)
    assert [len(s.referrers) for s in listing if s.platform in {r.platform for r in results}] == [
        1,
        1,
    ]
    amd64 = next(s.subject for s in listing if s.platform == "linux/amd64")
    report = verify_image(f"docker://{registry.host}/{repo}@{amd64}", deep=True)
    assert report.passed, failed(report)


def test_listed_referrer_with_missing_parts_is_repaired(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    """The tag-schema index outlives a deleted manifest or blob: a re-run pushes them again
    instead of reporting ``exists`` for a referrer nobody can read."""
    push_image(client, converted.layout, SOURCE_TAG, repo)
    image, (first,) = _publish(registry.host, repo, converted, hosts)

    client.delete_manifest(repo, first.referrer)
    _, (again,) = _publish(registry.host, repo, converted, hosts, existing="replace")
    assert (again.action, again.restored) == ("repaired", [first.referrer])
    assert again.referrer == first.referrer and again.removed == []
    assert client.head_manifest(repo, first.referrer) is not None

    layer = converted.report.images[0].layers[0].blob_digest
    client.delete_blob(repo, layer)
    _, (third,) = _publish(registry.host, repo, converted, hosts)
    assert (third.action, third.restored) == ("repaired", [layer])
    assert third.blobs[layer] == "uploaded"
    report = verify_image(image, deep=True, hosts=hosts)
    assert report.passed, failed(report)

    _, (last,) = _publish(registry.host, repo, converted, hosts)
    assert (last.action, last.restored) == ("exists", [])
    assert set(last.blobs.values()) == {"exists"}


def test_replace_never_deletes_a_referrer_of_another_subject(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    """The amd64 tag index also lists arm64's only referrer (and the converted image,
    which has no subject): ``skip`` does not count them, ``replace`` unlists them from amd64's index
    and deletes neither, while amd64's own old referrer is deleted."""
    push_image(client, converted.layout, SOURCE_TAG, repo)
    arm = push_image(client, converted.layout, "arm64", repo)
    converted_image = push_image(client, converted.layout, CONVERTED_TAG, repo)
    layout = OCILayout.open_dir(converted.layout)
    built = build_referrer(
        layout.fetch(layout.resolve(CONVERTED_TAG)), arm, Platform("linux", "arm64")
    )
    arm_referrer = client.attach_referrer(repo, built.to_bytes(), mt.OCI_MANIFEST).digest
    no_subject = {**converted_image.to_dict(), "artifactType": mt.ARTIFACT_AZURE_STREAMING}
    misfiled = [referrer_descriptor(built.to_bytes(), mt.OCI_MANIFEST), no_subject]
    update_tag_index(
        client,
        repo,
        SOURCE_DIGEST,
        lambda entries: [*entries, *misfiled],
        lambda entries: len(entries) >= 2,
    )

    image, (first,) = _publish(registry.host, repo, converted, hosts)
    assert first.action == "pushed"  # the misfiled entries are not "a referrer exists"
    assert first.misfiled == [arm_referrer, converted_image.digest]

    convert_into(converted.layout, SOURCE_TAG, "zstd", ConvertOptions(algorithm="zstd"))
    (replaced,) = publish_converted(
        image, f"oci:{converted.layout}:zstd", hosts=hosts, existing="replace"
    )
    assert replaced.action == "replaced"
    assert replaced.removed == replaced.deleted == [first.referrer]
    assert client.head_manifest(repo, first.referrer) is None
    assert client.head_manifest(repo, arm_referrer) is not None  # arm64's only referrer
    assert client.head_manifest(repo, converted_image.digest) is not None
    index = client.get_manifest(repo, referrers_tag(SOURCE_DIGEST)).json()
    assert [e["digest"] for e in index["manifests"]] == [replaced.referrer]
    arm_index = client.get_manifest(repo, referrers_tag(arm.digest)).json()
    assert [e["digest"] for e in arm_index["manifests"]] == [arm_referrer]


def test_detach_referrer_deletes_only_a_manifest_naming_the_subject(
    registry: RegistryServer, client: RegistryClient, repo: str, converted: Converted
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    arm = push_image(client, converted.layout, "arm64", repo)
    push_image(client, converted.layout, CONVERTED_TAG, repo)
    layout = OCILayout.open_dir(converted.layout)
    built = build_referrer(
        layout.fetch(layout.resolve(CONVERTED_TAG)), arm, Platform("linux", "arm64")
    )
    pushed = client.attach_referrer(repo, built.to_bytes(), mt.OCI_MANIFEST)

    client.detach_referrer(repo, SOURCE_DIGEST, pushed.digest)  # not amd64's referrer
    assert client.head_manifest(repo, pushed.digest) is not None
    client.detach_referrer(repo, arm.digest, pushed.digest)
    assert client.head_manifest(repo, pushed.digest) is None


def test_blob_truncated_in_registry_storage_is_named_by_digest(
    registry: RegistryServer,
    client: RegistryClient,
    repo: str,
    converted: Converted,
    hosts: RegistryHosts,
) -> None:
    """``--deep`` reads a temporary copy; its failures still name the registry blob."""
    with _stored_layer_blob(registry, client, repo, converted, hosts) as (image, layer, stored):
        stored.write_bytes(stored.read_bytes()[:60000])
        problems = failed(verify_image(image, deep=True, hosts=hosts))
        crc = problems["layer[0].crc"]
        assert crc.startswith(f"docker://{registry.host}/{repo}@{layer.blob_digest}: ")
        assert "60000" in crc and "/tmp" not in crc
