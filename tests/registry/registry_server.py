"""Start Debian's ``docker-registry`` (distribution 2.8) for tests, on 127.0.0.1 only.

Reusable from any test area::

    from registry.registry_server import start_plain_registry   # tests/ on sys.path
    with start_plain_registry(tmp_path) as reg:
        reg.host   # "127.0.0.1:PORT"

Setups: plain HTTP, htpasswd basic auth (bcrypt), TLS with a generated CA (optionally
requiring client certificates), bearer-token auth backed by :class:`TokenServer`, and
the ``redirect`` storage middleware (blob GETs answered with a 307 to another base URL).
Each server writes its log to a file; :func:`log_tail` shows it when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .pki import KeyPair, make_ca, make_leaf
from .token_server import TokenServer

REGISTRY_BINARY = "/usr/bin/docker-registry"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
LOG_TAIL_BYTES = 4000
HTTP_SECRET = "overlaybd-py-test-secret"
TEST_USER = "tester"
TEST_PASSWORD = "s3cret-pass"
TOKEN_SERVICE = "obd-test-registry"
TOKEN_ISSUER = "obd-test-token-issuer"

# Every live server, so a failing test can show their logs.
RUNNING: list[RegistryServer] = []


def registry_available() -> bool:
    """True when the distribution binary is installed."""
    return os.access(REGISTRY_BINARY, os.X_OK)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RegistryServer:
    """One ``docker-registry`` process with its own storage, config and log file."""

    workdir: Path
    auth: dict[str, object] | None = None
    tls: dict[str, object] | None = None
    middleware: dict[str, object] | None = None
    ca_file: Path | None = None
    client_cert: tuple[Path, Path] | None = None
    username: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def config(self) -> dict[str, object]:
        http: dict[str, object] = {
            "addr": self.host,
            "secret": HTTP_SECRET,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls:
            http["tls"] = self.tls
        storage: dict[str, object] = {
            "filesystem": {"rootdirectory": str(self.storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        }
        config: dict[str, object] = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": storage,
            "http": http,
        }
        if self.auth:
            config["auth"] = self.auth
        if self.middleware:
            config["middleware"] = self.middleware
        return config

    def start(self) -> RegistryServer:
        """Write the config (JSON is valid YAML), start the process, wait until it answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        if not self.port:
            self.port = free_port()
        config_path = self.workdir / "config.yml"
        config_path.write_text(json.dumps(self.config(), indent=1))
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        if self not in RUNNING:
            RUNNING.append(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None
        if context is not None and self.client_cert is not None:
            context.load_cert_chain(*map(str, self.client_cert))
        deadline = time.monotonic() + READY_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited with {self.process.returncode} before answering "
                    f"on {self.url}; log:\n{log_tail(self)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=2, context=context):
                    return
            except urllib.error.HTTPError as error:
                if error.code == 401:
                    return
                last = f"HTTP {error.code}"
            except (OSError, ssl.SSLError) as error:
                last = str(error)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"docker-registry did not answer on {self.url} within {READY_TIMEOUT}s "
            f"(last: {last}); log:\n{log_tail(self)}"
        )

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL); storage is kept for a restart."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        if self in RUNNING:
            RUNNING.remove(self)

    def __enter__(self) -> RegistryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def log_tail(server: RegistryServer, limit: int = LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a server's log."""
    try:
        data = server.log_path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-limit:].decode(errors="replace")


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """An htpasswd file with bcrypt hashes (the only kind distribution accepts)."""
    import bcrypt

    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def start_plain_registry(
    workdir: Path,
    *,
    redirect_base: str | None = None,
    auth: dict[str, object] | None = None,
    port: int = 0,
) -> RegistryServer:
    """A plain-HTTP registry, optionally redirecting blob reads to ``redirect_base``."""
    middleware = None
    if redirect_base:
        middleware = {"storage": [{"name": "redirect", "options": {"baseurl": redirect_base}}]}
    return RegistryServer(workdir, auth=auth, middleware=middleware, port=port).start()


