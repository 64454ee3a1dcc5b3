"""``obd`` registry flags end to end: errors name the flag a user gave (or should give)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from tests.cli.helpers import assert_one_line_error, obd
from tests.conftest import HELLO_LAYOUT

from .registry_server import RegistryServer


@pytest.fixture
def no_stored_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the environment nor a docker config gives credentials."""
    monkeypatch.delenv("OBD_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("OBD_REGISTRY_PASSWORD", raising=False)
    (tmp_path / "docker").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


@pytest.fixture
def source(tmp_path: Path) -> str:
    shutil.copytree(HELLO_LAYOUT, tmp_path / "hello")
    return f"oci:{tmp_path / 'hello'}:amd64"


@pytest.mark.usefixtures("no_stored_credentials")
def test_convert_target_credentials_errors_name_dest_creds(
    basic_registry: RegistryServer, source: str, repo: str
) -> None:
    """The tester's case: a wrong --dest-creds is named as such, with no "scope (none)"."""
    target = f"docker://{basic_registry.host}/{repo}:obd"
    wrong = obd(
        "convert", "-q", "--plain-http", "--dest-creds", "tester:wrong", source, target, check=False
    )
    assert_one_line_error(wrong, "credentials of user 'tester' from --dest-creds")
    assert "scope" not in wrong.stderr and "from options" not in wrong.stderr

    missing = obd("convert", "-q", "--plain-http", source, target, check=False)
    assert_one_line_error(missing, "none found (give --dest-creds (or --creds), ")

    shared = obd(
        "convert", "-q", "--plain-http", "--creds", "tester:wrong", source, target, check=False
    )
    assert_one_line_error(shared, "credentials of user 'tester' from --creds")


@pytest.mark.usefixtures("no_stored_credentials")
def test_unusable_ca_files_and_cert_dirs_are_refused_naming_the_flag(
    plain_registry: RegistryServer, source: str, repo: str, tmp_path: Path
) -> None:
    """The tester's case: OpenSSL's internals are not shown, and a bad CA file or cert dir
    is refused before any work even when that side talks plain HTTP."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    target = f"docker://{plain_registry.host}/{repo}:obd"
    convert = ("convert", "-q", "--plain-http", source, target)
    for flags, error in (
        (
            ("--src-ca-file", str(bad)),
            f"--src-ca-file {bad}: expected PEM certificates, found none",
        ),
        (("--dest-ca-file", str(bad)), f"--dest-ca-file {bad}: expected PEM certificates"),
        (("--dest-ca-file", "/nonexistent.pem"), "--dest-ca-file /nonexistent.pem: "),
        (("--ca-file", str(bad)), f"--ca-file {bad}: "),
        (("--cert-dir", "/nonexistent"), "--cert-dir /nonexistent: expected a directory"),
    ):
        result = obd(*convert, *flags, check=False)
        assert_one_line_error(result, error)
        assert "_ssl.c" not in result.stderr and "[X509" not in result.stderr
    assert not any(tag.startswith("obd") for tag in _tags(plain_registry, repo))

    listing = obd("verify", target, "--plain-http", "--ca-file", "/nonexistent.pem", check=False)
    assert_one_line_error(listing, "--ca-file /nonexistent.pem: ")


def _tags(server: RegistryServer, repo: str) -> list[str]:
    response = requests.get(f"http://{server.host}/v2/{repo}/tags/list", timeout=10)
    return list(response.json().get("tags") or []) if response.ok else []
