"""Manifests pushed and pulled byte-exact, digests checked, tags listed and paginated."""

from __future__ import annotations

import hashlib
import json

import pytest

from overlaybd_py.errors import ChecksumError, NotFoundError
from overlaybd_py.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)
from overlaybd_py.registry.client import RegistryClient

from .conftest import ClientFactory
from .registry_server import RegistryServer


def _image(
    client: RegistryClient, repo: str, media_type: str = OCI_MANIFEST, config_type: str = OCI_CONFIG
) -> bytes:
    """Manifest bytes in an unusual but valid layout (indent, key order, trailing newline)."""
    config = client.push_blob(repo, b'{"os":"linux"}')
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config.digest, "size": config.size},
        "layers": [],
    }
    return (json.dumps(body, indent=3, sort_keys=True) + "\n").encode()


def test_put_and_get_byte_exact(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    data = _image(client, repo)
    pushed = client.put_manifest(repo, "v1", data, OCI_MANIFEST)
    assert pushed.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert pushed.subject is None
    by_tag = client.get_manifest(repo, "v1")
    by_digest = client.get_manifest(repo, pushed.digest)
    assert by_tag.data == data == by_digest.data
    assert (by_tag.media_type, by_tag.digest) == (OCI_MANIFEST, pushed.digest)
    assert client.head_manifest(repo, "v1") == {
        "mediaType": OCI_MANIFEST,
        "digest": pushed.digest,
        "size": len(data),
    }


def test_docker_media_type_kept(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    data = _image(client, repo, DOCKER_MANIFEST, DOCKER_CONFIG)
    client.put_manifest(repo, "docker", data, DOCKER_MANIFEST)
    assert client.get_manifest(repo, "docker").media_type == DOCKER_MANIFEST


def test_index_push_and_accept(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    child = client.put_manifest(repo, "child", _image(client, repo), OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(client.get_manifest(repo, "child").data),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ).encode()
    pushed = client.put_manifest(repo, "multi", index, OCI_INDEX)
    got = client.get_manifest(repo, "multi")
    assert (got.media_type, got.digest, got.data) == (OCI_INDEX, pushed.digest, index)


def test_reference_digest_must_match_bytes(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    data = _image(client, repo)
    with pytest.raises(ChecksumError, match="hash to"):
        client.put_manifest(repo, "sha256:" + "0" * 64, data, OCI_MANIFEST)


def test_missing_manifest(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    with pytest.raises(NotFoundError, match="404 MANIFEST_UNKNOWN|404 NAME_UNKNOWN"):
        client.get_manifest(repo, "nope")
    assert client.head_manifest(repo, "nope") is None


def test_tags_paginated_and_delete(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    data = _image(client, repo)
    names = [f"t{n:02d}" for n in range(7)]
    for name in names:
        digest = client.put_manifest(repo, name, data, OCI_MANIFEST).digest
    # distribution 2.8 ignores `n` and answers every tag in one page, unsorted
    assert sorted(client.list_tags(repo, page_size=3)) == names
    client.delete_manifest(repo, digest)
    assert client.list_tags(repo) == []
    with pytest.raises(NotFoundError):
        client.get_manifest(repo, digest)
