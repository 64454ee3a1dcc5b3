"""Failed connections are reported on one line with their root cause, and URLs in
messages never carry query strings (upload ``_state`` tokens, signatures)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from overlaybd_py.errors import NotFoundError, RegistryError
from overlaybd_py.registry.options import RetryPolicy
from overlaybd_py.registry.transport import describe_error

from .conftest import ClientFactory
from .fault_proxy import Fault, FaultProxy
from .registry_server import RegistryServer

ONE_TRY = RetryPolicy(attempts=1)
UPLOAD_PATH = r"/blobs/uploads/"


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``host:port`` of a server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def _message(client_call: object) -> str:
    with pytest.raises(RegistryError) as caught:
        client_call()  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and "HTTPConnectionPool" not in message
    return message


def test_connection_refused_names_url_and_cause(
    plain_registry: RegistryServer, make_client: ClientFactory
) -> None:
    host = f"127.0.0.1:{_closed_port()}"
    client = make_client(plain_registry, host=host)
    message = _message(lambda: client.get_manifest("hello", "amd64"))
    assert f"GET http://{host}/v2/hello/manifests/amd64 failed after 4 attempt(s)" in message
    assert message.endswith(": connection refused")


def test_a_malformed_url_is_not_retried(
    plain_registry: RegistryServer, make_client: ClientFactory
) -> None:
    """A parse error fails the same way every time: one attempt, no backoff."""
    client = make_client(plain_registry, host="127.0.0.1:99999")
    message = _message(lambda: client.get_manifest("hello", "amd64"))
    assert "GET http://127.0.0.1:99999/v2/hello/manifests/amd64 failed: " in message
    assert "attempt" not in message


def test_untrusted_certificate_says_why(
    tls_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(tls_registry, ca_file=None)
    message = _message(client.ping)
    assert f"TLS to https://{tls_registry.host}/v2/ failed" in message
    assert "TLS certificate verification failed: unable to get local issuer certificate" in message
    assert message.endswith("(use --ca-file or --insecure)")


def test_tls_to_a_plain_http_registry_suggests_plain_http(
    plain_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(plain_registry, plain_http=False)
    message = _message(client.ping)
    assert message.endswith("failed: the server does not speak TLS (use --plain-http)")


def test_read_timeout_is_named(
    silent_server: str, plain_registry: RegistryServer, make_client: ClientFactory
) -> None:
    client = make_client(plain_registry, host=silent_server, read_timeout=0.3, retry=ONE_TRY)
    message = _message(client.ping)
    assert message.endswith("failed after 1 attempt(s): timed out waiting for the server to answer")


def test_missing_client_certificate_says_so(
    mtls_registry: RegistryServer, make_client: ClientFactory
) -> None:
    message = _message(make_client(mtls_registry).ping)
    assert "failed: the server refused our certificate: " in message
    assert message.endswith("(use --cert-dir)")


def test_upload_errors_carry_no_state_token(
    basic_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    """The tester's case: the registry vanishes mid-upload; the upload URL is in the
    error, its ``_state`` query is not."""
    with FaultProxy(basic_registry.host, max_lifetime=60) as proxy:
        proxy.add(Fault("drop", method="PATCH", path=UPLOAD_PATH, times=100))
        proxy.add(Fault("drop", method="GET", path=UPLOAD_PATH, times=100))
        client = make_client(basic_registry, host=proxy.host)
        message = _message(lambda: client.push_blob(repo, os.urandom(3000), chunk_size=1024))
    assert f"upload status of {repo}: GET http://{proxy.host}/v2/{repo}/blobs/uploads/" in message
    assert "?" not in message and "_state" not in message
    assert "failed after 4 attempt(s): connection reset by the server" in message


def test_registry_error_detail_is_not_a_python_repr(
    plain_registry: RegistryServer, make_client: ClientFactory, repo: str
) -> None:
    """The tester's case: distribution's ``detail`` ({"Name": …, "Revision": …}) repeats
    the request, so it is left out instead of shown as a dict repr."""
    client = make_client(plain_registry)
    client.push_blob(repo, b"make the repository exist")
    missing = "sha256:" + "d5" * 32
    with pytest.raises(NotFoundError) as caught:
        client.get_manifest(repo, missing)
    message = str(caught.value)
    assert "{" not in message and "'" not in message, message
    assert message.endswith("answered HTTP 404 MANIFEST_UNKNOWN: manifest unknown"), message


def _answer(body: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 400
    response._content = body.encode()
    return response


def test_error_detail_is_rendered_compactly() -> None:
    errors = '{"errors": [{"code": "C", "message": "m", "detail": %s}]}'
    flat = _answer(errors % '{"Name": "hello", "Revision": "sha256:ab"}')
    assert describe_error(flat) == "C: m (name=hello revision=sha256:ab)"
    assert describe_error(flat, "manifest hello@sha256:ab") == "C: m"
    nested = _answer(errors % '[{"Name": "a"}, 2]')
    assert describe_error(nested) == 'C: m ([{"Name":"a"},2])'
    text = _answer(errors % '"unknown blob"')
    assert describe_error(text) == "C: m (unknown blob)"
