"""How to reach one registry host: TLS, credentials, timeouts and retries.

``HostOptions`` mirrors the oras/containerd command-line vocabulary (``--creds``,
``--ca-file``, ``--cert-dir``, ``--insecure``, ``--plain-http``) so a CLI can build one
per source and target registry; ``RegistryHosts`` maps host names to their options.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AuthError, RegistryError
from .neterrors import pem_problem

if TYPE_CHECKING:
    from ..oci.reference import RegistryReference
    from .client import RegistryClient

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff for 5xx answers and connection errors."""

    attempts: int = 5
    backoff: float = 0.25
    max_backoff: float = 4.0
    statuses: frozenset[int] = RETRY_STATUSES

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))


@dataclass(frozen=True)
class HostOptions:
    """Connection settings for one registry host.

    ``insecure`` skips TLS verification; ``plain_http`` talks HTTP instead of HTTPS.
    ``cert_dir`` is a containerd-style ``certs.d/<host>`` directory: every ``*.crt`` is
    a trusted CA, ``client.cert``/``client.key`` (or any ``X.cert`` with ``X.key``) a
    client certificate. Credentials, when not given here, come from the environment
    (``OBD_REGISTRY_USERNAME``/``OBD_REGISTRY_PASSWORD``) and then the docker config.
    ``creds_flag`` is the command-line flag for these credentials (``--creds``,
    ``--src-creds``, ``--dest-creds``): errors name it as where the credentials came
    from, or as the flag to give when none were found.
    """

    plain_http: bool = False
    insecure: bool = False
    ca_file: str | None = None
    cert_dir: str | None = None
    username: str | None = None
    password: str | None = None
    docker_config: str | None = None
    use_environment: bool = True
    use_docker_config: bool = True
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    creds_flag: str = ""

    @classmethod
    def from_cli(
        cls,
        creds: str | None = None,
        *,
        ca_file: str | None = None,
        cert_dir: str | None = None,
        insecure: bool = False,
        plain_http: bool = False,
        docker_config: str | None = None,
        creds_flag: str = "--creds",
        ca_flag: str = "--ca-file",
        cert_dir_flag: str = "--cert-dir",
    ) -> HostOptions:
        """Options from oras-style flags; ``creds`` is ``USER:PASSWORD``. The ``*_flag``
        names are the flags the values were given as, for errors about them.

        A CA file or cert dir that cannot be used is refused here, before any request,
        even with ``plain_http`` (which never reads them): a typo should not wait for
        the day the registry turns on TLS.
        """
        username = password = None
        if creds is not None:
            username, sep, password = creds.partition(":")
            if not sep:
                raise AuthError(f"{creds_flag}: expected USER:PASSWORD, found no ':' separator")
            if not username:
                raise AuthError(f"{creds_flag}: expected USER:PASSWORD, found an empty USER")
        load_tls_files(
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
            ca_file,
            cert_dir,
            ca_label=ca_flag,
            cert_dir_flag=cert_dir_flag,
        )
        return cls(
            plain_http=plain_http,
            insecure=insecure,
            ca_file=ca_file,
            cert_dir=cert_dir,
            username=username,
            password=password,
            docker_config=docker_config,
            creds_flag=creds_flag,
        )

    def with_retry(self, retry: RetryPolicy) -> HostOptions:
        return replace(self, retry=retry)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


def load_tls_files(
    context: ssl.SSLContext,
    ca_file: str | None,
    cert_dir: str | None,
    *,
    ca_label: str = "CA file",
    cert_dir_flag: str = "--cert-dir",
) -> None:
    """Trust ``ca_file`` and ``cert_dir/*.crt`` in ``context`` and load the client
    certificate of ``cert_dir`` (containerd's layout). Errors name the file by
    ``ca_label`` and the directory by ``cert_dir_flag``, and leave OpenSSL's internals out.
    """
    authorities = [(ca_file, f"{ca_label} {ca_file}")] if ca_file is not None else []
    directory = Path(cert_dir) if cert_dir is not None else None
    if directory is not None:
        if not directory.is_dir():
            raise RegistryError(f"{cert_dir_flag} {cert_dir}: expected a directory, found none")
        try:
            found = sorted(directory.glob("*.crt"))
        except OSError as error:
            raise RegistryError(f"{cert_dir_flag} {cert_dir}: {pem_problem(error)}") from None
        authorities += [(str(crt), f"{cert_dir_flag} {cert_dir}: {crt.name}") for crt in found]
    for path, label in authorities:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as error:
            raise RegistryError(f"{label}: {pem_problem(error)}") from None
    if directory is not None:
        for cert, key in _client_pairs(directory):
            try:
                context.load_cert_chain(str(cert), str(key))
            except (OSError, ssl.SSLError) as error:
                raise RegistryError(
                    f"client certificate {cert} with key {key}: cannot be loaded, {error}"
                ) from None


def _client_pairs(cert_dir: Path) -> list[tuple[Path, Path]]:
    """``X.cert`` files that have an ``X.key`` next to them (containerd's convention)."""
    pairs = []
    for cert in sorted(cert_dir.glob("*.cert")):
        key = cert.with_suffix(".key")
        if not key.exists():
            raise RegistryError(f"client certificate {cert}: expected its key at {key}, not found")
        pairs.append((cert, key))
    return pairs[:1]


class RegistryHosts:
    """Options per registry host, with a default for hosts not listed, and per image for
    images that need their own (the source and the target of one conversion may be on the
    same host with different credentials or TLS settings). Hands out one shared client
    per host and set of options."""

    def __init__(
        self, default: HostOptions | None = None, hosts: Mapping[str, HostOptions] | None = None
    ) -> None:
        self.default = default or HostOptions()
        self._hosts = dict(hosts or {})
        self._images: dict[RegistryReference, HostOptions] = {}
        self._clients: dict[tuple[str, HostOptions], RegistryClient] = {}
        self._lock = threading.Lock()

    def set(self, host: str, options: HostOptions) -> None:
        self._hosts[host] = options

    def get(self, host: str) -> HostOptions:
        return self._hosts.get(host, self.default)

    def set_image(self, image: RegistryReference, options: HostOptions) -> None:
        """Options for ``image`` alone, over its host's."""
        self._images[image] = options

    def options_for(self, image: RegistryReference) -> HostOptions:
        """The image's own options, else its host's, else the default."""
        return self._images.get(image) or self.get(image.endpoint)

    def client(self, host: str, options: HostOptions | None = None) -> RegistryClient:
        """The client for ``host`` with ``options`` (default: the host's), made on first use."""
        from .client import RegistryClient

        options = options or self.get(host)
        with self._lock:
            if (host, options) not in self._clients:
                self._clients[host, options] = RegistryClient(host, options)
            return self._clients[host, options]

    def client_for(self, image: RegistryReference) -> RegistryClient:
        """The client that reaches ``image`` with its own options."""
        return self.client(image.endpoint, self.options_for(image))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
