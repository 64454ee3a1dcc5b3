"""Retries, resumed uploads, a registry that dies mid-push, and redirects to another host."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaybd_py.errors import RegistryError
from overlaybd_py.oci.mediatypes import OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST
from overlaybd_py.registry.client import RegistryClient

from .blob_store import BlobStore
from .conftest import ClientFactory
from .fault_proxy import Fault, FaultProxy
from .registry_server import RegistryServer, start_plain_registry

CHUNK = 128 * 1024
BLOB_PATH = r"/blobs/sha256:"
UPLOAD_PATH = r"/blobs/uploads/"


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(4 * CHUNK + 999)


@pytest.fixture
def proxy(basic_registry: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(basic_registry.host, max_lifetime=120) as server:
        yield server


def _statuses(proxy: FaultProxy, method: str, pattern: str) -> list[int]:
    return [status for m, path, _, status in proxy.log if m == method and pattern in path]


def test_range_read_retries_5xx(
    basic_registry: RegistryServer,
    proxy: FaultProxy,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
) -> None:
    client = make_client(basic_registry, host=proxy.host)
    digest = client.push_blob(repo, payload).digest
    proxy.add(Fault("status", method="GET", path=BLOB_PATH, nth=1, times=2, status=503))
    assert client.read_range(repo, digest, 100, 200) == payload[100:300]
    assert _statuses(proxy, "GET", "/blobs/sha256:")[-3:] == [503, 503, 206]


def test_persistent_5xx_gives_a_bounded_clear_error(
    basic_registry: RegistryServer,
    proxy: FaultProxy,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
) -> None:
    client = make_client(basic_registry, host=proxy.host)
    digest = client.push_blob(repo, payload).digest
    proxy.add(Fault("status", method="GET", path=BLOB_PATH, times=1000, status=502))
    with pytest.raises(RegistryError, match="HTTP 502"):
        client.read_range(repo, digest, 0, 10)
    assert _statuses(proxy, "GET", "/blobs/sha256:").count(502) == 4


def test_range_read_resumes_after_dropped_response(
    basic_registry: RegistryServer,
    proxy: FaultProxy,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
) -> None:
    client = make_client(basic_registry, host=proxy.host)
    digest = client.push_blob(repo, payload).digest
    proxy.add(Fault("drop_mid_response", method="GET", path=BLOB_PATH, nth=1))
    assert client.read_range(repo, digest, 1000, 3 * CHUNK) == payload[1000 : 1000 + 3 * CHUNK]
    proxy.add(Fault("drop_mid_response", method="GET", path=BLOB_PATH, nth=1))
    assert client.get_blob(repo, digest) == payload


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", method="PATCH", path=UPLOAD_PATH, nth=2, status=500),
        Fault("drop", method="PATCH", path=UPLOAD_PATH, nth=2),
        Fault("drop_mid_request", method="PATCH", path=UPLOAD_PATH, nth=3),
        Fault("status", method="PUT", path=UPLOAD_PATH, nth=1, status=503),
    ],
    ids=["patch-500", "patch-dropped", "patch-cut-mid-body", "final-put-503"],
)
def test_chunked_upload_survives(
    basic_registry: RegistryServer,
    proxy: FaultProxy,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
    fault: Fault,
) -> None:
    proxy.add(
        Fault(
            fault.action, method=fault.method, path=fault.path, nth=fault.nth, status=fault.status
        )
    )
    client = make_client(basic_registry, host=proxy.host)
    pushed = client.push_blob(repo, payload, chunk_size=CHUNK)
    assert pushed.action == "uploaded"
    assert proxy.faults[0].fired == 1
    assert make_client(basic_registry).get_blob(repo, pushed.digest) == payload


def test_upload_resumes_from_server_offset(
    basic_registry: RegistryServer,
    proxy: FaultProxy,
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
) -> None:
    proxy.add(Fault("drop", method="PATCH", path=UPLOAD_PATH, nth=3))
    client = make_client(basic_registry, host=proxy.host)
    client.push_blob(repo, payload, chunk_size=CHUNK)
    statuses = [(m, s) for m, path, _, s in proxy.log if UPLOAD_PATH in path]
    # two chunks, a dropped third, a status GET (204), the third again, the rest, the PUT
    assert statuses[:6] == [
        ("POST", 202),
        ("PATCH", 202),
        ("PATCH", 202),
        ("PATCH", 0),
        ("GET", 204),
        ("PATCH", 202),
    ]
    assert [m for m, _ in statuses].count("POST") == 1


def _push_image(client: RegistryClient, repo: str, layer: bytes, tag: str) -> str:
    """Push config + layer, then tag the manifest: the order the converter uses."""
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_push = client.push_blob(repo, config)
    layer_push = client.push_blob(repo, layer, chunk_size=CHUNK)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_push.digest, "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_TAR, "digest": layer_push.digest, "size": len(layer)}
            ],
        }
    ).encode()
    return client.put_manifest(repo, tag, manifest, OCI_MANIFEST).digest


def test_registry_stopped_mid_push(
    tmp_path: Path, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    with start_plain_registry(tmp_path / "dying") as registry:
        with FaultProxy(registry.host, max_lifetime=120) as proxy:
            proxy.add(
                Fault("call", method="PATCH", path=UPLOAD_PATH, nth=2, callback=registry.stop)
            )
            client = make_client(registry, host=proxy.host)
            with pytest.raises(
                RegistryError, match=r"HTTP 502 .*unreachable.*\(after 4 attempts\)"
            ) as caught:
                _push_image(client, repo, payload, "v1")
            assert "\n" not in str(caught.value)
        registry.start()
        check = make_client(registry)
        assert check.list_tags(repo) == []
        assert check.head_manifest(repo, "v1") is None


def test_redirect_drops_authorization(
    redirecting: tuple[RegistryServer, BlobStore],
    make_client: ClientFactory,
    repo: str,
    payload: bytes,
) -> None:
    registry, store = redirecting
    client = make_client(registry)
    digest = client.push_blob(repo, payload).digest
    before = len(store.requests)
    assert client.read_range(repo, digest, 10, 20) == payload[10:30]
    assert client.read_range(repo, digest, 5000, 10) == payload[5000:5010]  # remembered URL
    assert client.get_blob(repo, digest) == payload
    seen = store.requests[before:]
    assert len(seen) == 3
    assert all("authorization" not in headers for headers in seen)
    assert seen[0]["range"] == "bytes=10-29"
    assert hashlib.sha256(payload).hexdigest() in digest


def test_bandwidth_limited_proxy_delivers_exact_bytes(
    basic_registry: RegistryServer, make_client: ClientFactory, repo: str, payload: bytes
) -> None:
    digest = make_client(basic_registry).push_blob(repo, payload).digest
    with FaultProxy(basic_registry.host, bandwidth=10e6, latency=0.02, max_lifetime=60) as slow:
        client = make_client(basic_registry, host=slow.host)
        assert client.read_range(repo, digest, 77, 300_000) == payload[77:300_077]
        assert slow.bytes_sent >= 300_000
