"""Credential sources (options, environment, docker config, credential helpers) and TLS."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from overlaybd_py.errors import AuthError, RegistryError
from overlaybd_py.registry.credentials import resolve_credentials
from overlaybd_py.registry.options import HostOptions, RegistryHosts

from .conftest import ClientFactory
from .registry_server import TEST_PASSWORD, TEST_USER, RegistryServer, TlsMaterial


def _config(tmp_path: Path, body: dict[str, object]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(body))
    return str(path)


def _helper(tmp_path: Path, name: str, script: str) -> None:
    """Install ``docker-credential-<name>`` on PATH for this test."""
    path = tmp_path / "bin" / f"docker-credential-{name}"
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def helper_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_from_cli_parses_creds() -> None:
    options = HostOptions.from_cli("me:pa:ss", insecure=True, plain_http=True)
    assert (options.username, options.password, options.insecure, options.plain_http) == (
        "me",
        "pa:ss",
        True,
        True,
    )
    with pytest.raises(AuthError, match="USER:PASSWORD"):
        HostOptions.from_cli("no-colon")


def test_environment_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBD_REGISTRY_USERNAME", "envuser")
    monkeypatch.setenv("OBD_REGISTRY_PASSWORD", "envpass")
    found = resolve_credentials("r.example", HostOptions(use_docker_config=False))
    assert found is not None and (found.username, found.password) == ("envuser", "envpass")
    explicit = resolve_credentials("r.example", HostOptions(username="a", password="b"))
    assert explicit is not None and explicit.username == "a"


def test_docker_config_auths_entry(
    tmp_path: Path, basic_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    encoded = base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()
    config = _config(tmp_path, {"auths": {f"http://{basic_registry.host}/v2/": {"auth": encoded}}})
    client = make_client(
        basic_registry, username=None, password=None, use_docker_config=True, docker_config=config
    )
    assert client.push_blob(repo, b"from config").action == "uploaded"


def test_docker_config_bad_auth_field(tmp_path: Path) -> None:
    config = _config(tmp_path, {"auths": {"r.example": {"auth": "!!notbase64"}}})
    with pytest.raises(AuthError, match="expected base64"):
        resolve_credentials("r.example", HostOptions(docker_config=config, use_environment=False))


def test_docker_hub_key_normalized(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"hubuser:hubpass").decode()
    config = _config(tmp_path, {"auths": {"https://index.docker.io/v1/": {"auth": encoded}}})
    found = resolve_credentials(
        "registry-1.docker.io", HostOptions(docker_config=config, use_environment=False)
    )
    assert found is not None and found.username == "hubuser"


def test_cred_helper_per_host(
    helper_path: Path, basic_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    _helper(
        helper_path,
        "obdtest",
        f'read host\necho "{{\\"ServerURL\\":\\"$host\\",\\"Username\\":\\"{TEST_USER}\\",'
        f'\\"Secret\\":\\"{TEST_PASSWORD}\\"}}"\n',
    )
    config = _config(helper_path, {"credHelpers": {basic_registry.host: "obdtest"}})
    client = make_client(
        basic_registry, username=None, password=None, use_docker_config=True, docker_config=config
    )
    assert client.push_blob(repo, b"from helper").action == "uploaded"


def test_creds_store_not_found_is_anonymous(helper_path: Path) -> None:
    _helper(helper_path, "empty", 'echo "credentials not found in native keychain"; exit 1\n')
    config = _config(helper_path, {"credsStore": "empty"})
    options = HostOptions(docker_config=config, use_environment=False)
    assert resolve_credentials("r.example", options) is None


def test_creds_store_failure_is_clear(helper_path: Path) -> None:
    _helper(helper_path, "broken", 'echo "keychain locked" >&2; exit 3\n')
    config = _config(helper_path, {"credsStore": "broken"})
    with pytest.raises(AuthError, match="docker-credential-broken get r.example: exited with 3"):
        resolve_credentials("r.example", HostOptions(docker_config=config, use_environment=False))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_malformed_docker_config_is_read_only_when_asked(
    tmp_path: Path,
    plain_registry: RegistryServer,
    basic_registry: RegistryServer,
    make_client: ClientFactory,
    repo: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like the docker CLI: a broken config.json does not stop anonymous access, and is
    warned about once, when a registry asks for credentials."""
    config = tmp_path / "config.json"
    config.write_text("{not json")
    settings = {"username": None, "password": None, "use_docker_config": True}
    anonymous = make_client(plain_registry, docker_config=str(config), **settings)
    assert anonymous.push_blob(repo, b"no credentials needed").action == "uploaded"
    assert _warnings(caplog) == []

    for _ in range(2):
        client = make_client(basic_registry, docker_config=str(config), **settings)
        with pytest.raises(AuthError, match="requires credentials"):
            client.ping()
    (warning,) = _warnings(caplog)
    assert warning.startswith(f"{config}: expected a docker config JSON file, found: Expecting")
    assert warning.endswith("; ignoring it (anonymous access)")


