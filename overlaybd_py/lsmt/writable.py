"""Writable (append-mode) LSMT layers: the in-memory write log and its data spool (§2.7).

``WritableIndex`` keeps the newest mapping for every sector: a later write trims or splits
the entries it overlaps, exactly as upstream's in-memory index does. ``AppendLayer`` adds
the data file: each write is appended at the current end of a spool whose first 4096
bytes are a writable-layer header, so ``moffset`` values match upstream's data file and a
commit reproduces upstream's bytes.
"""

from __future__ import annotations

import bisect
import os
import tempfile
from collections.abc import Iterator

from ..errors import FormatError
from .records import (
    HT_SPACE,
    MAX_IO_SIZE,
    MAX_SEGMENT_LENGTH,
    RW_DATA_HEADER_FLAGS,
    SECTOR,
    HeaderTrailer,
    Mapping,
)
from .writer import CommitInfo, SourceSegment, Writer, write_commit


class WritableIndex:
    """Sorted non-overlapping mappings where the latest insert wins (``Index0::insert``)."""

    def __init__(self) -> None:
        self._offsets: list[int] = []
        self._entries: list[Mapping] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self._entries)

    def insert(self, new: Mapping) -> None:
        """Add ``new``, trimming or splitting the older entries it overlaps."""
        if new.length <= 0:
            return
        first = bisect.bisect_right(self._offsets, new.offset) - 1
        if first < 0 or self._entries[first].end <= new.offset:
            first += 1
        last = first
        while last < len(self._entries) and self._entries[last].offset < new.end:
            last += 1
        replacement = [new]
        if last > first:
            head = self._entries[first]
            if head.offset < new.offset:
                replacement.insert(0, head._replace(length=new.offset - head.offset))
            tail = self._entries[last - 1]
            if tail.end > new.end:
                cut = new.end - tail.offset
                moffset = tail.moffset if tail.zeroed else tail.moffset + cut
                replacement.append(tail._replace(offset=new.end, length=tail.length - cut,
                                                 moffset=moffset))  # fmt: skip
        self._entries[first:last] = replacement
        self._offsets[first:last] = [m.offset for m in replacement]

    def overlapping(self, start: int, end: int) -> Iterator[Mapping]:
        """Entries intersecting sectors ``[start, end)``, in order (not clipped)."""
        i = max(bisect.bisect_right(self._offsets, start) - 1, 0)
        while i < len(self._entries) and self._entries[i].offset < end:
            if self._entries[i].end > start:
                yield self._entries[i]
            i += 1

    def lookup(self, sector: int) -> Mapping | None:
        """The entry holding ``sector``, if any."""
        i = bisect.bisect_right(self._offsets, sector) - 1
        if i >= 0 and self._entries[i].end > sector:
            return self._entries[i]
        return None


class AppendLayer:
    """An append-mode writable layer over a temporary data spool; commit it to a layer file."""

    def __init__(
        self,
        virtual_size: int,
        *,
        parent_uuid: str | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self.virtual_size = virtual_size
        self.parent_uuid = parent_uuid
        self.index = WritableIndex()
        self._spool = tempfile.TemporaryFile(dir=spool_dir, prefix="obd-lsmt-")  # noqa: SIM115
        self._fd = self._spool.fileno()
        header = HeaderTrailer(flags=RW_DATA_HEADER_FLAGS, virtual_size=virtual_size)
        os.pwrite(self._fd, header.pack(), 0)
        self._eof = HT_SPACE

    @property
    def size(self) -> int:
        return self.virtual_size

    def _check_range(self, offset: int, length: int, what: str) -> None:
        if offset % SECTOR or length % SECTOR or offset < 0:
            raise FormatError(
                f"{what} of {length} bytes at offset {offset}: both must be multiples of {SECTOR}"
            )
        if offset + length > self.virtual_size:
            raise FormatError(
                f"{what} of {length} bytes at offset {offset} runs past the device end "
                f"{self.virtual_size}"
            )

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the spool and map it at ``offset``; over 4 MiB is split."""
        view = memoryview(data)
        self._check_range(offset, len(view), "write")
        for delta in range(0, len(view), MAX_IO_SIZE):
            piece = view[delta : delta + MAX_IO_SIZE]
            os.pwrite(self._fd, piece, self._eof)
            self.index.insert(
                Mapping((offset + delta) // SECTOR, len(piece) // SECTOR, self._eof // SECTOR)
            )
            self._eof += len(piece)

    def discard(self, offset: int, length: int) -> None:
        """Make a range read as zeros: zeroed entries of at most 16383 sectors at the data EOF."""
        self._check_range(offset, length, "discard")
        start, end = offset // SECTOR, (offset + length) // SECTOR
        for piece in range(start, end, MAX_SEGMENT_LENGTH):
            size = min(MAX_SEGMENT_LENGTH, end - piece)
            self.index.insert(Mapping(piece, size, self._eof // SECTOR, zeroed=True))

    def pread(self, offset: int, length: int) -> bytes:
        """Bytes of this layer alone (unwritten sectors read as zeros)."""
        end = min(offset + length, self.virtual_size)
        out = bytearray(max(0, end - offset))
        for m in self.index.overlapping(offset // SECTOR, -(-end // SECTOR)):
            start, stop = max(m.offset * SECTOR, offset), min(m.end * SECTOR, end)
            if start < stop and not m.zeroed:
                at = m.moffset * SECTOR + start - m.offset * SECTOR
                out[start - offset : stop - offset] = os.pread(self._fd, stop - start, at)
        return bytes(out)

    def _read_mapped(self, offset: int, length: int) -> bytes:
        """Read callback for the commit: the range lies inside one index entry."""
        entry = self.index.lookup(offset // SECTOR)
        if entry is None:
            raise FormatError(f"commit read at device offset {offset} hits no index entry")
        at = entry.moffset * SECTOR + offset - entry.offset * SECTOR
        return os.pread(self._fd, length, at)

    def segments(self) -> list[SourceSegment]:
        """The commit's source: the index in LBA order."""
        return [SourceSegment(m.offset, m.length, m.zeroed, m.tag) for m in self.index]

    def commit(
        self,
        out: Writer,
        *,
        uuid: str | None,
        parent_uuid: str | None = None,
        user_tag: bytes = b"",
    ) -> CommitInfo:
        """Write the committed layer (like ``overlaybd-commit``) to ``out``."""
        return write_commit(
            out,
            self.segments(),
            self._read_mapped,
            virtual_size=self.virtual_size,
            uuid=uuid,
            parent_uuid=parent_uuid if parent_uuid is not None else self.parent_uuid,
            user_tag=user_tag,
        )

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> AppendLayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
