"""Blob push (monolithic, chunked, skip, mount), reads (stream, ranges) and the byte source."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from overlaybd_py.errors import FormatError, NotFoundError, RegistryError
from overlaybd_py.io import ByteSource, FileSource
from overlaybd_py.registry.source import RegistryBlobSource

from .conftest import ClientFactory
from .registry_server import RegistryServer

CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(3 * CHUNK + 12345)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_monolithic_push_then_skip(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    first = client.push_blob(repo, b"small blob")
    assert (first.action, first.size, first.digest) == ("uploaded", 10, _digest(b"small blob"))
    assert client.push_blob(repo, b"small blob").action == "exists"


def test_chunked_push_from_file(
    plain_registry: RegistryServer,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
    tmp_path: Path,
) -> None:
    path = tmp_path / "blob"
    path.write_bytes(payload)
    client = make_client(plain_registry)
    pushed = client.push_blob(repo, path, chunk_size=CHUNK)
    assert pushed.action == "uploaded"
    assert client.blob_size(repo, pushed.digest) == len(payload)
    assert client.get_blob(repo, pushed.digest) == payload


def test_push_byte_source(
    plain_registry: RegistryServer,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
    tmp_path: Path,
) -> None:
    path = tmp_path / "blob"
    path.write_bytes(payload)
    with FileSource(path) as source:
        pushed = make_client(plain_registry).push_blob(
            repo, source, _digest(payload), chunk_size=CHUNK
        )
    assert pushed.digest == _digest(payload)


def test_wrong_digest_is_refused(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    client = make_client(plain_registry)
    wrong = _digest(b"something else")
    with pytest.raises(RegistryError, match="local bytes hash to"):
        client.push_blob(repo, payload, wrong, chunk_size=CHUNK)
    assert client.blob_size(repo, wrong) is None
    assert client.blob_size(repo, _digest(payload)) is None


def test_cross_repository_mount(
    basic_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(basic_registry)
    source = client.push_blob(repo + "-src", b"mount me")
    mounted = client.push_blob(repo, b"mount me", mount_from=[repo + "-src"])
    assert mounted.action == "mounted"
    assert client.get_blob(repo, source.digest) == b"mount me"
    assert client.mount_blob(repo + "-other", _digest(b"absent"), repo + "-src") is False


def test_range_reads(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    client = make_client(plain_registry)
    digest = client.push_blob(repo, payload, chunk_size=CHUNK).digest
    size = len(payload)
    assert client.read_range(repo, digest, 0, 1) == payload[:1]
    assert client.read_range(repo, digest, size - 1, 1) == payload[-1:]
    assert client.read_range(repo, digest, 1000, 70000) == payload[1000:71000]
    assert client.read_range(repo, digest, size - 10, 100) == payload[-10:]
    assert client.read_range(repo, digest, size, 10) == b""
    assert client.read_range(repo, digest, size + 100, 10) == b""
    assert client.read_range(repo, digest, 5, 0) == b""


def test_missing_blob(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    missing = _digest(b"never pushed")
    assert client.blob_size(repo, missing) is None
    with pytest.raises(NotFoundError, match="404"):
        client.read_range(repo, missing, 0, 1)


def test_download_blob_atomic(
    plain_registry: RegistryServer,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
    tmp_path: Path,
) -> None:
    client = make_client(plain_registry)
    digest = client.push_blob(repo, payload).digest
    target = tmp_path / "out.bin"
    assert client.download_blob(repo, digest, target) == len(payload)
    assert target.read_bytes() == payload
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_corrupted_blob_in_storage_is_detected(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry)
    data = b"pristine content " * 100
    digest = client.push_blob(repo, data).digest
    hexpart = digest.split(":")[1]
    stored = (
        plain_registry.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"
    )
    stored.write_bytes(data.replace(b"pristine", b"tampered"))
    with pytest.raises(Exception, match="expected that digest, found"):
        client.get_blob(repo, digest)


def test_blob_source_is_a_byte_source_and_thread_safe(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    client = make_client(token_registry)
    digest = client.push_blob(repo, payload, chunk_size=CHUNK).digest
    source = RegistryBlobSource(make_client(token_registry), repo, digest)
    assert isinstance(source, ByteSource)
    assert source.size == len(payload)
    errors: list[str] = []

    def reader(seed: int) -> None:
        for step in range(20):
            offset = (seed * 7919 + step * 104729) % len(payload)
            if source.pread(offset, 4096) != payload[offset : offset + 4096]:
                errors.append(f"thread {seed} offset {offset}")

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert source.requests == 120
    assert source.pread(len(payload) - 3, 10) == payload[-3:]


def test_blob_source_refuses_a_blob_shorter_than_its_descriptor(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    client = make_client(plain_registry)
    digest = client.push_blob(repo, payload).digest
    source = RegistryBlobSource(client, repo, digest, size=len(payload) + 1000)
    assert source.pread(0, 100) == payload[:100]
    with pytest.raises(FormatError, match=f"the blob is {len(payload)} bytes, its descriptor says"):
        source.pread(len(payload) - 10, 100)


def test_blob_truncated_in_storage_is_reported_with_its_real_size(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    """The short read happens near the end; the message names the size the blob has now."""
    client = make_client(plain_registry)
    digest = client.push_blob(repo, payload).digest
    hex_digest = digest.split(":")[1]
    stored = (
        plain_registry.storage
        / "docker/registry/v2/blobs/sha256"
        / hex_digest[:2]
        / hex_digest
        / "data"
    )
    with open(stored, "r+b") as handle:
        handle.truncate(6000)
    source = RegistryBlobSource(client, repo, digest, size=len(payload))
    with pytest.raises(FormatError) as raised:
        source.pread(len(payload) - 100, 50)
    message = str(raised.value)
    assert f"the blob is 6000 bytes, its descriptor says {len(payload)}" in message
    assert f"at offset {len(payload) - 100}" in message
