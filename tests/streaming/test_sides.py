"""``obd convert``'s ``--src-*`` and ``--dest-*`` flags stay on their side, even when the
source and the target are on the same registry host."""

from __future__ import annotations

import subprocess
from pathlib import Path

from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.options import HostOptions
from tests.cli.helpers import assert_one_line_error
from tests.cli.helpers import obd as run_obd
from tests.registry.registry_server import (
    TEST_PASSWORD,
    TEST_USER,
    RegistryServer,
    start_basic_auth_registry,
)

from .conftest import FAST_RETRY, SOURCE_TAG, Converted
from .helpers import push_image


def obd(*args: str) -> subprocess.CompletedProcess[str]:
    return run_obd(*args, check=False, timeout=300)


def test_creds_errors_name_the_flag_given(converted: Converted, tmp_path: Path) -> None:
    target = f"oci:{tmp_path / 'out'}:x"
    for flag in ("--src-creds", "--dest-creds", "--creds"):
        result = obd("convert", converted.source, target, flag, "nocolon", "-q")
        assert_one_line_error(result, f"{flag}: expected USER:PASSWORD")


def test_plain_http_flags_stay_on_their_side(
    registry: RegistryServer, client: RegistryClient, repo: str, converted: Converted
) -> None:
    push_image(client, converted.layout, SOURCE_TAG, repo)
    source = f"docker://{registry.host}/{repo}:{SOURCE_TAG}"
    target = f"docker://{registry.host}/{repo}:obd"

    only_source = obd("convert", source, target, "--src-plain-http", "-q")
    assert_one_line_error(only_source, "does not speak TLS")
    assert f"manifests/{SOURCE_TAG}" not in only_source.stderr  # the source was read

    only_target = obd("convert", source, target, "--dest-plain-http", "-q")
    assert_one_line_error(only_target, f"https://{registry.host}/v2/{repo}/manifests/{SOURCE_TAG}")

    both = obd("convert", source, target, "--src-plain-http", "--dest-plain-http", "-q")
    assert both.returncode == 0, both.stderr


def test_each_side_uses_its_own_credentials_on_one_host(
    converted: Converted, tmp_path: Path
) -> None:
    """Right source credentials and wrong target ones: the source is read with its own,
    and the push fails naming the target's user (not the other way round)."""
    with start_basic_auth_registry(tmp_path / "auth") as server:
        options = HostOptions(
            plain_http=True,
            username=TEST_USER,
            password=TEST_PASSWORD,
            use_environment=False,
            use_docker_config=False,
            retry=FAST_RETRY,
        )
        with RegistryClient(server.host, options) as client:
            push_image(client, converted.layout, SOURCE_TAG, "sides/app")
        source = f"docker://{server.host}/sides/app:{SOURCE_TAG}"
        target = f"docker://{server.host}/sides/app:obd"
        flags = ("--plain-http", "-q", "--src-creds", f"{TEST_USER}:{TEST_PASSWORD}")
        result = obd("convert", source, target, *flags, "--dest-creds", "pusher:wrong")
        assert_one_line_error(result, "pusher")
        assert f"manifests/{SOURCE_TAG}" not in result.stderr

        right = f"{TEST_USER}:{TEST_PASSWORD}"
        result = obd("convert", source, target, *flags, "--dest-creds", right)
        assert result.returncode == 0, result.stderr
