"""Where streaming referrers live: one OCI layout or one registry repository.

Publishing and verifying need the same handful of operations on either kind of
store (resolve a name, fetch manifests, stat and range-read blobs, list, attach and
detach referrers), so both sit behind :class:`ImageLocation`. ``open_location``
picks the implementation from an image name (``oci:PATH[:TAG|@DIGEST]`` or
``docker://HOST/REPO[:TAG|@DIGEST]``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from ..errors import ImageError, NotFoundError, UnsupportedError
from ..io import ByteSource, ChunkStream
from ..oci import mediatypes as mt
from ..oci.blobio import write_file_atomic
from ..oci.descriptor import Descriptor
from ..oci.digest import split_digest
from ..oci.layout import INDEX_FILE, OCILayout, blob_relpath
from ..oci.layout_writer import LayoutWriter
from ..oci.manifest import Index, parse_index
from ..oci.reference import (
    OCI,
    ImageReference,
    LayoutReference,
    RegistryReference,
    parse_reference,
)
from ..registry.options import RegistryHosts

log = logging.getLogger(__name__)

HASH_CHUNK = 1 << 20


class ImageLocation(Protocol):
    """One layout or repository: the operations referrers need."""

    name: str

    def resolve(self) -> Descriptor:
        """The descriptor the location's reference names (tag, digest or only image)."""
        ...

    def describe(self, digest: str) -> Descriptor:
        """The descriptor (media type, size) of a manifest stored under ``digest``."""
        ...

    def fetch(self, descriptor: Descriptor) -> bytes:
        """A whole manifest, index or config, checked against the descriptor."""
        ...

    def blob_size(self, digest: str) -> int | None:
        """The stored size of a blob, or None when it is absent."""
        ...

    def has_manifest(self, descriptor: Descriptor) -> bool:
        """Whether the manifest ``descriptor`` names is stored (listed or not)."""
        ...

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        """Range reads of a blob (nothing is downloaded up front)."""
        ...

    def materialize(self, descriptor: Descriptor, workdir: str) -> tuple[str, str]:
        """A local file with the blob's bytes and the digest they hash to."""
        ...

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Descriptors of the manifests whose ``subject`` is ``digest``."""
        ...

    def copy_blob(self, descriptor: Descriptor, origin: ImageLocation) -> str:
        """Make the blob present here (from ``origin`` when needed); returns the action."""
        ...

    def attach(self, data: bytes) -> tuple[Descriptor, str]:
        """Store a referrer manifest untagged; returns it and how it was indexed."""
        ...

    def detach(self, subject: str, referrer: Descriptor, delete: bool = True) -> bool:
        """Unlist a referrer of ``subject``, and delete its manifest when ``delete`` (the
        caller has checked that it names ``subject``); True when it was deleted."""
        ...

    def close(self) -> None: ...


def open_location(
    reference: str | ImageReference, hosts: RegistryHosts | None = None
) -> ImageLocation:
    """The layout or repository an image name points into.

    Registry connection options come from ``hosts``, else from the ``docker://``
    transport's configuration (``overlaybd_py.registry.image.configure``), so commands
    that configured it for ``convert`` reach the same registries the same way.
    """
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if isinstance(ref, LayoutReference) and ref.transport == OCI:
        return LayoutLocation(ref)
    if isinstance(ref, RegistryReference):
        from ..registry.image import registry_hosts
        from .registry_location import RegistryLocation

        return RegistryLocation(ref, hosts or registry_hosts())
    raise UnsupportedError(
        f"{ref}: streaming referrers need an oci: layout directory or a docker:// registry, "
        f"found the {ref.transport} transport"
    )


def hash_file(path: str, algorithm: str = "sha256") -> str:
    """The digest of a file's content, read in bounded chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


