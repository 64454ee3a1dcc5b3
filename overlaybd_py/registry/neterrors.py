"""Why a request failed, in a few words, and URLs that are safe to put in a message.

``requests`` wraps the real cause of a failed connection several layers deep
(``ConnectionError`` → urllib3 ``MaxRetryError`` → ``NewConnectionError`` →
``ConnectionRefusedError``), and its text puts the cause last, after a long pool
description. :func:`root_cause` walks the exception chain instead and names the
cause the way a user can act on it.

Upload locations carry a ``_state`` token and redirects to blob stores carry
signatures in their query strings; :func:`safe_url` drops them from messages.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

FALLBACK_TEXT_LIMIT = 160

# OpenSSL reasons for a handshake answered by something that is not TLS (plain HTTP):
# 1.1/3.0 say WRONG_VERSION_NUMBER, 3.2+ RECORD_LAYER_FAILURE or PACKET_LENGTH_TOO_LONG.
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"}
)
CLIENT_CERT_REASONS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
    }
)


def safe_url(url: str) -> str:
    """``url`` without its query, fragment or user info, for error messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps: ``__cause__``, ``__context__``, urllib3's
    ``reason`` and exceptions passed as arguments, outermost first, each once."""
    seen: set[int] = set()
    queue = [error]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped += list(current.args)
        queue += [item for item in wrapped if isinstance(item, BaseException)]


def root_cause(error: BaseException) -> str:
    """The cause of a failed request in a few words, with the flag that fixes it if any."""
    chain = list(causes(error))
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "unknown reason"
            return f"TLS certificate verification failed: {reason} (use --ca-file or --insecure)"
    for cause in chain:
        if isinstance(cause, ssl.SSLError) and cause.reason in NOT_TLS_REASONS:
            return "the server does not speak TLS (use --plain-http)"
        if isinstance(cause, ssl.SSLError) and cause.reason in CLIENT_CERT_REASONS:
            return f"the server refused our certificate: {cause.reason} (use --cert-dir)"
    for cause in chain:
        described = _describe(cause)
        if described:
            return described
    deepest = chain[-1]
    text = " ".join(str(deepest).split()) or type(deepest).__name__
    if len(text) > FALLBACK_TEXT_LIMIT:
        text = text[:FALLBACK_TEXT_LIMIT] + "..."
    return f"{type(deepest).__name__}: {text}"


def _describe(cause: BaseException) -> str | None:
    """Words for one kind of low-level failure, or None when it is not one we name."""
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return f"host name lookup failed ({cause.strerror or cause})"
    if isinstance(cause, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(cause, (http.client.RemoteDisconnected, ConnectionAbortedError)):
        return "the server closed the connection without answering"
    if isinstance(cause, ReadTimeoutError):
        return "timed out waiting for the server to answer"
    if isinstance(cause, ConnectTimeoutError) and not isinstance(cause, NewConnectionError):
        return "timed out connecting"
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return f"{cause.reason} (see --ca-file, --cert-dir, --insecure, --plain-http)"
    return None


def pem_problem(error: OSError) -> str:
    """Why a CA file could not be loaded, without OpenSSL's ``[LIB: REASON] (_ssl.c:N)``."""
    if isinstance(error, ssl.SSLError):
        reason = getattr(error, "reason", None) or ""
        if reason == "NO_CERTIFICATE_OR_CRL_FOUND":
            return "expected PEM certificates, found none"
        shown = f" ({reason.lower().replace('_', ' ')})" if reason else ""
        return f"expected PEM certificates, found data that does not parse{shown}"
    if isinstance(error, FileNotFoundError):
        return "expected a PEM file of CA certificates, not found"
    return f"cannot be read: {error.strerror or error}"
