"""Fixtures: a two-layer source image and its conversion, pushed to a real registry.

The session builds the images once; each test gets its own empty cache directory.
Pushed under one repository: ``:obd`` (converted), ``:src`` (the source image, with
the converted manifest attached as its streaming referrer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlaybd_py.lazy import LazyOptions
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import HostOptions, RegistryHosts, RetryPolicy
from tests.registry.registry_server import (
    RegistryServer,
    registry_available,
    start_plain_registry,
)

from .images import (
    attach_as_referrer,
    convert_layout,
    expected_files,
    push_layout,
    write_source_layout,
)

FAST_RETRY = RetryPolicy(attempts=4, backoff=0.05, max_backoff=0.3)
PLAIN = HostOptions(
    plain_http=True, use_environment=False, use_docker_config=False, retry=FAST_RETRY
)
REPO = "lazy/app"
CONVERTED_TAG = "obd"
SOURCE_TAG = "src"


@dataclass(frozen=True)
class Layouts:
    source: Path
    converted: Path


@dataclass(frozen=True)
class Pushed:
    """The images in the registry: references and what they contain."""

    server: RegistryServer
    converted: str
    source: str
    referrer_digest: str

    @property
    def host(self) -> str:
        return self.server.host


@pytest.fixture(scope="session")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Layouts:
    root = tmp_path_factory.mktemp("lazy-images")
    write_source_layout(root / "source", SOURCE_TAG)
    convert_layout(f"oci:{root / 'source'}:{SOURCE_TAG}", root / "converted", CONVERTED_TAG)
    return Layouts(root / "source", root / "converted")


@pytest.fixture(scope="session")
def files() -> dict[str, bytes]:
    return expected_files()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if not registry_available():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    with start_plain_registry(tmp_path_factory.mktemp("lazy-registry")) as server:
        yield server


def push_all(client: RegistryClient, layouts: Layouts, repo: str) -> str:
    """Push both images; attach the converted manifest to the source; the referrer digest."""
    push_layout(client, layouts.converted, CONVERTED_TAG, repo, CONVERTED_TAG)
    subject = push_layout(client, layouts.source, SOURCE_TAG, repo, SOURCE_TAG)
    layout = OCILayout.open_dir(layouts.converted)
    try:
        converted = layout.fetch(layout.resolve(CONVERTED_TAG))
    finally:
        layout.close()
    assert json.loads(converted)["layers"]
    return attach_as_referrer(client, repo, converted, subject, mt.ARTIFACT_AZURE_STREAMING)


@pytest.fixture(scope="session")
def pushed(registry: RegistryServer, layouts: Layouts) -> Pushed:
    with RegistryClient(registry.host, PLAIN) as client:
        referrer = push_all(client, layouts, REPO)
    return Pushed(
        registry,
        f"docker://{registry.host}/{REPO}:{CONVERTED_TAG}",
        f"docker://{registry.host}/{REPO}:{SOURCE_TAG}",
        referrer,
    )


@pytest.fixture
def hosts() -> Iterator[RegistryHosts]:
    registry_hosts = RegistryHosts(PLAIN)
    yield registry_hosts
    registry_hosts.close()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def options(hosts: RegistryHosts, cache_dir: Path) -> LazyOptions:
    return LazyOptions(hosts=hosts, cache_dir=str(cache_dir))
