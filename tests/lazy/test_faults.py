"""A registry that fails mid-read: 5xx answers, dropped connections, expired tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaybd_py.errors import RegistryError
from overlaybd_py.lazy import LazyOptions, open_image
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import HostOptions, RegistryHosts, RetryPolicy
from tests.registry.fault_proxy import Fault, FaultProxy
from tests.registry.registry_server import (
    rotate_token_key,
    running,
    start_token_registry,
)

from .conftest import CONVERTED_TAG, FAST_RETRY, PLAIN, REPO, Layouts, Pushed, push_all

BLOB_PATH = r"/blobs/sha256:"


@pytest.fixture
def proxy(pushed: Pushed) -> Iterator[FaultProxy]:
    server = FaultProxy(pushed.host, max_lifetime=120)
    with server:
        yield server


def proxied(proxy: FaultProxy, hosts: RegistryHosts, cache_dir: Path) -> tuple[str, LazyOptions]:
    ref = f"docker://{proxy.host}/{REPO}:{CONVERTED_TAG}"
    return ref, LazyOptions(hosts=hosts, cache_dir=str(cache_dir))


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", method="GET", path=BLOB_PATH, nth=2, times=2, status=503),
        Fault("status", method="GET", path=BLOB_PATH, nth=3, times=1, status=500),
        Fault("drop", method="GET", path=BLOB_PATH, nth=2, times=2),
        Fault("drop_mid_response", method="GET", path=BLOB_PATH, nth=2, times=1),
    ],
    ids=["503-twice", "500", "drop-before-answer", "drop-mid-body"],
)
def test_failures_mid_read_are_retried(
    proxy: FaultProxy,
    hosts: RegistryHosts,
    cache_dir: Path,
    files: dict[str, bytes],
    fault: Fault,
) -> None:
    ref, options = proxied(proxy, hosts, cache_dir)
    with open_image(ref, options=options) as image:
        proxy.add(fault)  # counted from here: the faults hit file reads, not the open
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content, path
    assert fault.fired == fault.times
    assert fault.seen > fault.nth + fault.times - 1  # reads went on after the faults


def test_persistent_failure_is_one_clear_error(proxy: FaultProxy, cache_dir: Path) -> None:
    retry = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02)
    hosts = RegistryHosts(PLAIN.with_retry(retry))
    try:
        ref, options = proxied(proxy, hosts, cache_dir)
        with open_image(ref, options=options) as image:
            proxy.add(Fault("status", method="GET", path=BLOB_PATH, times=1000, status=503))
            with pytest.raises(RegistryError) as caught:
                image.filesystem().read_file("/usr/bin/app")
    finally:
        hosts.close()
    message = str(caught.value)
    assert "\n" not in message
    assert "503" in message and "/blobs/sha256:" in message


def test_expired_token_is_refreshed_mid_read(
    tmp_path: Path, layouts: Layouts, files: dict[str, bytes]
) -> None:
    with running(start_token_registry(tmp_path / "token-registry")) as server:
        tokens = server.token_server
        assert tokens is not None
        options = HostOptions(
            plain_http=True,
            username=server.username,
            password=server.password,
            use_environment=False,
            use_docker_config=False,
            retry=FAST_RETRY,
        )
        with RegistryClient(server.host, options) as client:
            push_all(client, layouts, REPO)
        hosts = RegistryHosts(options)
        try:
            ref = f"docker://{server.host}/{REPO}:{CONVERTED_TAG}"
            lazy = LazyOptions(hosts=hosts, cache_dir=str(tmp_path / "cache"))
            with open_image(ref, options=lazy) as image:
                fs = image.filesystem()
                assert fs.read_file("/etc/os-release") == files["/etc/os-release"]
                before = len(tokens.requests)
                rotate_token_key(server)  # every token issued so far is now refused (401)
                for path, content in files.items():
                    assert fs.read_file(path) == content, path
                assert len(tokens.requests) > before
        finally:
            hosts.close()
