"""Fixtures: a private copy of the upstream hello-world layout, converted in place, and a
real ``docker-registry`` (plus the referrers-API test double in front of it)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlaybd_py.convert import ConvertOptions, ConvertReport, convert
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import HostOptions, RegistryHosts, RetryPolicy
from tests.conftest import HELLO_LAYOUT
from tests.registry.referrers_proxy import ReferrersProxy
from tests.registry.registry_server import (
    RegistryServer,
    registry_available,
    start_plain_registry,
)

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.2)
PLAIN = HostOptions(
    plain_http=True, use_environment=False, use_docker_config=False, retry=FAST_RETRY
)
SOURCE_TAG = "amd64"
CONVERTED_TAG = "amd64-obd"
INDEX_TAG = "docker-list"


@dataclass
class Converted:
    """A layout holding the hello-world source and its conversion, and the report."""

    layout: Path
    report: ConvertReport

    @property
    def source(self) -> str:
        return f"oci:{self.layout}:{SOURCE_TAG}"

    @property
    def target(self) -> str:
        return f"oci:{self.layout}:{CONVERTED_TAG}"


def copy_hello(tmp_path: Path, name: str = "hello") -> Path:
    layout = tmp_path / name
    shutil.copytree(HELLO_LAYOUT, layout)
    return layout


def convert_into(
    layout: Path, source_tag: str, target_tag: str, options: ConvertOptions | None = None
) -> ConvertReport:
    return convert(f"oci:{layout}:{source_tag}", f"oci:{layout}:{target_tag}", options)


@pytest.fixture
def converted(tmp_path: Path) -> Converted:
    """hello-world linux/amd64 converted into the same layout (tag ``amd64-obd``)."""
    layout = copy_hello(tmp_path)
    return Converted(layout, convert_into(layout, SOURCE_TAG, CONVERTED_TAG))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if not registry_available():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    with start_plain_registry(tmp_path_factory.mktemp("streaming-registry")) as server:
        yield server


@pytest.fixture
def api_proxy(registry: RegistryServer) -> Iterator[ReferrersProxy]:
    """TEST DOUBLE: forwards to the real registry, adds the referrers API and OCI-Subject."""
    with ReferrersProxy(registry.host) as proxy:
        yield proxy  # type: ignore[misc]


@pytest.fixture
def hosts() -> RegistryHosts:
    return RegistryHosts(default=PLAIN)


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[RegistryClient]:
    with RegistryClient(registry.host, PLAIN) as opened:
        yield opened


@pytest.fixture
def repo() -> str:
    return f"streaming/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def docker_transport(hosts: RegistryHosts) -> Iterator[RegistryHosts]:
    """The ``docker://`` transport configured for the plain-HTTP test registry."""
    from overlaybd_py.registry import image

    previous = image.registry_hosts()
    image.configure(hosts)
    try:
        yield hosts
    finally:
        image.configure(previous)
