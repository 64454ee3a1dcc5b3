"""Reading an OCI image layout (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``).

The layout sits on a small storage interface so the same reader serves a directory
and the inside of an ``oci-archive`` tarball. Blobs are digest-checked as they are
read; ``index.json`` entries are addressed by tag (``org.opencontainers.image.ref.name``),
by digest, or as "the only image" when the layout holds exactly one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from ..errors import ImageError, NotFoundError
from ..io import ByteSource, FileSource
from . import gojson
from . import mediatypes as mt
from .blobio import MAX_JSON_BLOB, read_verified, verified_stream
from .descriptor import Descriptor
from .digest import check_digest, split_digest
from .manifest import Index, parse_index, sniff_media_type, subject_digest
from .platform import Platform
from .resolve import ResolvedImage, resolve_images

log = logging.getLogger(__name__)

OCI_LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs"
LAYOUT_VERSION = "1.0.0"


class LayoutStorage(Protocol):
    """Read access to the files of a layout, by path relative to its root."""

    name: str

    def open(self, relpath: str) -> BinaryIO: ...

    def exists(self, relpath: str) -> bool: ...

    def size(self, relpath: str) -> int: ...

    def source(self, relpath: str) -> ByteSource: ...

    def close(self) -> None: ...


class DirStorage:
    """A layout stored as a directory."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.name = root

    def _path(self, relpath: str) -> str:
        return os.path.join(self.root, relpath)

    def open(self, relpath: str) -> BinaryIO:
        try:
            return open(self._path(relpath), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"{self.name}: {relpath} does not exist") from None

    def exists(self, relpath: str) -> bool:
        return os.path.isfile(self._path(relpath))

    def size(self, relpath: str) -> int:
        try:
            return os.stat(self._path(relpath)).st_size
        except FileNotFoundError:
            raise NotFoundError(f"{self.name}: {relpath} does not exist") from None

    def source(self, relpath: str) -> ByteSource:
        if not self.exists(relpath):
            raise NotFoundError(f"{self.name}: {relpath} does not exist")
        return FileSource(self._path(relpath))

    def close(self) -> None:
        pass


def blob_relpath(digest: str) -> str:
    """``blobs/<algorithm>/<hex>`` for a digest."""
    algorithm, encoded = split_digest(digest)
    return f"{BLOBS_DIR}/{algorithm}/{encoded}"


