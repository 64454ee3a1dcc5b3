"""HTTP to one registry host: TLS setup, auth rounds, redirects and bounded retries.

Every request goes through :meth:`Transport.request`, which

- sends the host's Authorization header only to the registry itself; a redirect to
  another host or scheme (a blob store, a CDN) goes out without it;
- answers a 401 from the registry once, by asking the :class:`Authenticator` for fresh
  credentials (a token that expired mid-read is replaced here);
- retries connection errors and 5xx/429 answers with exponential backoff, a bounded
  number of times, when the caller says the request may be repeated.

Each thread gets its own ``requests.Session``, so one transport is safe to share.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..errors import AuthError, NotFoundError, RegistryError
from .auth import Authenticator
from .credentials import Credentials, resolve_credentials
from .neterrors import root_cause, safe_url
from .options import HostOptions, load_tls_files

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "overlaybd-py"
CLIENT_CERT_NAME = "client.cert"
CLIENT_KEY_NAME = "client.key"
ERROR_TEXT_LIMIT = 200
RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
"""Failures another attempt may not meet; a malformed URL or header fails the same way."""


class _ContextAdapter(HTTPAdapter):
    """An adapter whose connection pools use our SSL context (extra CAs, client cert)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def build_ssl_context(options: HostOptions) -> ssl.SSLContext:
    """System CAs plus ``ca_file`` and ``cert_dir/*.crt``; client cert from ``cert_dir``."""
    context = ssl.create_default_context()
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    load_tls_files(context, options.ca_file, options.cert_dir)
    return context


