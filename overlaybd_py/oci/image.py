"""The uniform image interface the convert pipeline uses, whatever the transport.

``ImageSource`` yields resolved per-platform images and digest-checked blob streams;
``ImageTarget`` takes blobs and manifests and publishes them only at ``commit``.
Local transports (``oci:``, ``oci-archive:``, ``docker-archive:``) are built in; other
transports (``docker://``) plug in with ``register_transport`` so this package never
imports the registry client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import BinaryIO, Protocol, runtime_checkable

from ..errors import ImageError, UnsupportedError
from ..io import ByteSource
from .archive import OCIArchiveWriter, open_oci_archive
from .descriptor import Descriptor
from .docker_archive import DockerArchive
from .layout import OCILayout
from .layout_writer import BlobInput, LayoutWriter
from .platform import Platform
from .reference import (
    DOCKER,
    OCI,
    OCI_ARCHIVE,
    DockerArchiveReference,
    ImageReference,
    LayoutReference,
    parse_reference,
)
from .resolve import ResolvedImage, resolve_images


@runtime_checkable
class ImageSource(Protocol):
    """Where a command reads an image from."""

    name: str

    def root(self) -> Descriptor:
        """The descriptor the reference names (a manifest or an index)."""
        ...

    def resolve(self, platforms: Sequence[Platform] | None = None) -> list[ResolvedImage]:
        """Every image under the root (None), or those matching ``platforms``."""
        ...

    def fetch(self, descriptor: Descriptor) -> bytes:
        """A whole small blob (manifest, index, config), digest-checked."""
        ...

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        """A stream of a blob, digest-checked as it is read (error at end of stream)."""
        ...

    def close(self) -> None:
        """Release files, temporary directories or connections."""
        ...

    def __enter__(self) -> ImageSource: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class ImageTarget(Protocol):
    """Where a command writes an image; nothing is visible before ``commit``."""

    name: str
    tag: str | None

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the target already holds the blob (skip writing it again)."""
        ...

    def put_blob(
        self,
        data: BlobInput,
        media_type: str = "application/octet-stream",
        expected: Descriptor | None = None,
    ) -> Descriptor:
        """Store bytes, a stream or a file; checked against ``expected`` when given."""
        ...

    def put_manifest(
        self, data: bytes, media_type: str, tag: str | None = None, root: bool = False
    ) -> Descriptor:
        """Store a manifest or index; ``tag``/``root`` make it reachable at commit."""
        ...

    def commit(self) -> None:
        """Publish everything stored (tags, index) in one step."""
        ...

    def abort(self) -> None:
        """Drop everything stored; the target stays as it was."""
        ...


class ImageStore(Protocol):
    """What ``StoreSource`` needs: fetch and stream blobs by descriptor."""

    name: str

    def fetch(self, descriptor: Descriptor) -> bytes: ...

    def open_blob(self, descriptor: Descriptor) -> BinaryIO: ...

    def blob_source(self, descriptor: Descriptor) -> ByteSource: ...

    def close(self) -> None: ...


class StoreSource:
    """An ``ImageSource`` over a local store and an already resolved root descriptor."""

    def __init__(self, store: ImageStore, root: Descriptor, name: str) -> None:
        self.store = store
        self.name = name
        self._root = root

    def root(self) -> Descriptor:
        return self._root

    def resolve(self, platforms: Sequence[Platform] | None = None) -> list[ResolvedImage]:
        return resolve_images(self._root, self.store.fetch, platforms, self.name)

    def fetch(self, descriptor: Descriptor) -> bytes:
        return self.store.fetch(descriptor)

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return self.store.open_blob(descriptor)

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        """Positional access to a local blob (for lazy reading of converted layers)."""
        return self.store.blob_source(descriptor)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StoreSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SourceFactory = Callable[[ImageReference], ImageSource]
TargetFactory = Callable[[ImageReference], ImageTarget]
_SOURCES: dict[str, SourceFactory] = {}
_TARGETS: dict[str, TargetFactory] = {}


def register_transport(
    transport: str, source: SourceFactory | None = None, target: TargetFactory | None = None
) -> None:
    """Plug in a transport implemented elsewhere (the registry client registers ``docker``)."""
    if source is not None:
        _SOURCES[transport] = source
    if target is not None:
        _TARGETS[transport] = target


def open_source(reference: str | ImageReference) -> ImageSource:
    """Open an image name for reading."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if ref.transport in _SOURCES:
        return _SOURCES[ref.transport](ref)
    if isinstance(ref, LayoutReference):
        layout = (
            OCILayout.open_dir(ref.path) if ref.transport == OCI else open_oci_archive(ref.path)
        )
        try:
            return StoreSource(layout, layout.resolve(ref.tag, ref.digest), str(ref))
        except BaseException:
            layout.close()
            raise
    if isinstance(ref, DockerArchiveReference):
        archive = DockerArchive(ref.path)
        try:
            return StoreSource(archive, archive.resolve(ref.name, ref.index), str(ref))
        except BaseException:
            archive.close()
            raise
    raise UnsupportedError(f"{ref}: no {ref.transport} transport is available for reading")


def open_target(reference: str | ImageReference) -> ImageTarget:
    """Open an image name for writing (a layout directory or an oci-archive file)."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if ref.transport in _TARGETS:
        return _TARGETS[ref.transport](ref)
    if isinstance(ref, LayoutReference):
        if ref.digest is not None:
            raise ImageError(f"{ref}: a target is named by a tag, not a digest")
        if ref.transport == OCI:
            return LayoutWriter(os.fspath(ref.path), ref.tag)
        if ref.transport == OCI_ARCHIVE:
            return OCIArchiveWriter(os.fspath(ref.path), ref.tag)
    if ref.transport == DOCKER:
        raise UnsupportedError(f"{ref}: no registry transport is registered for writing")
    raise UnsupportedError(f"{ref}: {ref.transport} cannot be written")
