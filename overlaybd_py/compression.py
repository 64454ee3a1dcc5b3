"""Layer stream decompression chosen from the bytes, never from a media type.

Real layouts mislabel layer compression, so the first bytes decide: gzip
(``1f 8b``), zstd (``28 b5 2f fd``) or plain tar.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO

import zstandard

from .errors import FormatError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_CHUNK = 1 << 20


def detect(head: bytes) -> str:
    """Name the compression of a stream from its first bytes: 'gzip', 'zstd' or 'none'."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read to sniff the format."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


class _GzipReader(io.RawIOBase):
    """Streaming gzip decoder that accepts concatenated members, as ``gzip -d`` does."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self._raw = raw
        self._name = name
        self._inflater = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._consumed = 0
        self._eof = False
        self._in_member = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._eof:
            self._fill(len(view))
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _fill(self, want: int) -> None:
        data = self._inflater.unconsumed_tail or self._raw.read(_CHUNK)
        if not data:
            if self._in_member:
                raise FormatError(
                    f"{self._name}: gzip stream ends early after {self._consumed} compressed bytes"
                )
            self._eof = True
            return
        if not self._inflater.unconsumed_tail:
            self._consumed += len(data)
        self._pending = self._inflate(data, max(want, _CHUNK))

    def _inflate(self, data: bytes, limit: int) -> bytes:
        """Decompress ``data``, moving on to the next member whenever one ends."""
        out: list[bytes] = []
        while True:
            if not self._in_member:
                # Zero padding after the last member is accepted, as gzip -d does.
                data = data.lstrip(b"\0")
                if not data:
                    return b"".join(out)
                self._in_member = True
            try:
                out.append(self._inflater.decompress(data, limit))
            except zlib.error as exc:
                raise FormatError(
                    f"{self._name}: corrupt gzip data near compressed byte {self._consumed}: {exc}"
                ) from None
            if not self._inflater.eof:
                return b"".join(out)
            data = self._inflater.unused_data
            self._inflater = zlib.decompressobj(wbits=31)
            self._in_member = False


def open_stream(stream: BinaryIO, name: str = "<layer>") -> BinaryIO:
    """Return a binary stream of the decompressed bytes of ``stream``."""
    head = stream.read(4)
    raw = io.BufferedReader(_Prefixed(head, stream), _CHUNK)
    kind = detect(head)
    if kind == "gzip":
        return io.BufferedReader(_GzipReader(raw, name), _CHUNK)  # type: ignore[arg-type]
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(_ZstdAdapter(reader, name), _CHUNK)  # type: ignore[arg-type]
    return raw  # type: ignore[return-value]


class _ZstdAdapter(io.RawIOBase):
    """Turns zstandard's errors into FormatError with the stream name."""

    def __init__(self, reader: BinaryIO, name: str) -> None:
        self._reader = reader
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._reader.read(len(buffer))
        except zstandard.ZstdError as exc:
            raise FormatError(f"{self._name}: corrupt zstd data: {exc}") from None
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)
