"""The LSMT commit writer: sorted source segments in, one committed layer file out (§2.8).

Output goes strictly forward through ``out.write`` (a file, or a ZFile writer), so it can
stream; memory holds only the index being built, never the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ..blockdev import OverlayDevice
from ..errors import FormatError
from .records import (
    CHUNK_SECTORS,
    COMMIT_HEADER_FLAGS,
    DATA_START_SECTOR,
    HT_SPACE,
    INDEX_ALIGN_ENTRIES,
    INVALID_OFFSET,
    MAX_RO_INDEX_ENTRIES,
    MAX_SEGMENT_LENGTH,
    NULL_UUID,
    SECTOR,
    TRAILER_FLAGS,
    HeaderTrailer,
    Mapping,
    encode_index,
    normalize_uuid,
)

log = logging.getLogger(__name__)

READ_SECTORS = 2048
"""Data is fetched 1 MiB at a time; chunk entries stay 64 sectors regardless (§2.8)."""


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


ReadData = Callable[[int, int], bytes]
"""``read(offset, length)`` in bytes of the virtual device, always inside one segment."""


@dataclass(frozen=True)
class SourceSegment:
    """A written range of the device to commit, in sectors (1 to 16383 long)."""

    offset: int
    length: int
    zeroed: bool = False
    tag: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class CommitInfo:
    """What a commit wrote."""

    size: int
    """Bytes written to ``out``."""
    data_sectors: int
    entries: int
    """Real index entries (after the merge of step 3)."""
    trailer: HeaderTrailer
    """The trailer as written: ``index_offset``, ``index_size`` (padded), uuids, size."""


class _IndexBuilder:
    """Step 3 of §2.8 done on the fly: fold each chunk entry into the running one."""

    def __init__(self) -> None:
        self.entries: list[Mapping] = []
        self._run: list[int] | None = None  # offset, length, moffset, zeroed, tag

    def add(self, offset: int, length: int, moffset: int, zeroed: int, tag: int) -> None:
        run = self._run
        if (
            run is not None
            and run[0] + run[1] == offset
            and (run[2] if run[3] else run[2] + run[1]) == moffset
            and run[3] == zeroed
            and run[4] == tag
            and run[1] + length < MAX_SEGMENT_LENGTH
        ):
            run[1] += length
            return
        self._close_run()
        self._run = [offset, length, moffset, zeroed, tag]

    def _close_run(self) -> None:
        if self._run is not None:
            o, n, m, z, t = self._run
            self.entries.append(Mapping(o, n, m, bool(z), t))

    def finish(self) -> list[Mapping]:
        self._close_run()
        self._run = None
        return self.entries


def write_commit(
    out: Writer,
    segments: Iterable[SourceSegment],
    read: ReadData,
    *,
    virtual_size: int,
    uuid: str | None,
    parent_uuid: str | None = None,
    user_tag: bytes = b"",
) -> CommitInfo:
    """Write a committed layer: header, data in LBA order, padded index, trailer (§2.8).

    ``uuid``/``parent_uuid`` that do not parse as UUIDs are written as the null UUID,
    as upstream does; valid ones are written upper-case.
    """
    record = HeaderTrailer(
        flags=COMMIT_HEADER_FLAGS,
        virtual_size=virtual_size,
        uuid=normalize_uuid(uuid),
        parent_uuid=normalize_uuid(parent_uuid),
        user_tag=user_tag,
    )
    out.write(record.pack())
    builder = _IndexBuilder()
    cursor = DATA_START_SECTOR
    previous_end = 0
    for i, segment in enumerate(segments):
        _check_segment(i, segment, previous_end)
        previous_end = segment.end
        if segment.zeroed:
            builder.add(segment.offset, segment.length, cursor, 1, segment.tag)
            continue
        for data in _segment_data(segment, read):
            out.write(data)
        for delta in range(0, segment.length, CHUNK_SECTORS):
            chunk = min(CHUNK_SECTORS, segment.length - delta)
            builder.add(segment.offset + delta, chunk, cursor, 0, segment.tag)
            cursor += chunk
    entries = builder.finish()
    padded = -(-len(entries) // INDEX_ALIGN_ENTRIES) * INDEX_ALIGN_ENTRIES
    if padded > MAX_RO_INDEX_ENTRIES:
        # Upstream refuses to open a read-only layer with more entries (§2.1).
        raise FormatError(
            f"commit {record.uuid}: {len(entries)} index entries ({padded} padded), more than "
            f"the {MAX_RO_INDEX_ENTRIES} a read-only layer may have"
        )

    index = encode_index(entries, pad_to=INDEX_ALIGN_ENTRIES)
    out.write(index)
    trailer = HeaderTrailer(
        flags=TRAILER_FLAGS,
        index_offset=cursor * SECTOR,
        index_size=len(index) // 16,
        virtual_size=virtual_size,
        uuid=record.uuid,
        parent_uuid=record.parent_uuid,
        user_tag=user_tag,
    )
    out.write(trailer.pack())
    size = cursor * SECTOR + len(index) + HT_SPACE
    log.debug("commit %s: %d entries, %d data sectors", trailer.uuid, len(entries), cursor - 8)
    return CommitInfo(size, cursor - DATA_START_SECTOR, len(entries), trailer)


def _check_segment(i: int, segment: SourceSegment, previous_end: int) -> None:
    if not 1 <= segment.length <= MAX_SEGMENT_LENGTH:
        raise ValueError(
            f"source segment {i} at sector {segment.offset}: length must be 1 to "
            f"{MAX_SEGMENT_LENGTH} sectors, got {segment.length}"
        )
    if segment.offset < previous_end or segment.end > INVALID_OFFSET:
        raise ValueError(
            f"source segment {i} at sector {segment.offset}+{segment.length} is not sorted "
            f"after the previous end {previous_end} or exceeds the offset range"
        )


def _segment_data(segment: SourceSegment, read: ReadData) -> Iterator[bytes]:
    """A segment's bytes in reads of at most 1 MiB, each checked for its full length."""
    for delta in range(0, segment.length, READ_SECTORS):
        sectors = min(READ_SECTORS, segment.length - delta)
        offset = (segment.offset + delta) * SECTOR
        data = read(offset, sectors * SECTOR)
        if len(data) != sectors * SECTOR:
            raise FormatError(
                f"commit: reading {sectors * SECTOR} bytes of source data at device offset "
                f"{offset} returned {len(data)}"
            )
        yield data


