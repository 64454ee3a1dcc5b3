"""Anonymous, Basic and bearer-token auth against real registries; challenge parsing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from overlaybd_py.errors import AuthError
from overlaybd_py.registry.auth import parse_www_authenticate

from .conftest import ClientFactory
from .registry_server import RegistryServer, rotate_token_key, start_token_registry


def test_parse_bearer_challenge_with_quoted_scope() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="reg.example",'
        'scope="repository:a/b:pull,push",error="invalid_token"'
    )
    [challenge] = parse_www_authenticate(header)
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example/token",
        "service": "reg.example",
        "scope": "repository:a/b:pull,push",
        "error": "invalid_token",
    }


def test_parse_several_challenges_and_unquoted_values() -> None:
    header = 'Basic realm="r1", Bearer realm=https://t.example/x,service=svc'
    challenges = parse_www_authenticate(header)
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].params == {"realm": "r1"}
    assert challenges[1].params == {"realm": "https://t.example/x", "service": "svc"}


def test_parse_escaped_quote() -> None:
    [challenge] = parse_www_authenticate(r'Basic realm="say \"hi\""')
    assert challenge.params["realm"] == 'say "hi"'


def test_anonymous_plain_registry(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(plain_registry, username=None, password=None)
    client.ping()
    pushed = client.push_blob(repo, b"anonymous")
    assert client.blob_size(repo, pushed.digest) == len(b"anonymous")


def test_basic_auth(basic_registry: RegistryServer, make_client: ClientFactory, repo: str) -> None:
    client = make_client(basic_registry)
    pushed = client.push_blob(repo, b"basic")
    assert client.get_blob(repo, pushed.digest) == b"basic"


def test_basic_auth_wrong_password(
    basic_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(basic_registry, password="wrong")
    with pytest.raises(AuthError, match="refused|HTTP 401") as caught:
        client.ping()
    assert "tester" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_basic_auth_without_credentials(
    basic_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(basic_registry, username=None, password=None)
    with pytest.raises(AuthError, match="requires credentials"):
        client.ping()


def test_token_auth_push_and_pull(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(token_registry)
    data = b"bearer" * 1000
    pushed = client.push_blob(repo, data)
    assert client.read_range(repo, pushed.digest, 6, 6) == b"bearer"
    assert token_registry.token_server is not None
    scopes = [s for r in token_registry.token_server.requests for s in r["scope"]]  # type: ignore[union-attr]
    assert f"repository:{repo}:pull,push" in scopes


def test_token_is_cached_per_scope(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    client = make_client(token_registry)
    digest = client.push_blob(repo, b"cached").digest
    before = len(tokens.requests)
    for _ in range(5):
        assert client.read_range(repo, digest, 0, 3) == b"cac"
    assert len(tokens.requests) - before <= 1


def test_token_wrong_password(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(token_registry, password="nope")
    with pytest.raises(AuthError, match="token server refused user 'tester'"):
        client.blob_size(repo, "sha256:" + "0" * 64)


def test_refused_token_is_refreshed_mid_read(
    tmp_path: Path, make_client: ClientFactory, repo: str
) -> None:
    with start_token_registry(tmp_path / "rotating") as server:
        tokens = server.token_server
        assert tokens is not None
        client = make_client(server)
        digest = client.push_blob(repo, b"0123456789").digest
        assert client.read_range(repo, digest, 0, 2) == b"01"
        rotate_token_key(server)  # the cached token is now refused with 401
        before = len(tokens.requests)
        assert client.read_range(repo, digest, 2, 3) == b"234"
        assert len(tokens.requests) - before == 1


def test_fresh_token_refused_is_an_auth_error(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    digest = make_client(token_registry).push_blob(repo, b"x").digest
    tokens.issue_expired(1)  # the only token the reader gets is refused by the registry
    with pytest.raises(AuthError, match="HTTP 401 to bearer credentials of user 'tester'"):
        make_client(token_registry).read_range(repo, digest, 0, 1)


def test_token_refetched_when_expires_in_runs_out(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    client = make_client(token_registry)
    digest = client.push_blob(repo, b"short-lived").digest
    tokens.expires_in = 1
    try:
        reader = make_client(token_registry)
        assert reader.read_range(repo, digest, 0, 5) == b"short"
        before = len(tokens.requests)
        time.sleep(1.1)
        assert reader.read_range(repo, digest, 6, 5) == b"lived"
        assert len(tokens.requests) - before == 1
    finally:
        tokens.expires_in = 300


def test_refused_credentials_name_their_flag_and_the_access(
    basic_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    """The tester's case: not "from options for scope (none)", but the flag that gave the
    credentials, and the access asked for only when there is one."""
    client = make_client(basic_registry, password="wrong", creds_flag="--dest-creds")
    with pytest.raises(AuthError) as caught:
        client.ping()
    assert str(caught.value).endswith(
        f"registry answered HTTP 401 to basic credentials of user '{basic_registry.username}' "
        "from --dest-creds"
    ), caught.value
    with pytest.raises(AuthError) as caught:
        client.get_blob(repo, "sha256:" + "0" * 64)
    assert str(caught.value).endswith(f"from --dest-creds for pull access to {repo}")


def test_missing_credentials_hint_names_the_side_flag(
    basic_registry: RegistryServer, make_client: ClientFactory
) -> None:
    for flag, hint in (
        ("--dest-creds", "give --dest-creds (or --creds), "),
        ("--creds", "give --creds, "),
        ("", "give --creds (or --src-creds/--dest-creds for convert), "),
    ):
        client = make_client(basic_registry, username=None, password=None, creds_flag=flag)
        with pytest.raises(AuthError, match="requires credentials") as caught:
            client.ping()
        assert hint in str(caught.value)


def test_token_server_refusal_names_the_access(
    token_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    client = make_client(token_registry, password="wrong")
    with pytest.raises(AuthError) as caught:
        client.get_blob(repo, "sha256:" + "0" * 64)
    refused = (
        f"token server refused user 'tester' from HostOptions.username for pull access to {repo}"
    )
    assert refused in str(caught.value)
