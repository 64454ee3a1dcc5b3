"""The ``docker://`` transport: registry images as ``ImageSource`` and ``ImageTarget``.

Importing this module registers the transport with ``overlaybd_py.oci.image``,
so ``open_source("docker://...")`` works for every command that opens images;
``configure(hosts)`` sets the per-registry options (credentials, TLS, plain HTTP).
A target pushes blobs and child manifests as it goes, but the tag (the only thing
a user sees) is pushed by ``commit``; an aborted conversion leaves no tag behind.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

from ..errors import ImageError
from ..io import ByteSource, ChunkStream
from ..oci import mediatypes as mt
from ..oci.blobio import verified_stream
from ..oci.descriptor import Descriptor
from ..oci.digest import sha256_digest
from ..oci.image import register_transport
from ..oci.platform import Platform
from ..oci.reference import ImageReference, RegistryReference
from ..oci.resolve import ResolvedImage, resolve_images
from .client import RegistryClient
from .options import RegistryHosts
from .source import RegistryBlobSource

_hosts = RegistryHosts()


def configure(hosts: RegistryHosts) -> None:
    """Use ``hosts`` for every registry opened from now on."""
    global _hosts
    _hosts = hosts


def registry_hosts() -> RegistryHosts:
    return _hosts


def _client(ref: RegistryReference) -> RegistryClient:
    return _hosts.client_for(ref)


class _FileSource:
    """A ByteSource over an open temporary file."""

    def __init__(self, handle: BinaryIO) -> None:
        self._fd = handle.fileno()
        self.size = os.fstat(self._fd).st_size

    def pread(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)


class RegistrySource:
    """An image in a registry, read with the distribution API."""

    def __init__(self, ref: RegistryReference) -> None:
        self.ref = ref
        self.name = str(ref)
        self.client = _client(ref)
        self._root: Descriptor | None = None

    def root(self) -> Descriptor:
        if self._root is None:
            manifest = self.client.get_manifest(self.ref.repository, self.ref.reference)
            self._root = Descriptor(manifest.media_type, manifest.digest, len(manifest.data))
            self._root_bytes = manifest.data
        return self._root

    def resolve(self, platforms: Sequence[Platform] | None = None) -> list[ResolvedImage]:
        return resolve_images(self.root(), self.fetch, platforms, self.name)

    def fetch(self, descriptor: Descriptor) -> bytes:
        if descriptor == self._root:
            return self._root_bytes
        if mt.is_manifest(descriptor.media_type) or mt.is_index(descriptor.media_type):
            data = self.client.get_manifest(self.ref.repository, descriptor.digest).data
        else:
            data = self.client.get_blob(self.ref.repository, descriptor.digest)
        if sha256_digest(data) != descriptor.digest or len(data) != descriptor.size:
            raise ImageError(
                f"{self.name}: {descriptor.digest} does not match its descriptor "
                f"({len(data)} bytes fetched, {descriptor.size} declared)"
            )
        return data

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        chunks = self.client.iter_blob(self.ref.repository, descriptor.digest)
        return verified_stream(ChunkStream(chunks), descriptor, f"{self.name}@{descriptor.digest}")  # type: ignore[arg-type]

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        return RegistryBlobSource(
            self.client, self.ref.repository, descriptor.digest, descriptor.size
        )

    def close(self) -> None:
        """Clients are shared per host and closed with their ``RegistryHosts``."""

    def __enter__(self) -> RegistrySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RegistryTarget:
    """Pushes an image to a registry; the tag goes up last, in ``commit``."""

    def __init__(self, ref: RegistryReference) -> None:
        if ref.digest is not None:
            raise ImageError(f"{ref}: a target is named by a tag, not a digest")
        self.ref = ref
        self.name = str(ref)
        self.tag: str | None = ref.tag or "latest"
        self.client = _client(ref)
        self._root: tuple[bytes, str] | None = None

    def check(self) -> None:
        """Fail before any work is done when the registry cannot be reached (TLS, plain
        HTTP, DNS) or refuses the login."""
        self.client.ping()

    def tagged_digest(self) -> str | None:
        """The digest the target tag points at now, or None when it is not there."""
        found = self.client.head_manifest(self.ref.repository, self.tag or "latest")
        return None if found is None else str(found["digest"])

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self.client.blob_size(self.ref.repository, descriptor.digest) is not None

    def put_blob(
        self,
        data: BinaryIO | bytes | str | os.PathLike[str],
        media_type: str = "application/octet-stream",
        expected: Descriptor | None = None,
    ) -> Descriptor:
        payload = data.read() if hasattr(data, "read") else data
        push = self.client.push_blob(
            self.ref.repository,
            payload,
            expected.digest if expected else None,  # type: ignore[arg-type]
        )
        return Descriptor(expected.media_type if expected else media_type, push.digest, push.size)

    def put_manifest(
        self, data: bytes, media_type: str, tag: str | None = None, root: bool = False
    ) -> Descriptor:
        descriptor = Descriptor.for_bytes(media_type, data)
        if root:
            self._root = (data, media_type)
        else:
            self.client.put_manifest(self.ref.repository, descriptor.digest, data, media_type)
        return descriptor

    def commit(self) -> None:
        if self._root is not None:
            data, media_type = self._root
            self.client.put_manifest(self.ref.repository, self.tag or "latest", data, media_type)

    def abort(self) -> None:
        """Blobs and untagged manifests already pushed stay as unreferenced garbage."""
        self._root = None


def _source(ref: ImageReference) -> RegistrySource:
    assert isinstance(ref, RegistryReference)
    return RegistrySource(ref)


def _target(ref: ImageReference) -> RegistryTarget:
    assert isinstance(ref, RegistryReference)
    return RegistryTarget(ref)


register_transport("docker", source=_source, target=_target)
