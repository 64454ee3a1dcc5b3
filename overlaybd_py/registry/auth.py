"""Registry authentication: ``WWW-Authenticate`` challenges, Basic, and bearer tokens.

One :class:`Authenticator` per registry host, shared by all threads. It learns the
scheme from the first 401, then sends credentials up front. Credentials are looked up
only then: a registry that never answers 401 never causes the docker config to be read
or a credential helper to run (the docker CLI behaves the same way). Bearer tokens are cached
per set of scopes until shortly before ``expires_in`` runs out, and dropped when the
registry answers 401 to them (expired or revoked), so the caller can retry once.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from ..errors import AuthError, RegistryError
from .credentials import Credentials
from .neterrors import safe_url

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME = 60.0
TOKEN_REUSE_FRACTION = 0.9
OAUTH_CLIENT_ID = "overlaybd-py"

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')
_SCHEME = re.compile(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: a scheme and its parameters."""

    scheme: str
    params: dict[str, str]


def parse_www_authenticate(header: str) -> list[Challenge]:
    """Parse ``Bearer realm="..",service="..",scope=".."`` (possibly several challenges)."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        match = _SCHEME.match(header, position)
        if not match:
            break
        scheme = match.group(1).lower()
        position = match.end()
        params: dict[str, str] = {}
        while position < len(header):
            param = _PARAM.match(header, position)
            if not param:
                break
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            position = param.end()
        challenges.append(Challenge(scheme, params))
    return challenges


_REALM_KEYS = ("realm", "service")


def _url(response: requests.Response, fallback: str) -> str:
    request = response.request
    return safe_url(str(request.url)) if request is not None and request.url else fallback


def _basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _flag_hint(creds_flag: str) -> str:
    """The flag(s) to suggest when no credentials were found."""
    if not creds_flag:
        return "--creds (or --src-creds/--dest-creds for convert)"
    if creds_flag != "--creds":
        return f"{creds_flag} (or --creds)"
    return creds_flag


def _for_access(scopes: Sequence[str]) -> str:
    """`` for push access to REPO`` for ``repository:REPO:pull,push`` scopes; empty
    without scopes. Other scope types are shown as given."""
    described = []
    for scope in sorted(set(scopes)):
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or not name:
            if scope:
                described.append(scope)
            continue
        wanted = actions.split(",")
        if "push" in wanted and "pull" in wanted:
            wanted.remove("pull")  # pushing needs pulling; "push access" says both
        access = " and ".join("full" if action == "*" else action for action in wanted)
        described.append(f"{access} access to {name}")
    return f" for {', '.join(described)}" if described else ""


@dataclass
class _Token:
    value: str
    deadline: float


CredentialLookup = Callable[[], Credentials | None]
"""Finds a host's credentials when first needed (see ``credentials.resolve_credentials``)."""