def segments_from_extents(extents: Iterable[tuple[int, int]]) -> Iterator[SourceSegment]:
    """Sector segments from sorted byte ranges ``(offset, length)``, split every 16383 sectors.

    This is how upstream builds the source of a sparse-mode commit (``create_mappings``).
    """
    for offset, length in extents:
        if offset % SECTOR or length % SECTOR:
            raise ValueError(f"extent {offset}+{length} is not aligned to {SECTOR} bytes")
        start, end = offset // SECTOR, (offset + length) // SECTOR
        for piece in range(start, end, MAX_SEGMENT_LENGTH):
            yield SourceSegment(piece, min(MAX_SEGMENT_LENGTH, end - piece))


def commit_device(
    device: OverlayDevice,
    out: Writer,
    *,
    uuid: str | None,
    parent_uuid: str | None = None,
    virtual_size: int | None = None,
    user_tag: bytes = b"",
) -> CommitInfo:
    """Commit the sectors written to ``device``'s upper as a new layer (§2.8, sparse source)."""
    return write_commit(
        out,
        segments_from_extents(device.written_extents()),
        device.read_upper,
        virtual_size=device.size if virtual_size is None else virtual_size,
        uuid=uuid,
        parent_uuid=parent_uuid if parent_uuid is not None else NULL_UUID,
        user_tag=user_tag,
    )
