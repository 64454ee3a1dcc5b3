"""``--insecure`` is the user's explicit choice: urllib3 does not warn about it per request."""

from __future__ import annotations

from tests.cli.helpers import obd
from tests.conftest import HELLO_LAYOUT
from tests.registry.registry_server import RegistryServer


def test_insecure_flags_print_no_urllib3_warnings(tls_registry: RegistryServer) -> None:
    image = f"docker://{tls_registry.host}/hello:obd"
    converted = obd("convert", f"oci:{HELLO_LAYOUT}:amd64", image, "--dest-insecure", "-q")
    assert converted.stderr == ""
    listed = obd("ls", image, "--insecure")
    assert "hello" in listed.stdout
    assert listed.stderr == ""
    refused = obd("ls", image, check=False)
    assert refused.returncode == 1 and "--insecure" in refused.stderr
