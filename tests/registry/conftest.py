"""Fixtures: real ``docker-registry`` servers (plain, basic auth, TLS, mTLS, token auth,
redirecting) for the whole session, client factories, and registry logs on failure."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import HostOptions, RetryPolicy

from .blob_store import BlobStore
from .registry_server import (
    RUNNING,
    RegistryServer,
    TlsMaterial,
    log_tail,
    make_tls_material,
    registry_available,
    start_basic_auth_registry,
    start_plain_registry,
    start_tls_registry,
    start_token_registry,
)

FAST_RETRY = RetryPolicy(attempts=4, backoff=0.05, max_backoff=0.4)

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry not installed")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the tail of every live registry's log to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "registry" in str(item.path):
        for server in list(RUNNING):
            report.sections.append((f"registry log {server.url}", log_tail(server)))


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not registry_available():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    return tmp_path_factory.mktemp("registries")


@pytest.fixture(scope="session")
def plain_registry(registry_root: Path) -> Iterator[RegistryServer]:
    with start_plain_registry(registry_root / "plain") as server:
        yield server


@pytest.fixture(scope="session")
def basic_registry(registry_root: Path) -> Iterator[RegistryServer]:
    with start_basic_auth_registry(registry_root / "basic") as server:
        yield server


@pytest.fixture(scope="session")
def tls_material(registry_root: Path) -> TlsMaterial:
    return make_tls_material(registry_root / "pki")


@pytest.fixture(scope="session")
def tls_registry(registry_root: Path, tls_material: TlsMaterial) -> Iterator[RegistryServer]:
    with start_tls_registry(registry_root / "tls", tls_material) as server:
        yield server


@pytest.fixture(scope="session")
def mtls_registry(registry_root: Path, tls_material: TlsMaterial) -> Iterator[RegistryServer]:
    with start_tls_registry(
        registry_root / "mtls", tls_material, require_client_cert=True
    ) as server:
        yield server


@pytest.fixture(scope="session")
def token_registry(registry_root: Path) -> Iterator[RegistryServer]:
    with start_token_registry(registry_root / "token") as server:
        yield server


@pytest.fixture(scope="session")
def redirecting(registry_root: Path) -> Iterator[tuple[RegistryServer, BlobStore]]:
    """A basic-auth registry whose blob GETs redirect to a store named ``localhost``."""
    workdir = registry_root / "redirect"
    store = BlobStore(workdir / "storage").start()
    try:
        with start_basic_auth_registry(
            workdir, redirect_base=store.url_for_host("localhost")
        ) as server:
            yield server, store
    finally:
        store.stop()


@pytest.fixture
def repo() -> str:
    """A repository name no other test uses."""
    return f"test/{uuid.uuid4().hex[:12]}"


ClientFactory = Callable[..., RegistryClient]


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Build clients for a server with its credentials and CA unless overridden."""
    clients: list[RegistryClient] = []

    def factory(
        server: RegistryServer, host: str | None = None, **overrides: object
    ) -> RegistryClient:
        settings: dict[str, object] = {
            "plain_http": not server.tls,
            "ca_file": str(server.ca_file) if server.ca_file else None,
            "username": server.username,
            "password": server.password,
            "use_environment": False,
            "use_docker_config": False,
            "retry": FAST_RETRY,
        }
        settings.update(overrides)
        client = RegistryClient(host or server.host, HostOptions(**settings))  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