class OCILayout:
    """A read-only view of an OCI image layout."""

    def __init__(self, storage: LayoutStorage) -> None:
        self.storage = storage
        self.name = storage.name
        self._check_layout_file()
        self.index = self._load_index()

    @classmethod
    def open_dir(cls, path: str | os.PathLike[str]) -> OCILayout:
        """Open a layout directory."""
        path = os.fspath(path)
        if not os.path.isdir(path):
            found = "a file" if os.path.lexists(path) else "nothing there"
            raise NotFoundError(f"{path}: expected an OCI layout directory, found {found}")
        return cls(DirStorage(path))

    def _check_layout_file(self) -> None:
        where = f"{self.name}/{OCI_LAYOUT_FILE}"
        if not self.storage.exists(OCI_LAYOUT_FILE):
            raise ImageError(f"{where}: expected the oci-layout file of an OCI layout, not found")
        with self.storage.open(OCI_LAYOUT_FILE) as handle:
            layout = gojson.load_object(handle.read(MAX_JSON_BLOB), where)
        version = layout.get("imageLayoutVersion")
        if not isinstance(version, str):
            raise ImageError(f"{where}: expected an imageLayoutVersion string, found {version!r}")
        if version != LAYOUT_VERSION:
            log.warning("%s: imageLayoutVersion %s, expected %s", where, version, LAYOUT_VERSION)

    def _load_index(self) -> Index:
        where = f"{self.name}/{INDEX_FILE}"
        if not self.storage.exists(INDEX_FILE):
            raise ImageError(f"{where}: expected the index.json of an OCI layout, not found")
        with self.storage.open(INDEX_FILE) as handle:
            return parse_index(handle.read(), where)

    # -- entries and tags ---------------------------------------------------------------

    @property
    def entries(self) -> tuple[Descriptor, ...]:
        """The descriptors listed in ``index.json``."""
        return self.index.manifests

    def tags(self) -> list[str]:
        """Every tag (ref name) in ``index.json``, in file order."""
        return [d.ref_name for d in self.entries if d.ref_name]

    def resolve(self, tag: str | None = None, digest: str | None = None) -> Descriptor:
        """The root descriptor for a tag, a digest, or the layout's only image."""
        if digest is not None:
            return self._by_digest(digest)
        if tag is not None:
            return self._by_tag(tag)
        return self._only_image()

    def _by_tag(self, tag: str) -> Descriptor:
        found = [d for d in self.entries if d.ref_name == tag]
        if not found:
            raise NotFoundError(
                f"{self.name}: no image tagged {tag!r}; tags: {', '.join(self.tags()) or 'none'}"
            )
        if len(found) > 1:
            log.warning("%s: tag %r names %d entries; using the last", self.name, tag, len(found))
        return found[-1]

    def _by_digest(self, digest: str) -> Descriptor:
        check_digest(digest, f"{self.name}@{digest}")
        for entry in self.entries:
            if entry.digest == digest:
                return entry
        relpath = blob_relpath(digest)
        if not self.storage.exists(relpath):
            raise NotFoundError(f"{self.name}: no manifest or index with digest {digest}")
        size = self.storage.size(relpath)
        probe = Descriptor(mt.OCI_MANIFEST, digest, size)
        try:
            media_type = sniff_media_type(gojson.load_object(self.fetch(probe), f"blob {digest}"))
        except ImageError:
            media_type = "a blob that is not a JSON object"
        if not (mt.is_manifest(media_type) or mt.is_index(media_type)):
            raise ImageError(
                f"{self.name}@{digest}: expected a manifest or index, found {media_type!r}"
            )
        return Descriptor(str(media_type), digest, size)

    def _only_image(self) -> Descriptor:
        tagged = [d for d in self.entries if d.ref_name]
        candidates = tagged or [d for d in self.entries if not self._is_referrer(d)]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise NotFoundError(f"{self.name}: the layout holds no image")
        choices = ", ".join(d.ref_name or f"@{d.digest}" for d in candidates)
        raise ImageError(
            f"{self.name}: expected one image, found {len(candidates)}; choose one of: {choices}"
        )

    def _is_referrer(self, entry: Descriptor) -> bool:
        if not (mt.is_manifest(entry.media_type) or mt.is_index(entry.media_type)):
            return False
        return "subject" in gojson.load_object(self.fetch(entry), f"manifest {entry.digest}")

    # -- blobs ----------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        """True when the layout stores a blob with this digest."""
        return self.storage.exists(blob_relpath(digest))

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        """A stream of the blob's bytes, checked against the descriptor as it is read."""
        relpath = blob_relpath(descriptor.digest)
        return verified_stream(self.storage.open(relpath), descriptor, f"{self.name}/{relpath}")

    def fetch(self, descriptor: Descriptor) -> bytes:
        """The whole (small) blob, checked: manifests, indexes, configs."""
        relpath = blob_relpath(descriptor.digest)
        return read_verified(self.storage.open(relpath), descriptor, f"{self.name}/{relpath}")

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        """Positional access to a blob (not digest-checked: random reads cannot be)."""
        relpath = blob_relpath(descriptor.digest)
        source = self.storage.source(relpath)
        if source.size != descriptor.size:
            raise ImageError(
                f"{self.name}/{relpath}: expected {descriptor.size} bytes, found {source.size}"
            )
        return source

    # -- images and referrers ---------------------------------------------------------------

    def images(
        self,
        tag: str | None = None,
        digest: str | None = None,
        platforms: Sequence[Platform] | None = None,
    ) -> list[ResolvedImage]:
        """The images behind a tag/digest/only image, filtered by platform."""
        root = self.resolve(tag, digest)
        label = f"{self.name}" + (f"@{digest}" if digest else f":{tag}" if tag else "")
        return resolve_images(root, self.fetch, platforms, label)

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests listed in ``index.json`` whose ``subject`` is ``digest``.

        Each result carries the referrer's artifactType and annotations, as the
        distribution referrers API reports them.
        """
        found = []
        for entry in self.entries:
            if entry.digest == digest or not (
                mt.is_manifest(entry.media_type) or mt.is_index(entry.media_type)
            ):
                continue
            try:
                data = self.fetch(entry)
            except NotFoundError as exc:
                # Cannot tell whose referrer it was; the rest of the listing still counts.
                log.warning("%s; skipped while listing referrers of %s", exc, digest)
                continue
            obj = gojson.load_object(data, f"manifest {entry.digest}")
            if subject_digest(obj) != digest:
                continue
            described = referrer_descriptor(entry, obj)
            if artifact_type is None or described.artifact_type == artifact_type:
                found.append(described)
        return found

    def close(self) -> None:
        """Release the storage (temporary files of an archive)."""
        self.storage.close()

    def __enter__(self) -> OCILayout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def referrer_descriptor(entry: Descriptor, obj: dict[str, object]) -> Descriptor:
    """A referrer's descriptor: artifactType (or config media type) and its annotations."""
    artifact_type = obj.get("artifactType")
    if not isinstance(artifact_type, str) or not artifact_type:
        config = obj.get("config")
        artifact_type = config.get("mediaType", "") if isinstance(config, dict) else ""
    annotations = obj.get("annotations")
    return Descriptor(
        entry.media_type,
        entry.digest,
        entry.size,
        annotations=dict(annotations) if isinstance(annotations, dict) else {},
        artifact_type=str(artifact_type),
    )
