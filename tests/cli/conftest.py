"""Real registries for the CLI tests: plain HTTP and HTTPS with a certificate nobody trusts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.registry_server import (
    RegistryServer,
    make_tls_material,
    registry_available,
    start_plain_registry,
    start_tls_registry,
)


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if not registry_available():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    with start_plain_registry(tmp_path_factory.mktemp("plain-registry")) as server:
        yield server


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if not registry_available():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("tls-registry")
    material = make_tls_material(root / "pki")
    with start_tls_registry(root / "registry", material) as server:
        yield server


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Block caches and credentials of the user running the tests stay out of the way."""
    monkeypatch.setenv("OBD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OBD_REGISTRY_USERNAME", raising=False)