class LayoutLocation:
    """An OCI image layout directory; referrers are untagged ``index.json`` entries."""

    def __init__(self, ref: LayoutReference) -> None:
        self.ref = ref
        self.path = os.path.abspath(os.fspath(ref.path))
        self.name = f"oci:{self.path}"
        self._layout = OCILayout.open_dir(self.path)

    def _fresh(self) -> OCILayout:
        """The layout with ``index.json`` as it is now (others may have changed it)."""
        self._layout = OCILayout.open_dir(self.path)
        return self._layout

    def resolve(self) -> Descriptor:
        return self._fresh().resolve(self.ref.tag, self.ref.digest)

    def describe(self, digest: str) -> Descriptor:
        return self._layout.resolve(digest=digest)

    def fetch(self, descriptor: Descriptor) -> bytes:
        return self._layout.fetch(descriptor)

    def blob_size(self, digest: str) -> int | None:
        relpath = blob_relpath(digest)
        if not self._layout.storage.exists(relpath):
            return None
        return self._layout.storage.size(relpath)

    def has_manifest(self, descriptor: Descriptor) -> bool:
        return self.blob_size(descriptor.digest) == descriptor.size

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        return self._layout.storage.source(blob_relpath(descriptor.digest))

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.path, blob_relpath(digest))

    def materialize(self, descriptor: Descriptor, workdir: str) -> tuple[str, str]:
        path = self.blob_path(descriptor.digest)
        if not os.path.isfile(path):
            raise NotFoundError(f"{self.name}: blob {descriptor.digest} does not exist")
        algorithm, _ = split_digest(descriptor.digest)
        return path, hash_file(path, algorithm)

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        return self._fresh().referrers(digest, artifact_type)

    def copy_blob(self, descriptor: Descriptor, origin: ImageLocation) -> str:
        if self.blob_size(descriptor.digest) == descriptor.size:
            return "exists"
        with LayoutWriter(self.path) as writer, _open_stream(origin, descriptor) as stream:
            writer.put_blob(stream, descriptor.media_type, expected=descriptor)
        return "copied"

    def attach(self, data: bytes) -> tuple[Descriptor, str]:
        with LayoutWriter(self.path) as writer:
            descriptor = writer.put_manifest(data, mt.OCI_MANIFEST)
        self._fresh()
        return descriptor, "index.json"

    def detach(self, subject: str, referrer: Descriptor, delete: bool = True) -> bool:
        """Drop the untagged ``index.json`` entries of ``referrer``; delete its blob (with
        ``delete``) only when nothing else in the index lists it."""
        _rewrite_index(self.path, lambda found: [e for e in found if not _untagged(e, referrer)])
        layout = self._fresh()
        if not delete or any(e.digest == referrer.digest for e in layout.entries):
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path(referrer.digest))
        return True

    def close(self) -> None:
        self._layout.close()


def _untagged(entry: Descriptor, referrer: Descriptor) -> bool:
    """An ``index.json`` entry listing ``referrer`` without a tag (a tag is the user's)."""
    return entry.digest == referrer.digest and not entry.ref_name


def _open_stream(origin: ImageLocation, descriptor: Descriptor) -> BinaryIO:
    """A stream of a blob in ``origin``: the file itself when it is local."""
    if isinstance(origin, LayoutLocation):
        return open(origin.blob_path(descriptor.digest), "rb")
    source = origin.blob_source(descriptor)

    def chunks() -> Iterator[bytes]:
        offset = 0
        while offset < descriptor.size:
            chunk = source.pread(offset, min(HASH_CHUNK, descriptor.size - offset))
            if not chunk:
                raise ImageError(
                    f"{origin.name}: blob {descriptor.digest} ended at byte {offset} "
                    f"of {descriptor.size}"
                )
            offset += len(chunk)
            yield chunk

    return io.BufferedReader(ChunkStream(chunks()))  # type: ignore[return-value]


def _rewrite_index(root: str, change: Callable[[list[Descriptor]], list[Descriptor]]) -> None:
    """Read-modify-write ``index.json`` under the lock ``LayoutWriter`` also takes."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        index_path = os.path.join(root, INDEX_FILE)
        with open(index_path, "rb") as handle:
            index: Index = parse_index(handle.read(), index_path)
        manifests = change(list(index.manifests))
        write_file_atomic(index_path, index.evolve(manifests=tuple(manifests)).to_bytes())
    finally:
        os.close(fd)
