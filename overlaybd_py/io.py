"""Positional byte sources: the one reading interface every format layer takes.

A source has a ``size`` and ``pread(offset, length)``, which returns exactly
``length`` bytes, or fewer only when the range runs past ``size``. Local files,
in-memory bytes, slices of another source, ZFile and LSMT readers and the HTTP
range reader all satisfy it, so readers stack without knowing what is below.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from .errors import FormatError


@runtime_checkable
class ByteSource(Protocol):
    """Anything that can read a byte range at an absolute offset."""

    @property
    def size(self) -> int: ...

    def pread(self, offset: int, length: int) -> bytes: ...


class BytesSource:
    """A source over bytes held in memory."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> None:
        self._data = bytes(data)
        self.name = name

    @property
    def size(self) -> int:
        return len(self._data)

    def pread(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]

    def close(self) -> None:
        pass


class FileSource:
    """A source over a local file, read with ``os.pread`` (safe to share between threads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        try:
            mode = os.stat(self.name).st_mode
        except OSError:
            mode = stat.S_IFREG  # let open() say what is wrong
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
            raise FormatError(
                f"{self.name}: is a pipe or a device; expected a regular file (it is read at "
                "any offset, so it cannot be streamed)"
            )
        self._fd = os.open(self.name, os.O_RDONLY)
        info = os.fstat(self._fd)
        if stat.S_ISDIR(info.st_mode):
            os.close(self._fd)
            raise FormatError(f"{self.name}: is a directory; expected a file")
        self._size = info.st_size

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SliceSource:
    """A window ``[start, start + size)`` of another source, addressed from 0."""

    def __init__(self, base: ByteSource, start: int, size: int, name: str | None = None) -> None:
        if start < 0 or size < 0 or start + size > base.size:
            raise FormatError(
                f"{name or 'slice'}: range {start}+{size} does not fit a source of "
                f"{base.size} bytes"
            )
        self._base = base
        self._start = start
        self._size = size
        self.name = name or getattr(base, "name", "<slice>")

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self._size - offset))
        return self._base.pread(self._start + offset, length)


def source_name(source: object) -> str:
    """A human label for a source, used in error messages."""
    return str(getattr(source, "name", type(source).__name__))


def read_exact(source: ByteSource, offset: int, length: int, what: str) -> bytes:
    """Read ``length`` bytes or raise a FormatError naming ``what`` and where it was cut."""
    data = source.pread(offset, length)
    if len(data) != length:
        raise FormatError(
            f"{source_name(source)}: {what} at offset {offset} needs {length} bytes, "
            f"found {len(data)} (source is {source.size} bytes)"
        )
    return data


class ChunkStream(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (an HTTP body, a copy)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
