"""An :class:`~overlaybd_py.oci.image.ImageSource` over a registry repository.

It lets every image command read ``docker://HOST/REPO[:TAG|@DIGEST]`` (and bare
``HOST/REPO:TAG``) names: manifests and configs are fetched digest-checked, layer
blobs are streamed (for conversion) or read by range (for lazy reading).
:func:`register_docker_transport` plugs it into ``oci.image.open_source``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from ..errors import ImageError
from ..io import ByteSource
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.image import register_transport
from ..oci.platform import Platform
from ..oci.reference import DOCKER, ImageReference, RegistryReference
from ..oci.resolve import ResolvedImage, resolve_images
from ..registry.client import RegistryClient
from ..registry.options import RegistryHosts
from ..registry.source import RegistryBlobSource

_default_hosts = RegistryHosts()
_hosts_lock = threading.Lock()


def set_default_hosts(hosts: RegistryHosts) -> None:
    """Registry options used by ``open_source`` for ``docker://`` names (CLI flags)."""
    global _default_hosts
    with _hosts_lock:
        _default_hosts = hosts


def default_hosts() -> RegistryHosts:
    with _hosts_lock:
        return _default_hosts


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class RegistryImageSource:
    """Images of one repository; ``root`` is the tag or digest the reference names."""

    def __init__(
        self,
        ref: RegistryReference,
        client: RegistryClient,
        root: Descriptor | None = None,
        owns_client: bool = False,
    ) -> None:
        self.ref = ref
        self.client = client
        self.repository = ref.repository
        self.name = str(ref)
        self._root = root
        self._owns_client = owns_client
        self._manifests: dict[str, bytes] = {}

    def root(self) -> Descriptor:
        if self._root is None:
            manifest = self.client.get_manifest(self.repository, self.ref.reference)
            if not (mt.is_manifest(manifest.media_type) or mt.is_index(manifest.media_type)):
                raise ImageError(
                    f"{self.name}: expected an image manifest or index, found media type "
                    f"{manifest.media_type!r}"
                )
            self._manifests[manifest.digest] = manifest.data
            self._root = Descriptor(manifest.media_type, manifest.digest, manifest.size)
        return self._root

    def resolve(self, platforms: Sequence[Platform] | None = None) -> list[ResolvedImage]:
        return resolve_images(self.root(), self.fetch, platforms, self.name)

    def fetch(self, descriptor: Descriptor) -> bytes:
        """A manifest, index or config, checked against the descriptor's digest and size."""
        if descriptor.digest in self._manifests:
            data = self._manifests[descriptor.digest]
        elif mt.is_manifest(descriptor.media_type) or mt.is_index(descriptor.media_type):
            data = self.client.get_manifest(self.repository, descriptor.digest).data
            self._manifests[descriptor.digest] = data
        else:
            data = self.client.get_blob(self.repository, descriptor.digest)
        if len(data) != descriptor.size:
            raise ImageError(
                f"{self.name}: {descriptor.digest} is {len(data)} bytes, the descriptor says "
                f"{descriptor.size}"
            )
        return data

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        chunks = self.client.iter_blob(self.repository, descriptor.digest)
        return io.BufferedReader(_ChunkStream(chunks), buffer_size=1 << 20)  # type: ignore[return-value]

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        return RegistryBlobSource(self.client, self.repository, descriptor.digest, descriptor.size)

    def with_root(self, root: Descriptor) -> RegistryImageSource:
        """The same repository and client, resolved from another manifest (a referrer)."""
        ref = RegistryReference(self.ref.registry, self.ref.repository, None, root.digest)
        source = RegistryImageSource(ref, self.client, root, owns_client=self._owns_client)
        source._manifests = self._manifests
        self._owns_client = False
        return source

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
            self._owns_client = False

    def __enter__(self) -> RegistryImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_registry_source(
    ref: RegistryReference, hosts: RegistryHosts | None = None
) -> RegistryImageSource:
    """A source for ``ref`` with a client from ``hosts`` (owned by the source if created)."""
    if hosts is None:
        hosts = default_hosts()
    client = RegistryClient(ref.endpoint, hosts.get(ref.endpoint))
    return RegistryImageSource(ref, client, owns_client=True)


def _factory(ref: ImageReference) -> RegistryImageSource:
    if not isinstance(ref, RegistryReference):
        raise ImageError(f"{ref}: expected a registry reference")
    return open_registry_source(ref)


def register_docker_transport() -> None:
    """Make ``open_source`` read ``docker://`` names through this module."""
    register_transport(DOCKER, source=_factory)
