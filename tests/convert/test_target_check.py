"""A registry target that cannot be reached fails the conversion before any layer is converted."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from overlaybd_py.convert import convert
from overlaybd_py.errors import RegistryError
from overlaybd_py.registry import image
from overlaybd_py.registry.options import HostOptions, RegistryHosts, RetryPolicy
from tests.conftest import HELLO_LAYOUT


@pytest.fixture
def one_try() -> Iterator[None]:
    previous = image.registry_hosts()
    options = HostOptions(
        plain_http=True,
        use_environment=False,
        use_docker_config=False,
        retry=RetryPolicy(attempts=1),
    )
    image.configure(RegistryHosts(default=options))
    try:
        yield
    finally:
        image.configure(previous)


def test_an_unreachable_registry_target_fails_before_converting(one_try: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    events: list[object] = []
    with pytest.raises(RegistryError, match="connection refused"):
        convert(
            f"oci:{HELLO_LAYOUT}:amd64", f"docker://127.0.0.1:{port}/x:y", progress=events.append
        )
    assert events == []
