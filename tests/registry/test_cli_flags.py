"""``obd`` registry flags end to end: errors name the flag a user gave (or should give)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
