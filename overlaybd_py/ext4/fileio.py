"""Regular file content as a positional source and a seekable stream."""

from __future__ import annotations

import bisect
import io
from typing import TYPE_CHECKING

from .extents import Extent

if TYPE_CHECKING:
    from .filesystem import Filesystem

_MAX_READ = 8 << 20  # one pread covers at most this many bytes of an extent


class Ext4File(io.RawIOBase):
    """Read-only view of one file: ``pread`` anywhere, or ``read``/``seek`` like a file.

    Holes and uninitialised extents read as zeros; only the blocks that a read
    touches are fetched from the device.
    """

    def __init__(self, fs: Filesystem, ino: int, size: int, extents: list[Extent]) -> None:
        super().__init__()
        self._fs = fs
        self.ino = ino
        self._size = size
        self._extents = [e for e in extents if e.length]
        self._starts = [e.logical for e in self._extents]
        self._pos = 0
        self.name = f"inode {ino}"

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def pread(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer only at the end of the file)."""
        end = min(offset + max(length, 0), self._size)
        if offset < 0 or end <= offset:
            return b""
        bs = self._fs.block_size
        out = bytearray(end - offset)
        i = max(bisect.bisect_right(self._starts, offset // bs) - 1, 0)
        while i < len(self._extents):
            ext = self._extents[i]
            lo = max(offset, ext.logical * bs)
            hi = min(end, (ext.logical + ext.length) * bs)
            if ext.logical * bs >= end:
                break
            if hi > lo and not ext.uninit:
                pos = lo
                while pos < hi:
                    n = min(hi - pos, _MAX_READ)
                    physical = ext.physical * bs + (pos - ext.logical * bs)
                    data = self._fs.device.pread(physical, n)
                    out[pos - offset : pos - offset + len(data)] = data
                    pos += n
            i += 1
        return bytes(out)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        data = self.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos
