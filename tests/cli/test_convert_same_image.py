"""``obd convert`` refuses a TARGET that names the SOURCE image: the source would be lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from overlaybd_py.convert import convert
from overlaybd_py.errors import ConversionError
from overlaybd_py.registry import HostOptions
from overlaybd_py.registry.client import RegistryClient
from tests.cli.helpers import assert_one_line_error, obd
from tests.conftest import HELLO_LAYOUT
from tests.lazy.images import push_layout
from tests.registry.registry_server import RegistryServer


def test_registry_tag_onto_itself_is_refused(plain_registry: RegistryServer) -> None:
    host = plain_registry.host
    options = HostOptions(plain_http=True, use_environment=False, use_docker_config=False)
    with RegistryClient(host, options) as client:
        pushed = push_layout(client, HELLO_LAYOUT, "amd64", "self", "amd64")
        for source, target in (
            (f"docker://{host}/self:amd64", f"docker://{host}/self:amd64"),
            (f"{host}/self:amd64", f"docker://{host}/self:amd64"),
            (f"docker://{host}/self:amd64", f"{host}/self:amd64"),
        ):
            result = obd("convert", source, target, "--plain-http", "-q", check=False)
            assert_one_line_error(
                result, "is the source image itself", f"e.g. docker://{host}/self:amd64-obd"
            )
        assert client.get_manifest("self", "amd64").digest == pushed.digest
        port = host.rsplit(":", 1)[1]
        alias = obd(
            "convert", f"docker://{host}/self:amd64", f"docker://localhost:{port}/self:amd64",
            "--plain-http", "-q", check=False,
        )  # fmt: skip
        assert_one_line_error(
            alias, f"already holds the source image {pushed.digest} under that tag"
        )
        assert client.get_manifest("self", "amd64").digest == pushed.digest
        obd("convert", f"{host}/self:amd64", f"{host}/self:amd64-obd", "--plain-http", "-q")
        assert client.get_manifest("self", "amd64").digest == pushed.digest


def test_layout_tag_onto_itself_is_refused(tmp_path: Path) -> None:
    layout = tmp_path / "hello"
    shutil.copytree(HELLO_LAYOUT, layout)
    index = (layout / "index.json").read_bytes()
    via_link = tmp_path / "link"
    via_link.symlink_to(layout)
    for target in (f"oci:{layout}:amd64", f"oci:{via_link}/../hello:amd64"):
        result = obd("convert", f"oci:{layout}:amd64", target, "-q", check=False)
        assert_one_line_error(result, "is the source image itself", ":amd64-obd")
    with pytest.raises(ConversionError, match="is the source image itself"):
        convert(f"oci:{layout}:amd64", f"oci:{layout}:amd64")
    assert (layout / "index.json").read_bytes() == index
    convert(f"oci:{layout}:amd64", f"oci:{layout}:amd64-obd")  # another tag is fine
