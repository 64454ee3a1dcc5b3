"""Image names in skopeo style: ``oci:``, ``oci-archive:``, ``docker-archive:``, ``docker://``.

A name without a known transport prefix is a registry reference (``HOST/REPO[:TAG]``),
normalised as Docker does: no host means ``docker.io``, a one-part repository on
Docker Hub gets ``library/``, and Docker Hub is reached at ``registry-1.docker.io``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ImageError
from .digest import is_digest

OCI = "oci"
OCI_ARCHIVE = "oci-archive"
DOCKER_ARCHIVE = "docker-archive"
DOCKER = "docker"

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?$"
)
_MAX_NAME = 255
MIN_PORT = 1
MAX_PORT = 65535


@dataclass(frozen=True)
class LayoutReference:
    """``oci:PATH[:TAG|@DIGEST]`` or ``oci-archive:FILE[:TAG|@DIGEST]``."""

    transport: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else (f":{self.tag}" if self.tag else "")
        return f"{self.transport}:{self.path}{suffix}"


@dataclass(frozen=True)
class DockerArchiveReference:
    """``docker-archive:FILE[:REPO:TAG|:@INDEX]`` (a ``docker save`` tarball)."""

    path: str
    name: str | None = None
    index: int | None = None
    transport: str = DOCKER_ARCHIVE

    def __str__(self) -> str:
        if self.index is not None:
            return f"{self.transport}:{self.path}:@{self.index}"
        return f"{self.transport}:{self.path}" + (f":{self.name}" if self.name else "")


@dataclass(frozen=True)
class RegistryReference:
    """``docker://HOST/REPO[:TAG|@DIGEST]``, normalised."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    transport: str = DOCKER

    @property
    def endpoint(self) -> str:
        """The host to contact (Docker Hub's API lives on ``registry-1.docker.io``)."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes in ``/v2/<repo>/manifests/<reference>``: the digest, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> RegistryReference:
        """The same repository under another tag (and no digest)."""
        return RegistryReference(self.registry, self.repository, _check_tag(tag, tag), None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return f"{self.transport}://{text}"


ImageReference = LayoutReference | DockerArchiveReference | RegistryReference


def parse_reference(text: str) -> ImageReference:
    """Parse an image name given on the command line."""
    if not text or text != text.strip():
        raise ImageError(f"image name: expected a non-empty name without spaces, found {text!r}")
    for prefix in (OCI_ARCHIVE, DOCKER_ARCHIVE, OCI):
        if text.startswith(prefix + ":"):
            rest = text[len(prefix) + 1 :]
            if prefix == DOCKER_ARCHIVE:
                return _parse_docker_archive(rest, text)
            return _parse_layout(prefix, rest, text)
    if text.startswith(DOCKER + "://"):
        return parse_registry_reference(text[len(DOCKER) + 3 :], text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ImageError(
            f"{text}: expected a transport oci:, oci-archive:, docker-archive: or docker://, "
            f"found {scheme}://"
        )
    return parse_registry_reference(text, text)


def _parse_layout(transport: str, rest: str, text: str) -> LayoutReference:
    path, _, digest = rest.rpartition("@")
    if path and digest.startswith(("sha256:", "sha512:")):
        if not is_digest(digest):
            raise ImageError(
                f"{text}: expected '@sha256:<64 hex>' after the path, found '@{digest}'"
            )
        return LayoutReference(transport, _check_path(path, text), None, digest)
    path, sep, tag = rest.partition(":")
    if sep and not tag:
        raise ImageError(f"{text}: expected a tag after ':', found nothing")
    if tag and any(c.isspace() for c in tag):
        raise ImageError(f"{text}: expected a tag without spaces, found {tag!r}")
    return LayoutReference(transport, _check_path(path, text), tag or None, None)


def _parse_docker_archive(rest: str, text: str) -> DockerArchiveReference:
    path, sep, name = rest.partition(":")
    path = _check_path(path, text)
    if not sep:
        return DockerArchiveReference(path)
    if name.startswith("@"):
        if not name[1:].isdigit():
            raise ImageError(f"{text}: expected ':@N' with a manifest number, found {name!r}")
        return DockerArchiveReference(path, index=int(name[1:]))
    if "@" in name:
        raise ImageError(f"{text}: a docker-archive image is named by REPO:TAG, not a digest")
    ref = parse_registry_reference(name, text)
    return DockerArchiveReference(path, name=f"{ref.name}:{ref.tag or DEFAULT_TAG}")


def parse_registry_reference(name: str, text: str | None = None) -> RegistryReference:
    """Parse and normalise ``[HOST/]REPO[:TAG][@DIGEST]``."""
    where = text or name
    remainder, digest = name, None
    if "@" in remainder:
        remainder, _, digest = remainder.partition("@")
        if not is_digest(digest):
            raise ImageError(f"{where}: expected '@sha256:<64 hex>', found '@{digest}'")
    tag = None
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], _check_tag(remainder[colon + 1 :], where)
    registry, repository = _split_host(remainder, where)
    if not digest and not tag:
        tag = DEFAULT_TAG
    return RegistryReference(registry, repository, tag, digest)


def _split_host(name: str, where: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    is_host = sep and (
        "." in first or ":" in first or first == "localhost" or first.startswith("[")
    )
    if is_host:
        if not _HOST_RE.match(first):
            raise ImageError(f"{where}: expected a registry host[:port], found {first!r}")
        _check_port(first, where)
        registry, repository = first.lower(), rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    components = repository.split("/")
    for component in components:
        if not _PATH_COMPONENT_RE.match(component):
            raise ImageError(
                f"{where}: expected a lowercase repository path like 'library/busybox', "
                f"found component {component!r}"
            )
    if len(registry) + 1 + len(repository) > _MAX_NAME:
        raise ImageError(f"{where}: repository name longer than {_MAX_NAME} characters")
    return registry, repository


def _check_port(host: str, where: str) -> None:
    """A TCP port is 1 to 65535; anything else fails only at the first request otherwise."""
    _, colon, port = host.rpartition(":")
    if colon and not port.endswith("]") and not MIN_PORT <= int(port) <= MAX_PORT:
        raise ImageError(
            f"{where}: expected a registry port from {MIN_PORT} to {MAX_PORT}, found {port}"
        )


def _check_tag(tag: str, where: str) -> str:
    if not _TAG_RE.match(tag):
        raise ImageError(
            f"{where}: expected a tag of [A-Za-z0-9_.-] (max 128, not starting with . or -), "
            f"found {tag!r}"
        )
    return tag


def _check_path(path: str, text: str) -> str:
    if not path:
        raise ImageError(f"{text}: expected a path after the transport, found nothing")
    return path
