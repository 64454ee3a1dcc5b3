"""Find the credentials for a registry host.

Order: explicit options, then the environment (``OBD_REGISTRY_USERNAME`` and
``OBD_REGISTRY_PASSWORD``, applied to every host), then the docker ``config.json``
(``auths`` with base64 ``user:password`` or an ``identitytoken``, ``credHelpers`` per
host, ``credsStore`` for all hosts, both run as ``docker-credential-<name> get``).

The docker config is parsed here rather than through oras-py: its loader merges
configs in an unordered set and its helper calls are tied to its own session class.
Like the docker CLI, a config file that is not valid JSON is warned about (once per
file) and ignored, so anonymous access still works.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import AuthError
from .options import HostOptions

log = logging.getLogger(__name__)

ENV_USERNAME = "OBD_REGISTRY_USERNAME"
ENV_PASSWORD = "OBD_REGISTRY_PASSWORD"
ENV_DOCKER_CONFIG = "DOCKER_CONFIG"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
HELPER_TIMEOUT = 30.0
HELPER_TOKEN_USERNAME = "<token>"
HELPER_NOT_FOUND = "credentials not found"

_warned_configs: set[Path] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an OAuth2 identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str | None = None
    origin: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, origin={self.origin!r})"


def resolve_credentials(host: str, options: HostOptions) -> Credentials | None:
    """The credentials to use for ``host``, or None for anonymous access."""
    if options.username is not None:
        origin = options.creds_flag or "HostOptions.username"
        return Credentials(options.username, options.password or "", origin=origin)
    if options.use_environment:
        username = os.environ.get(ENV_USERNAME)
        password = os.environ.get(ENV_PASSWORD)
        if username and password is not None:
            return Credentials(username, password, origin=ENV_USERNAME)
    if options.use_docker_config:
        return docker_config_credentials(host, docker_config_path(options.docker_config))
    return None


def docker_config_path(explicit: str | None = None) -> Path:
    """``explicit``, else ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    if explicit:
        return Path(explicit)
    directory = os.environ.get(ENV_DOCKER_CONFIG)
    if directory:
        return Path(directory) / "config.json"
    return Path.home() / ".docker" / "config.json"


def _normalize(key: str) -> str:
    """``https://host/v1/`` and ``host`` name the same registry in config.json keys."""
    if "://" in key:
        key = key.split("://", 1)[1]
    host = key.split("/", 1)[0]
    return "docker.io" if host in DOCKER_HUB_HOSTS else host


def _server_url(host: str) -> str:
    """The server URL credential helpers were given at login for ``host``."""
    return DOCKER_HUB_SERVER if _normalize(host) == "docker.io" else host


def docker_config_credentials(host: str, path: Path) -> Credentials | None:
    """Credentials for ``host`` from a docker config file (None when it has none)."""
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        _warn_once(path, f"expected a docker config JSON file, found: {error}")
        return None
    if not isinstance(config, dict):
        _warn_once(path, f"expected a JSON object at the top, found {type(config).__name__}")
        return None

    wanted = _normalize(host)
    for key, entry in (config.get("auths") or {}).items():
        if _normalize(key) == wanted and isinstance(entry, dict):
            found = _auth_entry(entry, f"{path}: auths[{key!r}]", f"docker config {path}")
            if found is not None:
                return found

    helpers = config.get("credHelpers") or {}
    helper = next((name for key, name in helpers.items() if _normalize(key) == wanted), None)
    helper = helper or config.get("credsStore")
    if helper:
        return helper_credentials(str(helper), _server_url(host))
    return None


def _warn_once(path: Path, problem: str) -> None:
    with _warned_lock:
        if path in _warned_configs:
            return
        _warned_configs.add(path)
    log.warning("%s: %s; ignoring it (anonymous access)", path, " ".join(problem.split()))


def _auth_entry(entry: dict[str, object], where: str, origin: str) -> Credentials | None:
    token = entry.get("identitytoken")
    encoded = entry.get("auth")
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    if isinstance(encoded, str) and encoded:
        try:
            username, sep, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise AuthError(f"{where}.auth: expected base64 of 'user:password', found other data")
    if isinstance(token, str) and token:
        return Credentials(username, "", identity_token=token, origin=origin)
    if username:
        return Credentials(username, password, origin=origin)
    return None


def helper_credentials(helper: str, server_url: str) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for ``server_url``'s credentials."""
    program = f"docker-credential-{helper}"
    try:
        result = subprocess.run(
            [program, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        log.warning("credential helper %s is not on PATH; using anonymous access", program)
        return None
    except subprocess.TimeoutExpired:
        raise AuthError(
            f"{program} get {server_url}: expected an answer within {HELPER_TIMEOUT:.0f}s, "
            "found none"
        ) from None
    output = result.stdout.decode(errors="replace").strip()
    if result.returncode != 0:
        message = (output or result.stderr.decode(errors="replace")).strip()
        if HELPER_NOT_FOUND in message.lower():
            return None
        raise AuthError(f"{program} get {server_url}: exited with {result.returncode}: {message}")
    try:
        payload = json.loads(output)
        username, secret = str(payload["Username"]), str(payload["Secret"])
    except (ValueError, KeyError, TypeError):
        raise AuthError(
            f"{program} get {server_url}: expected JSON with Username and Secret, "
            f"found {output[:80]!r}"
        ) from None
    origin = f"credential helper {program}"
    if username == HELPER_TOKEN_USERNAME:
        return Credentials("", "", identity_token=secret, origin=origin)
    return Credentials(username, secret, origin=origin)