def start_basic_auth_registry(
    workdir: Path, *, redirect_base: str | None = None, users: dict[str, str] | None = None
) -> RegistryServer:
    """A plain-HTTP registry that requires htpasswd basic auth (TEST_USER/TEST_PASSWORD)."""
    users = users or {TEST_USER: TEST_PASSWORD}
    workdir.mkdir(parents=True, exist_ok=True)
    htpasswd = workdir / "htpasswd"
    write_htpasswd(htpasswd, users)
    auth = {"htpasswd": {"realm": "obd-test", "path": str(htpasswd)}}
    server = start_plain_registry(workdir, redirect_base=redirect_base, auth=auth)
    server.username, server.password = next(iter(users.items()))
    return server


@dataclass(frozen=True)
class TlsMaterial:
    """The generated CA, server certificate and a client certificate."""

    ca: KeyPair
    server: KeyPair
    client: KeyPair
    cert_dir: Path  # containerd-style: ca.crt, client.cert, client.key


def make_tls_material(directory: Path) -> TlsMaterial:
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory)
    server = make_leaf(ca, directory, "server", server=True)
    cert_dir = directory / "certs.d"
    cert_dir.mkdir(exist_ok=True)
    shutil.copy(ca.cert_path, cert_dir / "ca.crt")
    client = make_leaf(ca, cert_dir, "client", server=False, cert_suffix=".cert")
    return TlsMaterial(ca, server, client, cert_dir)


def start_tls_registry(
    workdir: Path, material: TlsMaterial, *, require_client_cert: bool = False
) -> RegistryServer:
    """An HTTPS registry with a certificate from the test CA (for 127.0.0.1 and localhost)."""
    tls: dict[str, object] = {
        "certificate": str(material.server.cert_path),
        "key": str(material.server.key_path),
    }
    if require_client_cert:
        tls["clientcas"] = [str(material.ca.cert_path)]
    server = RegistryServer(workdir, tls=tls, ca_file=material.ca.cert_path)
    if require_client_cert:
        server.client_cert = (material.client.cert_path, material.client.key_path)
    return server.start()


def start_token_registry(
    workdir: Path, *, users: dict[str, str] | None = None, allow_anonymous: bool = False
) -> RegistryServer:
    """A registry with ``auth: token`` and a token server that signs JWTs it trusts."""
    users = users or {TEST_USER: TEST_PASSWORD}
    workdir.mkdir(parents=True, exist_ok=True)
    signer = make_ca(workdir, "obd-test token signer")
    bundle = workdir / "token-bundle.crt"
    bundle.write_bytes(signer.cert_path.read_bytes())
    tokens = TokenServer(
        signer, users, service=TOKEN_SERVICE, issuer=TOKEN_ISSUER, allow_anonymous=allow_anonymous
    ).start()
    auth = {
        "token": {
            "realm": tokens.realm,
            "service": TOKEN_SERVICE,
            "issuer": TOKEN_ISSUER,
            "rootcertbundle": str(bundle),
        }
    }
    server = RegistryServer(workdir, auth=auth, token_server=tokens)
    server.username, server.password = next(iter(users.items()))
    try:
        return server.start()
    except BaseException:
        tokens.stop()
        raise


def rotate_token_key(server: RegistryServer) -> None:
    """Trust only a new signing key and restart: every token issued so far turns invalid.

    This is how a test gets a bearer token that the client still holds as fresh but
    the registry refuses (as after server-side expiry), without waiting for the 60 s
    leeway distribution allows on ``exp``.
    """
    tokens = server.token_server
    assert tokens is not None and server.auth is not None
    directory = server.workdir / f"signer-{free_port()}"
    directory.mkdir()
    signer = make_ca(directory, "obd-test rotated signer")
    bundle = server.auth["token"]["rootcertbundle"]  # type: ignore[index]
    Path(bundle).write_bytes(signer.cert_path.read_bytes())
    tokens.signer = signer
    server.restart()


@contextlib.contextmanager
def running(server: RegistryServer) -> Iterator[RegistryServer]:
    """Close ``server`` (and its token server) however the block exits."""
    try:
        yield server
    finally:
        server.close()
