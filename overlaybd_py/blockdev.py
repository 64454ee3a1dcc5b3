"""The block device seam between the ext4 code and the layer formats.

The ext4 builder sees one device with ``size``, ``pread`` and ``pwrite``. Below
it, an :class:`OverlayDevice` stacks a read-only lower device (the merged
OverlayBD layers, or nothing: all zeros) with an upper that keeps every written
sector in a sparse spool file and remembers which ranges were written. Those
ranges, in device order, are what the LSMT commit writer turns into the new
layer (spec §2.7, §2.8).
"""

from __future__ import annotations

import bisect
import os
import tempfile
from collections.abc import Iterator
from typing import Protocol

from .errors import FormatError
from .io import ByteSource

SECTOR = 512


class BlockDevice(ByteSource, Protocol):
    """A readable virtual disk."""


class WritableDevice(BlockDevice, Protocol):
    """A virtual disk that also takes writes."""

    def pwrite(self, offset: int, data: bytes | bytearray | memoryview) -> None: ...


class ZeroDevice:
    """A device of ``size`` bytes that reads as zeros: the lower of a first layer."""

    name = "<zeros>"

    def __init__(self, size: int) -> None:
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        return bytes(max(0, min(length, self._size - offset)))


class IntervalSet:
    """Disjoint, coalesced half-open integer ranges kept sorted; O(log n) insert."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        lo = bisect.bisect_left(self._ends, start)
        hi = bisect.bisect_right(self._starts, end)
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def covers(self, start: int, end: int) -> bool:
        """True when ``[start, end)`` lies inside one stored range."""
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def overlapping(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """The stored ranges that intersect ``[start, end)``, clipped to it."""
        i = bisect.bisect_right(self._ends, start)
        while i < len(self._starts) and self._starts[i] < end:
            yield max(start, self._starts[i]), min(end, self._ends[i])
            i += 1

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)

    def __len__(self) -> int:
        return len(self._starts)

    def total(self) -> int:
        return sum(e - s for s, e in self)


class OverlayDevice:
    """A read-only lower device plus a sector-granular upper that records writes.

    Writes are sector-aligned in the upper; a write that is not is widened with
    bytes read through the device first. A write that leaves the device content
    unchanged over a range the upper has not yet taken is not recorded, so
    rewriting an unchanged bitmap or descriptor block adds nothing to the layer.
    """

    def __init__(
        self, lower: ByteSource | None, size: int | None = None, spool_dir: str | None = None
    ) -> None:
        if size is None:
            if lower is None:
                raise ValueError("an OverlayDevice without a lower needs a size")
            size = lower.size
        if size % SECTOR:
            raise FormatError(f"device size must be a multiple of {SECTOR}, found {size}")
        self._lower: ByteSource = lower if lower is not None else ZeroDevice(size)
        self._size = size
        self._spool = tempfile.TemporaryFile(dir=spool_dir, prefix="obd-upper-")  # noqa: SIM115
        self._fd = self._spool.fileno()
        self.written = IntervalSet()
        self.name = "<overlay>"

    @property
    def size(self) -> int:
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self._size)
        if end <= offset:
            return b""
        if self.written.covers(offset, end):
            return os.pread(self._fd, end - offset, offset)
        parts = list(self.written.overlapping(offset, end))
        if not parts:
            return self._read_lower(offset, end - offset)
        out = bytearray(self._read_lower(offset, end - offset))
        for start, stop in parts:
            out[start - offset : stop - offset] = os.pread(self._fd, stop - start, start)
        return bytes(out)

    def _read_lower(self, offset: int, length: int) -> bytes:
        data = self._lower.pread(offset, length)
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def pwrite(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        end = offset + len(data)
        if offset < 0 or end > self._size:
            raise FormatError(
                f"write of {len(data)} bytes at offset {offset} runs past the device end "
                f"{self._size}"
            )
        if not data:
            return
        start = offset - offset % SECTOR
        stop = -(-end // SECTOR) * SECTOR
        if start != offset or stop != end:
            block = bytearray(self.pread(start, stop - start))
            block[offset - start : end - start] = data
            data, offset, end = bytes(block), start, stop
        untouched = not any(True for _ in self.written.overlapping(offset, end))
        if untouched and self._read_lower(offset, end - offset) == data:
            return
        os.pwrite(self._fd, data, offset)
        self.written.add(offset, end)

    def read_upper(self, offset: int, length: int) -> bytes:
        """Bytes of the upper spool (only meaningful inside written ranges)."""
        return os.pread(self._fd, length, offset)

    def written_extents(self) -> list[tuple[int, int]]:
        """Written ranges as ``(offset, length)`` in bytes, sorted and coalesced."""
        return [(s, e - s) for s, e in self.written]

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> OverlayDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