class Authenticator:
    """Authorization headers for one registry host.

    ``credentials`` is fixed, or a lookup called once, on the first 401. ``fetch``
    performs the token request (the transport passes its own session so that TLS
    settings apply to the token server too). ``creds_flag`` is the command-line flag
    that gives credentials, for the hint when none are found.
    """

    def __init__(
        self,
        host: str,
        credentials: Credentials | CredentialLookup | None,
        fetch: Callable[..., requests.Response],
        *,
        creds_flag: str = "",
    ) -> None:
        self.host = host
        self.creds_flag = creds_flag
        if isinstance(credentials, Credentials) or credentials is None:
            self._lookup: CredentialLookup | None = None
            self._credentials = credentials
        else:
            self._lookup, self._credentials = credentials, None
        self._lookup_lock = threading.Lock()
        self._fetch = fetch
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._bearer: dict[str, str] = {}
        self._tokens: dict[tuple[str, ...], _Token] = {}

    @property
    def credentials(self) -> Credentials | None:
        """The credentials, looked up on first use (only after a 401)."""
        with self._lookup_lock:
            if self._lookup is not None:
                self._credentials, self._lookup = self._lookup(), None
            return self._credentials

    def _who(self) -> str:
        credentials = self.credentials
        if credentials is None:
            return "anonymous access"
        origin = f" from {credentials.origin}" if credentials.origin else ""
        return f"user {credentials.username or '<identity token>'!r}{origin}"

    def header(self, scopes: Sequence[str]) -> str | None:
        """The Authorization value to send now for ``scopes`` (None when not known yet)."""
        with self._lock:
            scheme = self._scheme
        credentials = self.credentials if scheme == "basic" else None
        if credentials is not None:
            return _basic_header(credentials)
        if scheme == "bearer":
            return "Bearer " + self._token(tuple(sorted(set(scopes))))
        return None

    def handle_unauthorized(self, response: requests.Response, scopes: Sequence[str]) -> None:
        """Learn the scheme from a 401 and get fresh credentials so one retry can succeed."""
        url = _url(response, self.host)
        challenges = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
        by_scheme = {challenge.scheme: challenge for challenge in challenges}
        bearer, basic = by_scheme.get("bearer"), by_scheme.get("basic")
        if bearer is not None and bearer.params.get("realm"):
            key = self._scope_key(scopes, bearer)
            with self._lock:
                self._scheme = "bearer"
                self._bearer = {k: v for k, v in bearer.params.items() if k in _REALM_KEYS}
                self._tokens.pop(key, None)
            self._tokens_for(key)
            with self._lock:
                # Later requests look the token up by their own scopes.
                self._tokens[tuple(sorted(set(scopes)))] = self._tokens[key]
        elif basic is not None:
            if self.credentials is None:
                raise AuthError(
                    f"{url}: registry requires credentials (Basic); none found "
                    f"(give {_flag_hint(self.creds_flag)}, set OBD_REGISTRY_USERNAME/PASSWORD "
                    "or docker login)"
                )
            with self._lock:
                self._scheme = "basic"
        else:
            raise AuthError(
                f"{url}: expected a Basic or Bearer challenge in WWW-Authenticate, "
                f"found {response.headers.get('WWW-Authenticate')!r}"
            )

    def refused(self, response: requests.Response, scopes: Sequence[str]) -> AuthError:
        """The error for a 401/403 that fresh credentials did not cure."""
        url = _url(response, self.host)
        challenges = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
        detail = next((c.params["error"] for c in challenges if "error" in c.params), "")
        with self._lock:
            scheme = self._scheme or "no"
        return AuthError(
            f"{url}: registry answered HTTP {response.status_code} to {scheme} credentials of "
            f"{self._who()}{_for_access(scopes)}" + (f" ({detail})" if detail else "")
        )

    @staticmethod
    def _scope_key(scopes: Sequence[str], challenge: Challenge) -> tuple[str, ...]:
        wanted = set(scopes)
        if challenge.params.get("scope"):
            wanted.update(challenge.params["scope"].split(" "))
        return tuple(sorted(wanted))

    def _token(self, key: tuple[str, ...]) -> str:
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached.deadline > time.monotonic():
            return cached.value
        return self._tokens_for(key)

    def _tokens_for(self, key: tuple[str, ...]) -> str:
        """Request a token for ``key`` from the realm and cache it."""
        with self._lock:
            realm = self._bearer.get("realm", "")
            service = self._bearer.get("service")
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", scope) for scope in key if scope]
        started = time.monotonic()
        creds = self.credentials
        if creds is not None and creds.identity_token:
            form = dict(params)
            form.update(
                grant_type="refresh_token",
                refresh_token=creds.identity_token,
                client_id=OAUTH_CLIENT_ID,
                scope=" ".join(key),
            )
            response = self._fetch("POST", realm, data=form)
        else:
            headers = {"Authorization": _basic_header(creds)} if creds else {}
            response = self._fetch("GET", realm, params=params, headers=headers)
        if response.status_code in (401, 403):
            raise AuthError(
                f"{safe_url(realm)}: token server refused {self._who()}{_for_access(key)} "
                f"(HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise RegistryError(
                f"{safe_url(realm)}: expected HTTP 200 with a token, "
                f"found HTTP {response.status_code}"
            )
        try:
            body = response.json()
            value = str(body.get("token") or body.get("access_token") or "")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError):
            value, lifetime = "", 0.0
        if not value:
            raise RegistryError(
                f"{safe_url(realm)}: expected JSON with 'token' or 'access_token', found neither"
            )
        with self._lock:
            self._tokens[key] = _Token(value, started + lifetime * TOKEN_REUSE_FRACTION)
        log.debug("got a bearer token for %s scope %s (%.0fs)", self.host, key, lifetime)
        return value