class RegistryHTTPError(RegistryError):
    """A registry answered with an unexpected HTTP status (``status`` holds it)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def describe_error(response: requests.Response, context: str = "") -> str:
    """The registry's error code and message from a failed response, on one line.

    The error's ``detail`` (free-form JSON) follows as ``key=value`` pairs, unless
    ``context`` (the rest of the message) already shows every value in it.
    """
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        text = f"{first.get('code', '')}: {first.get('message', '')}"
        detail = _describe_detail(first.get("detail"), context)
        if detail:
            text += f" ({detail})"
        return text.replace("\n", " ")
    except (ValueError, AttributeError, IndexError, TypeError):
        body = (response.text or "").strip().replace("\n", " ")
        return body[:ERROR_TEXT_LIMIT] or (response.reason or "")


def _describe_detail(detail: object, context: str) -> str:
    """``name=hello revision=sha256:…`` for a flat object, compact JSON for anything else;
    empty when there is none or ``context`` already names all of it."""
    if detail in (None, "", {}, []):
        return ""
    if isinstance(detail, dict) and all(_is_scalar(v) for v in detail.values()):
        values = [str(value) for value in detail.values()]
        text = " ".join(f"{str(key).lower()}={value}" for key, value in detail.items())
    elif _is_scalar(detail):
        values = [str(detail)]
        text = str(detail)
    else:
        values = []
        text = json.dumps(detail, separators=(",", ":"), sort_keys=True)
    if values and all(value in context for value in values):
        return ""
    return text[:ERROR_TEXT_LIMIT]


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def error_for(response: requests.Response, what: str) -> Exception:
    """The library error for an unexpected HTTP status."""
    request = response.request
    where = f"{request.method} {safe_url(str(request.url))}" if request is not None else what
    problem = describe_error(response, f"{what} {where}")
    message = f"{what}: {where} answered HTTP {response.status_code} {problem}"
    if response.status_code == 404:
        return NotFoundError(message)
    if response.status_code in (401, 403):
        return AuthError(message)
    return RegistryHTTPError(message, response.status_code)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class Transport:
    """Authenticated, retrying HTTP access to one registry host."""

    def __init__(
        self, host: str, options: HostOptions | None = None, credentials: Credentials | None = None
    ) -> None:
        self.host = host
        self.options = options or HostOptions()
        self.scheme = "http" if self.options.plain_http else "https"
        self.base_url = f"{self.scheme}://{host}"
        self._context = None if self.options.plain_http else build_ssl_context(self.options)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        options = self.options
        self.auth = Authenticator(
            host,
            credentials if credentials is not None else lambda: resolve_credentials(host, options),
            self._token_request,
            creds_flag=options.creds_flag,
        )

    def session(self) -> requests.Session:
        """This thread's session (created on first use)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            session.verify = not self.options.insecure
            if self._context is not None:
                session.mount("https://", _ContextAdapter(self._context))
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def url(self, path: str) -> str:
        """An absolute URL for ``/v2/...`` paths; absolute URLs pass through."""
        return urljoin(self.base_url + "/", path)

    def request(
        self,
        method: str,
        url: str,
        *,
        scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        retry: bool = True,
        expect: Iterable[int] | None = None,
        what: str = "registry request",
        authenticate: bool = True,
    ) -> requests.Response:
        """Send with auth, redirects and retries; raise unless the status is in ``expect``."""
        url = self.url(url)
        policy = self.options.retry
        attempts = policy.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                if authenticate:
                    response = self._authorized(method, url, scopes, headers, params, data, stream)
                else:
                    response = self._follow(method, url, headers, None, params, data, stream)
            except requests.exceptions.SSLError as error:
                raise RegistryError(
                    f"{what}: TLS to {safe_url(url)} failed: {root_cause(error)}"
                ) from None
            except requests.RequestException as error:
                if not isinstance(error, RETRYABLE_ERRORS):
                    raise RegistryError(
                        f"{what}: {method} {safe_url(url)} failed: {root_cause(error)}"
                    ) from None
                if attempt == attempts:
                    raise RegistryError(
                        f"{what}: {method} {safe_url(url)} failed after {attempt} attempt(s): "
                        f"{root_cause(error)}"
                    ) from None
                log.info("%s %s: %s; retry %d", method, safe_url(url), root_cause(error), attempt)
                time.sleep(policy.delay(attempt))
                continue
            if response.status_code in policy.statuses and attempt < attempts:
                log.info(
                    "%s %s: HTTP %d; retry %d", method, safe_url(url), response.status_code, attempt
                )
                response.close()
                time.sleep(policy.delay(attempt))
                continue
            if expect is not None and response.status_code not in set(expect):
                failure = error_for(response, what)
                response.close()
                if attempt > 1:
                    failure.args = (f"{failure.args[0]} (after {attempt} attempts)",)
                raise failure
            return response
        raise AssertionError("unreachable")

    def _authorized(
        self,
        method: str,
        url: str,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None,
        params: Any,
        data: bytes | None,
        stream: bool,
    ) -> requests.Response:
        """One request, answering one 401 from the registry with fresh credentials."""
        registry = _origin(self.base_url)
        for auth_round in range(2):
            authorization = self.auth.header(scopes) if _origin(url) == registry else None
            response = self._follow(method, url, headers, authorization, params, data, stream)
            if response.status_code != 401 or _origin(response.url) != registry:
                return response
            response.close()
            if auth_round == 1:
                raise self.auth.refused(response, scopes)
            self.auth.handle_unauthorized(response, scopes)
        raise AssertionError("unreachable")

    def _follow(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        authorization: str | None,
        params: Any,
        data: bytes | None,
        stream: bool,
    ) -> requests.Response:
        """Send, following redirects by hand so Authorization never leaves its origin."""
        session = self.session()
        origin = _origin(url)
        for _hop in range(MAX_REDIRECTS + 1):
            sent = dict(headers or {})
            if authorization is not None and _origin(url) == origin:
                sent["Authorization"] = authorization
            elif _origin(url) != origin:
                sent.pop("Authorization", None)
            response = session.request(
                method,
                url,
                headers=sent,
                params=params,
                data=data,
                stream=stream,
                allow_redirects=False,
                timeout=self.options.timeout,
                # Per request: a session-level False loses to $REQUESTS_CA_BUNDLE.
                verify=not self.options.insecure,
            )
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            if response.status_code == 303:
                method, data = "GET", None
            elif method not in ("GET", "HEAD"):
                return response  # an upload answered with 3xx: the caller decides
            log.debug("%s %s redirected to %s", method, safe_url(url), safe_url(location))
            url = urljoin(response.url, location)
            params = None
            response.close()
        raise RegistryError(f"{method} {safe_url(url)}: more than {MAX_REDIRECTS} redirects")

    def _token_request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """A request to the token realm (same TLS settings, retries, no registry auth)."""
        return self.request(method, url, what="token request", authenticate=False, **kwargs)
