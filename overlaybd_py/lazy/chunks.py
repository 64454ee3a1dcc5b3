"""How a layer blob is cut into chunks: the unit that is fetched, verified and cached.

A chunk covers a fixed number of logical (uncompressed) bytes and one contiguous
stored byte range of the blob. For a ZFile payload a chunk is a run of whole ZFile
blocks, so its stored range comes from the jump table and its bytes are checked
with the per-block CRCs before they are used or cached (spec §3.5 to §3.7). A payload
that is not compressed is cut into plain aligned ranges.
"""

from __future__ import annotations

from typing import Protocol

from ..zfile import ZFileReader

DEFAULT_CHUNK_SIZE = 64 * 1024  # ZFile's own read window upstream (spec §7.3)


class ChunkLayout(Protocol):
    """Chunk geometry of one payload and how to turn stored bytes into logical bytes."""

    name: str
    size: int
    chunk_size: int
    count: int

    def stored_range(self, chunk: int) -> tuple[int, int]:
        """``[start, end)`` of the chunk in the blob."""
        ...

    def decode(self, chunk: int, stored: bytes) -> bytes:
        """Logical bytes of the chunk; ChecksumError/FormatError when ``stored`` is bad."""
        ...


class ZFileChunks:
    """Chunks of ``blocks_per_chunk`` ZFile blocks; decoding checks every block's CRC."""

    def __init__(self, zfile: ZFileReader, payload_offset: int, chunk_size: int) -> None:
        self.zfile = zfile
        self.payload_offset = payload_offset
        self.blocks_per_chunk = max(1, chunk_size // zfile.block_size)
        self.chunk_size = self.blocks_per_chunk * zfile.block_size
        self.size = zfile.size
        self.count = -(-zfile.num_blocks // self.blocks_per_chunk)
        self.name = f"z{self.blocks_per_chunk}"

    def _blocks(self, chunk: int) -> tuple[int, int]:
        first = chunk * self.blocks_per_chunk
        return first, min(first + self.blocks_per_chunk, self.zfile.num_blocks) - 1

    def stored_range(self, chunk: int) -> tuple[int, int]:
        start, end = self.zfile.block_range(*self._blocks(chunk))
        return self.payload_offset + start, self.payload_offset + end

    def decode(self, chunk: int, stored: bytes) -> bytes:
        first, last = self._blocks(chunk)
        return b"".join(self.zfile.decode_blocks(first, last, stored))


class PlainChunks:
    """Aligned ranges of an uncompressed payload (a bare LSMT file in the blob)."""

    def __init__(self, payload_offset: int, payload_size: int, chunk_size: int) -> None:
        self.payload_offset = payload_offset
        self.size = payload_size
        self.chunk_size = chunk_size
        self.count = -(-payload_size // chunk_size)
        self.name = f"p{chunk_size}"

    def stored_range(self, chunk: int) -> tuple[int, int]:
        start = chunk * self.chunk_size
        end = min(start + self.chunk_size, self.size)
        return self.payload_offset + start, self.payload_offset + end

    def decode(self, chunk: int, stored: bytes) -> bytes:
        return stored
