"""Blob streams that check their digest while read, and blob files written atomically.

Reading never trusts a blob: the digest and size are checked as the bytes go by, and
the mismatch is raised at the end of the stream (or as soon as the size is exceeded).
Writing goes to a temporary file in the destination directory, is fsynced, and only
then renamed to its content address, so a crash never leaves a blob with a wrong name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from typing import BinaryIO

from ..errors import ChecksumError, ImageError
from .descriptor import Descriptor
from .digest import SHA256, new_hasher

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# Manifests, indexes and configs are read whole; the distribution spec lets registries
# refuse manifests over 4 MiB, so anything much larger is not a manifest.
MAX_JSON_BLOB = 16 << 20


class VerifyingReader(io.RawIOBase):
    """A read-only stream over ``raw`` that checks the bytes against a descriptor."""

    def __init__(
        self, raw: BinaryIO, descriptor: Descriptor, where: str, check_size: bool = True
    ) -> None:
        self._raw = raw
        self._descriptor = descriptor
        self._check_size = check_size
        self._where = where
        self._hasher = new_hasher(descriptor.digest)
        self._count = 0
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        if not data:
            self._finish()
            return 0
        self._count += len(data)
        if self._check_size and self._count > self._descriptor.size:
            raise ChecksumError(
                f"{self._where}: expected {self._descriptor.size} bytes for "
                f"{self._descriptor.digest}, found more"
            )
        self._hasher.update(data)
        view[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        if self._verified:
            return
        if self._check_size and self._count != self._descriptor.size:
            raise ChecksumError(
                f"{self._where}: expected {self._descriptor.size} bytes for "
                f"{self._descriptor.digest}, found {self._count}"
            )
        found = f"{self._descriptor.digest.split(':')[0]}:{self._hasher.hexdigest()}"
        if found != self._descriptor.digest:
            raise ChecksumError(
                f"{self._where}: expected digest {self._descriptor.digest}, found {found}"
            )
        self._verified = True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def verified_stream(raw: BinaryIO, descriptor: Descriptor, where: str) -> BinaryIO:
    """A buffered, digest-checking stream over ``raw``."""
    return io.BufferedReader(VerifyingReader(raw, descriptor, where), CHUNK)  # type: ignore[return-value]


def read_verified(
    raw: BinaryIO, descriptor: Descriptor, where: str, limit: int = MAX_JSON_BLOB
) -> bytes:
    """Read a whole small blob (manifest, index, config) and check it."""
    if descriptor.size > limit:
        raise ImageError(
            f"{where}: expected a JSON blob of at most {limit} bytes, "
            f"descriptor says {descriptor.size}"
        )
    with verified_stream(raw, descriptor, where) as stream:
        return stream.read()


class BlobWriter:
    """Writes one blob to ``<blobs>/sha256/<hex>`` through a temporary file."""

    def __init__(self, blobs_dir: str) -> None:
        self._dir = os.path.join(blobs_dir, SHA256)
        os.makedirs(self._dir, exist_ok=True)
        fd, self._temp = tempfile.mkstemp(prefix=".tmp-", dir=self._dir)
        self._file = os.fdopen(fd, "wb")
        self._hasher = hashlib.sha256()
        self.size = 0
        self.path: str | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append bytes to the blob."""
        self._file.write(data)
        self._hasher.update(data)
        self.size += len(data)
        return len(data)

    def copy_from(self, stream: BinaryIO) -> None:
        """Append everything left in ``stream``, in bounded chunks."""
        while chunk := stream.read(CHUNK):
            self.write(chunk)

    @property
    def digest(self) -> str:
        """The digest of the bytes written so far."""
        return f"{SHA256}:{self._hasher.hexdigest()}"

    def commit(self, expected: Descriptor | None = None) -> tuple[str, int, bool]:
        """Check against ``expected``, make durable, rename; returns (digest, size, is_new)."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            digest = self.digest
            if expected is not None:
                _check_expected(expected, digest, self.size)
            final = os.path.join(self._dir, digest.split(":", 1)[1])
            is_new = not os.path.exists(final)
            if is_new:
                os.chmod(self._temp, 0o644)
                os.replace(self._temp, final)
                fsync_dir(self._dir)
            else:
                os.unlink(self._temp)
            self.path = final
            return digest, self.size, is_new
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the temporary file."""
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None or self.path is None:
            self.abort()


def _check_expected(expected: Descriptor, digest: str, size: int) -> None:
    if expected.size != size:
        raise ChecksumError(
            f"blob {expected.digest}: expected {expected.size} bytes, received {size}"
        )
    if expected.digest != digest:
        raise ChecksumError(f"blob: expected digest {expected.digest}, received {digest}")


def fsync_dir(path: str) -> None:
    """Make a rename or creation inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
        fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
