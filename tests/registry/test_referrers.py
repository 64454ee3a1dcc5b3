"""Referrers through the tag schema (real registry) and the API (the test-double proxy)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator

import pytest

from overlaybd_py.errors import ImageError
from overlaybd_py.oci.mediatypes import (
    ARTIFACT_AZURE_STREAMING,
    ARTIFACT_OVERLAYBD_NATIVE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
)
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.model import Manifest
from overlaybd_py.registry.referrers import referrers_tag

from .conftest import ClientFactory
from .referrers_proxy import ReferrersProxy
from .registry_server import RegistryServer

EMPTY_CONFIG = b"{}"


def _subject(client: RegistryClient, repo: str) -> Manifest:
    config = client.push_blob(repo, b'{"os":"linux","architecture":"amd64"}')
    data = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [],
        }
    ).encode()
    client.put_manifest(repo, "latest", data, OCI_MANIFEST)
    return client.get_manifest(repo, "latest")


def _referrer(
    client: RegistryClient, repo: str, subject: Manifest, artifact_type: str, label: str
) -> bytes:
    empty = client.push_blob(repo, EMPTY_CONFIG)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": empty.size},
            "layers": [],
            "subject": subject.descriptor(),
            "annotations": {"streaming.format": "overlaybd", "label": label},
        }
    ).encode()


def test_referrers_tag_name() -> None:
    digest = "sha256:" + "ab" * 32
    assert referrers_tag(digest) == "sha256-" + "ab" * 32


def test_tag_schema_on_real_registry(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    subject = _subject(client, repo)
    streaming = _referrer(client, repo, subject, ARTIFACT_AZURE_STREAMING, "a")
    native = _referrer(client, repo, subject, ARTIFACT_OVERLAYBD_NATIVE, "b")
    first = client.attach_referrer(repo, streaming, OCI_MANIFEST)
    second = client.attach_referrer(repo, native, OCI_MANIFEST)
    assert first.subject is None  # distribution 2.8 has no referrers API

    index = client.get_manifest(repo, referrers_tag(subject.digest))
    assert index.media_type == OCI_INDEX
    assert [d["digest"] for d in index.json()["manifests"]] == [first.digest, second.digest]

    found = client.referrers(repo, subject.digest)
    assert found[0] == {
        "mediaType": OCI_MANIFEST,
        "digest": first.digest,
        "size": len(streaming),
        "artifactType": ARTIFACT_AZURE_STREAMING,
        "annotations": {"streaming.format": "overlaybd", "label": "a"},
    }
    only = client.referrers(repo, subject.digest, ARTIFACT_OVERLAYBD_NATIVE)
    assert [d["digest"] for d in only] == [second.digest]
    assert client.get_manifest(repo, first.digest).data == streaming


def test_attach_twice_keeps_one_entry(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    subject = _subject(client, repo)
    data = _referrer(client, repo, subject, ARTIFACT_AZURE_STREAMING, "same")
    client.attach_referrer(repo, data, OCI_MANIFEST)
    client.attach_referrer(repo, data, OCI_MANIFEST)
    assert len(client.referrers(repo, subject.digest)) == 1


def test_detach_referrer(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    subject = _subject(client, repo)
    keep = client.attach_referrer(
        repo, _referrer(client, repo, subject, ARTIFACT_AZURE_STREAMING, "keep"), OCI_MANIFEST
    )
    drop = client.attach_referrer(
        repo, _referrer(client, repo, subject, ARTIFACT_AZURE_STREAMING, "drop"), OCI_MANIFEST
    )
    client.detach_referrer(repo, subject.digest, drop.digest)
    assert [d["digest"] for d in client.referrers(repo, subject.digest)] == [keep.digest]
    assert client.head_manifest(repo, drop.digest) is None


def test_no_referrers(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    assert client.referrers(repo, _subject(client, repo).digest) == []


def test_a_foreign_manifest_under_the_referrers_tag_is_named(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    """Asked only for an index, distribution would down-convert a schema-2 manifest to
    schema 1 with a fresh signature each time: a digest mismatch that named nothing."""
    client = make_client(plain_registry)
    subject = _subject(client, repo)
    manifest = client.get_manifest(repo, "latest")
    client.put_manifest(repo, referrers_tag(subject.digest), manifest.data, OCI_MANIFEST)
    tag = f"{repo}:{referrers_tag(subject.digest)}"
    with pytest.raises(ImageError, match=re.escape(f"tag {tag} holds {OCI_MANIFEST}, not the OCI")):
        client.referrers(repo, subject.digest)
    referrer = _referrer(client, repo, subject, ARTIFACT_AZURE_STREAMING, "x")
    with pytest.raises(ImageError, match="not the OCI image index of the referrers tag schema"):
        client.attach_referrer(repo, referrer, OCI_MANIFEST)
    assert client.get_manifest(repo, referrers_tag(subject.digest)).data == manifest.data


def test_concurrent_tag_schema_updates_lose_nothing(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    setup = make_client(plain_registry)
    subject = _subject(setup, repo)
    payloads = [
        _referrer(setup, repo, subject, ARTIFACT_AZURE_STREAMING, f"writer-{n}") for n in range(8)
    ]
    clients = [make_client(plain_registry) for _ in payloads]
    barrier = threading.Barrier(len(payloads))
    digests: list[str] = []
    failures: list[BaseException] = []

    def writer(client: RegistryClient, data: bytes) -> None:
        try:
            barrier.wait(timeout=30)
            digests.append(client.attach_referrer(repo, data, OCI_MANIFEST).digest)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [
        threading.Thread(target=writer, args=pair) for pair in zip(clients, payloads, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    listed = {d["digest"] for d in setup.referrers(repo, subject.digest)}
    assert listed == set(digests) and len(listed) == 8


@pytest.fixture
def api_proxy(plain_registry: RegistryServer) -> Iterator[ReferrersProxy]:
    with ReferrersProxy(plain_registry.host, page_size=2) as proxy:
        yield proxy  # type: ignore[misc]


def test_referrers_api_via_proxy(
    plain_registry: RegistryServer, api_proxy: ReferrersProxy, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry, host=api_proxy.host)
    subject = _subject(client, repo)
    pushed = [
        client.attach_referrer(
            repo, _referrer(client, repo, subject, artifact, f"r{n}"), OCI_MANIFEST
        )
        for n, artifact in enumerate([ARTIFACT_AZURE_STREAMING, ARTIFACT_OVERLAYBD_NATIVE] * 3)
    ]
    assert all(p.subject == subject.digest for p in pushed)
    assert referrers_tag(subject.digest) not in client.list_tags(repo)  # API path: no tag index

    found = client.referrers(repo, subject.digest)
    assert [d["digest"] for d in found] == [p.digest for p in pushed]
    pages = [p for m, p, _, _ in api_proxy.log if m == "GET" and "/referrers/" in p]
    assert len(pages) == 3  # six referrers, two per page, followed through Link

    streaming = client.referrers(repo, subject.digest, ARTIFACT_AZURE_STREAMING)
    assert [d["digest"] for d in streaming] == [p.digest for p in pushed[0::2]]
    assert all("artifactType=" in p for m, p, _, _ in api_proxy.log[-2:] if "/referrers/" in p)


def test_referrers_api_without_server_side_filter(
    plain_registry: RegistryServer, api_proxy: ReferrersProxy, make_client: ClientFactory, repo: str
) -> None:
    api_proxy.apply_filters = False
    client = make_client(plain_registry, host=api_proxy.host)
    subject = _subject(client, repo)
    wanted = client.attach_referrer(
        repo, _referrer(client, repo, subject, ARTIFACT_OVERLAYBD_NATIVE, "n"), OCI_MANIFEST
    )
    client.attach_referrer(
        repo, _referrer(client, repo, subject, ARTIFACT_AZURE_STREAMING, "s"), OCI_MANIFEST
    )
    only = client.referrers(repo, subject.digest, ARTIFACT_OVERLAYBD_NATIVE)
    assert [d["digest"] for d in only] == [wanted.digest]
