"""Writing images into an OCI image layout as one transaction.

Blobs go in as they are produced (temp file, fsync, rename to the content address),
but ``index.json`` changes only in ``commit``: a tag appears when the whole image is
stored, and a failed run leaves the layout as it was (the blobs it added are removed
again). A layout that did not exist is built in a sibling staging directory and
renamed into place, so it appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import ImageError
from . import gojson
from . import mediatypes as mt
from .blobio import BlobWriter, fsync_dir, write_file_atomic
from .descriptor import Descriptor
from .layout import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_VERSION,
    OCI_LAYOUT_FILE,
    blob_relpath,
    referrer_descriptor,
)
from .manifest import Index, parse_index

log = logging.getLogger(__name__)

BlobInput = BinaryIO | bytes | str | os.PathLike[str]


@dataclass(frozen=True)
class _Entry:
    descriptor: Descriptor
    tag: str | None


class LayoutWriter:
    """Adds blobs and manifests to a layout directory; ``commit`` publishes them."""

    def __init__(self, path: str | os.PathLike[str], tag: str | None = None) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.name = f"oci:{self.path}"
        self.tag = tag
        self._entries: list[_Entry] = []
        self._new_blobs: list[str] = []
        self._done = False
        self._staging: str | None = None
        if _is_layout(self.path):
            self._root = self.path
        elif not os.path.exists(self.path) or _is_empty_dir(self.path):
            parent = os.path.dirname(self.path)
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise ImageError(f"{self.path}: cannot create {parent}: {exc.strerror}") from None
            name = os.path.basename(self.path)
            # An existing empty directory keeps its mode; a new one gets the umask's.
            mode = os.stat(self.path).st_mode & 0o7777 if os.path.isdir(self.path) else None
            try:
                self._staging = tempfile.mkdtemp(prefix=f".{name}.staging-", dir=parent)
            except OSError as exc:
                raise ImageError(
                    f"{self.path}: cannot create a layout in {parent}: {exc.strerror}"
                ) from None
            os.chmod(self._staging, mode if mode is not None else 0o777 & ~_umask())
            self._root = self._staging
        else:
            raise ImageError(
                f"{self.path}: expected an OCI layout directory (with {OCI_LAYOUT_FILE}) "
                "or a new path, found something else"
            )
        self.blobs_dir = os.path.join(self._root, BLOBS_DIR)
        os.makedirs(self.blobs_dir, exist_ok=True)

    # -- blobs ------------------------------------------------------------------------------

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the blob is already stored (so it need not be written again)."""
        relpath = blob_relpath(descriptor.digest)
        full = os.path.join(self._root, relpath)
        return os.path.isfile(full) and os.path.getsize(full) == descriptor.size

    def blob_writer(self) -> BlobWriter:
        """A streaming writer for one blob; pass it to ``finish_blob`` when done."""
        self._check_open()
        return BlobWriter(self.blobs_dir)

    def finish_blob(
        self,
        writer: BlobWriter,
        media_type: str = "application/octet-stream",
        expected: Descriptor | None = None,
    ) -> Descriptor:
        """Commit a streamed blob and return its descriptor."""
        digest, size, is_new = writer.commit(expected)
        if is_new and writer.path:
            self._new_blobs.append(writer.path)
        if expected is not None:
            return expected
        return Descriptor(media_type, digest, size)

    def put_blob(
        self,
        data: BlobInput,
        media_type: str = "application/octet-stream",
        expected: Descriptor | None = None,
    ) -> Descriptor:
        """Store bytes, a stream or a file's content; returns the blob's descriptor."""
        self._check_open()
        if expected is not None and self.has_blob(expected):
            return expected
        with self.blob_writer() as writer:
            if isinstance(data, bytes | bytearray | memoryview):
                writer.write(data)
            elif isinstance(data, str | os.PathLike):
                with open(data, "rb") as handle:
                    writer.copy_from(handle)
            else:
                writer.copy_from(data)
            return self.finish_blob(
                writer, expected.media_type if expected else media_type, expected
            )

    def put_manifest(
        self, data: bytes, media_type: str, tag: str | None = None, root: bool = False
    ) -> Descriptor:
        """Store a manifest or index; ``tag`` (or ``root``) lists it in ``index.json``.

        A manifest with a ``subject`` (a referrer) is always listed, untagged, with its
        artifactType and annotations, so ``OCILayout.referrers`` can find it.
        """
        descriptor = self.put_blob(data, media_type)
        obj = gojson.load_object(data, f"manifest {descriptor.digest}")
        if "subject" in obj:
            descriptor = referrer_descriptor(descriptor, obj)
            self._entries.append(_Entry(descriptor, tag))
        elif tag is not None or root:
            self._entries.append(_Entry(descriptor, tag))
        return descriptor

    # -- transaction --------------------------------------------------------------------------

    def commit(self) -> None:
        """Publish every listed manifest and tag in one ``index.json`` replacement."""
        self._check_open()
        try:
            if self._staging is not None:
                self._publish_staging()
            else:
                self._update_index(self._root)
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        """Forget the transaction: the layout stays as it was before."""
        if self._done:
            return
        self._done = True
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            return
        for path in self._new_blobs:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        log.debug("%s: aborted, removed %d new blobs", self.path, len(self._new_blobs))

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and not self._done:
            self.commit()
        else:
            self.abort()

    def _check_open(self) -> None:
        if self._done:
            raise ImageError(f"{self.path}: this layout transaction is already finished")

    def _publish_staging(self) -> None:
        assert self._staging is not None
        write_file_atomic(
            os.path.join(self._staging, OCI_LAYOUT_FILE),
            gojson.dumps({"imageLayoutVersion": LAYOUT_VERSION}),
        )
        index = Index(manifests=(), media_type=mt.OCI_INDEX)
        write_file_atomic(os.path.join(self._staging, INDEX_FILE), self._merged(index))
        try:
            # rename(2) replaces a missing or empty directory atomically.
            os.rename(self._staging, self.path)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not _is_layout(self.path):
                raise
            self._merge_into_existing()
            return
        fsync_dir(os.path.dirname(self.path))
        self._staging = None

    def _merge_into_existing(self) -> None:
        """Another writer created the layout meanwhile: move our blobs in, then merge."""
        assert self._staging is not None
        staged_blobs = os.path.join(self._staging, BLOBS_DIR)
        for algorithm in os.listdir(staged_blobs):
            target_dir = os.path.join(self.path, BLOBS_DIR, algorithm)
            os.makedirs(target_dir, exist_ok=True)
            for name in os.listdir(os.path.join(staged_blobs, algorithm)):
                target = os.path.join(target_dir, name)
                if not os.path.exists(target):
                    os.replace(os.path.join(staged_blobs, algorithm, name), target)
            fsync_dir(target_dir)
        self._update_index(self.path)
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging = None

    def _update_index(self, root: str) -> None:
        """Read-modify-write ``index.json`` under a lock on the layout directory."""
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            index_path = os.path.join(root, INDEX_FILE)
            if os.path.exists(index_path):
                with open(index_path, "rb") as handle:
                    index = parse_index(handle.read(), index_path)
            else:
                index = Index(manifests=(), media_type=mt.OCI_INDEX)
            write_file_atomic(index_path, self._merged(index))
        finally:
            os.close(fd)

    def _merged(self, index: Index) -> bytes:
        manifests = list(index.manifests)
        for entry in self._entries:
            if entry.tag is not None:
                manifests = [m for m in manifests if m.ref_name != entry.tag]
                annotations = dict(entry.descriptor.annotations)
                annotations[mt.ANNOTATION_REF_NAME] = entry.tag
                manifests.append(entry.descriptor.with_annotations(annotations))
            elif not any(m.digest == entry.descriptor.digest for m in manifests):
                manifests.append(entry.descriptor)
        return index.evolve(manifests=tuple(manifests)).to_bytes()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_layout(path: str) -> bool:
    return os.path.isfile(os.path.join(path, OCI_LAYOUT_FILE))


def _is_empty_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.listdir(path)
