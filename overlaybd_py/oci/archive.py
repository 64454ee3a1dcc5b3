"""``oci-archive:``: an OCI image layout packed in a tar file.

Reading indexes the tar once (headers only) and serves each blob as a window of the
tar file, so nothing is extracted and memory stays bounded; a compressed tar is
extracted to a temporary directory instead. Writing builds the layout in a staging
directory next to the archive and replaces the archive with one rename at commit.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from ..compression import detect
from ..errors import FormatError, ImageError, NotFoundError
from ..io import ByteSource, FileSource, SliceSource
from .blobio import CHUNK, fsync_dir
from .descriptor import Descriptor
from .layout import DirStorage, OCILayout
from .layout_writer import BlobInput, LayoutWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int


class SourceReader(io.RawIOBase):
    """A sequential stream over a positional byte source."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self._source.pread(self._offset, len(view))
        view[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            closer = getattr(self._source, "close", None)
            if closer is not None:
                closer()
        super().close()


class TarStorage:
    """Files of an uncompressed tar, read in place (a ``LayoutStorage``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = path
        self._members = index_tar(path)

    def names(self) -> list[str]:
        """Every regular file in the tar, normalised (no leading ``./``)."""
        return list(self._members)

    def _member(self, relpath: str) -> _Member:
        member = self._members.get(relpath)
        if member is None:
            raise NotFoundError(f"{self.name}: {relpath} is not in the archive")
        return member

    def open(self, relpath: str) -> BinaryIO:
        return io.BufferedReader(SourceReader(self.source(relpath)), CHUNK)  # type: ignore[return-value]

    def exists(self, relpath: str) -> bool:
        return relpath in self._members

    def size(self, relpath: str) -> int:
        return self._member(relpath).size

    def source(self, relpath: str) -> ByteSource:
        member = self._member(relpath)
        return SliceSource(
            FileSource(self.path), member.offset, member.size, f"{self.name}:{relpath}"
        )

    def close(self) -> None:
        pass


def normalise_member_name(name: str) -> str | None:
    """A tar member name relative to the root, or None if it escapes the root."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        return None
    return "/".join(parts)


def index_tar(path: str) -> dict[str, _Member]:
    """Map each regular file of an uncompressed tar to its data offset and size."""
    members: dict[str, _Member] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            links = []
            for info in tar:
                name = normalise_member_name(info.name)
                if name is None and not (info.isdir() and info.name.strip("./") == ""):
                    log.warning("%s: ignoring member %r outside the archive root", path, info.name)
                if name is None:
                    continue
                if info.isreg():
                    if info.issparse():
                        raise FormatError(f"{path}: sparse member {info.name!r} is not supported")
                    members[name] = _Member(info.offset_data, info.size)
                elif info.islnk():
                    links.append((name, normalise_member_name(info.linkname)))
            for name, target in links:
                if target in members:
                    members[name] = members[target]
    except tarfile.ReadError as exc:
        raise ImageError(f"{path}: expected a tar archive, found unreadable data: {exc}") from None
    except FileNotFoundError:
        raise NotFoundError(f"{path}: archive does not exist") from None
    return members


def extract_tar(path: str, target: str) -> None:
    """Extract the regular files of a (possibly compressed) tar safely into ``target``."""
    try:
        _extract_tar(path, target)
    except tarfile.TarError:
        raise ImageError(
            f"{path}: expected a tar archive (plain or compressed), found other data"
        ) from None


def _extract_tar(path: str, target: str) -> None:
    with tarfile.open(path, mode="r:*") as tar:
        for info in tar:
            name = normalise_member_name(info.name)
            if name is None or not info.isreg():
                continue
            dest = os.path.join(target, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            source = tar.extractfile(info)
            assert source is not None
            with source, open(dest, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)


class _ExtractedStorage(DirStorage):
    """A temporary directory holding an extracted archive, removed on close."""

    def __init__(self, archive: str) -> None:
        self._temp = tempfile.mkdtemp(prefix="obd-archive-")
        try:
            extract_tar(archive, self._temp)
        except BaseException:
            shutil.rmtree(self._temp, ignore_errors=True)
            raise
        super().__init__(self._temp)
        self.name = archive

    def close(self) -> None:
        shutil.rmtree(self._temp, ignore_errors=True)


def open_archive_storage(path: str) -> TarStorage | DirStorage:
    """Storage over a tar: in place when uncompressed, else extracted to a temp dir."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: archive does not exist") from None
    if detect(head) == "none":
        return TarStorage(path)
    log.info("%s: compressed archive, extracting to a temporary directory", path)
    return _ExtractedStorage(path)


def open_oci_archive(path: str) -> OCILayout:
    """Open an ``oci-archive`` file as a read-only layout (close it when done)."""
    storage = open_archive_storage(path)
    try:
        return OCILayout(storage)
    except BaseException:
        storage.close()
        raise


class OCIArchiveWriter:
    """An ``oci-archive`` target: a staged layout, tarred and renamed at commit."""

    def __init__(self, path: str | os.PathLike[str], tag: str | None = None) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.name = f"oci-archive:{self.path}"
        self.tag = tag
        parent = os.path.dirname(self.path)
        os.makedirs(parent, exist_ok=True)
        self._staging = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}.", dir=parent)
        try:
            layout_dir = os.path.join(self._staging, "layout")
            if os.path.exists(self.path):
                extract_tar(self.path, layout_dir)
            self._layout = LayoutWriter(layout_dir, tag)
        except BaseException:
            shutil.rmtree(self._staging, ignore_errors=True)
            raise
        self._done = False

    def has_blob(self, descriptor: Descriptor) -> bool:
        """True when the staged layout already has this blob."""
        return self._layout.has_blob(descriptor)

    def put_blob(
        self,
        data: BlobInput,
        media_type: str = "application/octet-stream",
        expected: Descriptor | None = None,
    ) -> Descriptor:
        """Store a blob in the staged layout."""
        return self._layout.put_blob(data, media_type, expected)

    def put_manifest(
        self, data: bytes, media_type: str, tag: str | None = None, root: bool = False
    ) -> Descriptor:
        """Store a manifest or index in the staged layout (see ``LayoutWriter``)."""
        return self._layout.put_manifest(data, media_type, tag, root)

    def commit(self) -> None:
        """Write the archive: tar the staged layout to a temp file, fsync, rename."""
        if self._done:
            raise ImageError(f"{self.path}: this archive transaction is already finished")
        try:
            self._layout.commit()
            fd, temp = tempfile.mkstemp(prefix=".tar-", dir=self._staging)
            with os.fdopen(fd, "wb") as handle:
                write_layout_tar(self._layout.path, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, self.path)
            fsync_dir(os.path.dirname(self.path))
        finally:
            self._done = True
            shutil.rmtree(self._staging, ignore_errors=True)

    def abort(self) -> None:
        """Drop the staged layout; the archive is untouched."""
        if not self._done:
            self._done = True
            self._layout.abort()
            shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self) -> OCIArchiveWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and not self._done:
            self.commit()
        else:
            self.abort()


def write_layout_tar(layout_dir: str, out: BinaryIO) -> None:
    """Tar a layout directory reproducibly: sorted names, zero times and owners."""
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(layout_dir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, layout_dir)
            if rel_dir != ".":
                tar.addfile(_info(rel_dir, tarfile.DIRTYPE, 0o755, 0))
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue  # leftover temporary files
                full = os.path.join(dirpath, filename)
                rel = os.path.normpath(os.path.join(rel_dir, filename))
                info = _info(rel, tarfile.REGTYPE, 0o644, os.path.getsize(full))
                with open(full, "rb") as handle:
                    tar.addfile(info, handle)


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
