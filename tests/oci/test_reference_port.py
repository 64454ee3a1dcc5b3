"""Registry ports are checked when a name is parsed, not at the first request."""

from __future__ import annotations

import pytest

from overlaybd_py.errors import ImageError
from overlaybd_py.oci.reference import parse_reference


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_port_out_of_range_is_refused(port: str) -> None:
    text = f"docker://127.0.0.1:{port}/x:1"
    with pytest.raises(ImageError) as raised:
        parse_reference(text)
    assert str(raised.value) == f"{text}: expected a registry port from 1 to 65535, found {port}"


@pytest.mark.parametrize(
    "text", ["docker://127.0.0.1:1/x", "docker://localhost:65535/x", "docker://[::1]/x"]
)
def test_ports_in_range_and_bare_ipv6_hosts_parse(text: str) -> None:
    parse_reference(text)