def test_missing_helper_is_warned_about_only_when_asked(
    tmp_path: Path,
    plain_registry: RegistryServer,
    basic_registry: RegistryServer,
    make_client: ClientFactory,
    repo: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = _config(tmp_path, {"credsStore": "obd-nonexistent"})
    settings = {"username": None, "password": None, "use_docker_config": True}
    anonymous = make_client(plain_registry, docker_config=config, **settings)
    assert anonymous.push_blob(repo, b"helper not needed").action == "uploaded"
    assert _warnings(caplog) == []

    with pytest.raises(AuthError, match="requires credentials"):
        make_client(basic_registry, docker_config=config, **settings).ping()
    assert _warnings(caplog) == [
        "credential helper docker-credential-obd-nonexistent is not on PATH; using anonymous access"
    ]


def test_tls_with_generated_ca(
    tls_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(tls_registry)
    assert client.transport.base_url.startswith("https://")
    digest = client.push_blob(repo, b"over tls").digest
    assert client.read_range(repo, digest, 5, 3) == b"tls"


def test_tls_untrusted_ca_is_clear_error(
    tls_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(tls_registry, ca_file=None)
    with pytest.raises(RegistryError, match="TLS to https://127.0.0.1:.* failed.*--insecure"):
        client.ping()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_insecure_skips_verification(
    tls_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(tls_registry, ca_file=None, insecure=True)
    assert client.push_blob(repo, b"insecure").action == "uploaded"


def test_plain_http_against_tls_registry_fails_clearly(
    tls_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(tls_registry, plain_http=True)
    with pytest.raises(RegistryError, match="HTTP 400"):
        client.ping()


def test_cert_dir_ca_and_client_certificate(
    mtls_registry: RegistryServer, tls_material: TlsMaterial, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(mtls_registry, ca_file=None, cert_dir=str(tls_material.cert_dir))
    assert client.push_blob(repo, b"mutual").action == "uploaded"


def test_missing_client_certificate_is_refused(
    mtls_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(mtls_registry)
    with pytest.raises(RegistryError, match="failed"):
        client.ping()


def test_registry_hosts_per_host_options(
    tls_registry: RegistryServer, basic_registry: RegistryServer, repo: str
) -> None:
    hosts = RegistryHosts(
        default=HostOptions(
            plain_http=True,
            use_environment=False,
            use_docker_config=False,
            username=TEST_USER,
            password=TEST_PASSWORD,
        ),
        hosts={
            tls_registry.host: HostOptions(
                ca_file=str(tls_registry.ca_file), use_environment=False, use_docker_config=False
            )
        },
    )
    try:
        source, target = hosts.client(basic_registry.host), hosts.client(tls_registry.host)
        assert hosts.client(basic_registry.host) is source
        digest = source.push_blob(repo, b"across registries").digest
        assert target.push_blob(repo, source.get_blob(repo, digest)).digest == digest
    finally:
        hosts.close()


def test_a_ca_file_without_certificates_is_named_without_openssl_internals(
    tls_registry: RegistryServer, make_client: ClientFactory, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(RegistryError) as caught:
        make_client(tls_registry, ca_file=str(bad))
    assert str(caught.value) == f"CA file {bad}: expected PEM certificates, found none"
    # From flags, the file is checked even for plain HTTP, and the flag is named.
    with pytest.raises(RegistryError) as caught:
        HostOptions.from_cli(ca_file=str(bad), plain_http=True, ca_flag="--dest-ca-file")
    assert str(caught.value) == f"--dest-ca-file {bad}: expected PEM certificates, found none"
    with pytest.raises(RegistryError, match="--cert-dir /nonexistent: expected a directory"):
        HostOptions.from_cli(cert_dir="/nonexistent", plain_http=True)
