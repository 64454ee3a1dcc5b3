"""Random-access ZFile reader over any positional byte source (spec §3.5, §3.7)."""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from itertools import accumulate, pairwise

from ..errors import ChecksumError, FormatError
from ..io import ByteSource, read_exact, source_name
from . import codecs, records
from .checksum import block_crc, block_crcs_packed, crc32c_raw
from .records import RECORD_SIZE, ZFileRecord

CRC_SIZE = 4
MAX_INDEX_SIZE = 1_000_000_000
_CACHED_BLOCKS = 8


@dataclass(frozen=True)
class BlockProblem:
    """One block whose stored CRC does not match its compressed bytes."""

    block: int
    offset: int
    expected: int
    computed: int


class ZFileReader:
    """Decompresses only the blocks a read touches; one source read per contiguous run.

    ``size`` is the uncompressed size, so a reader is itself a ByteSource and the
    LSMT reader can sit on top of it.
    """

    def __init__(self, source: ByteSource, *, check_crc: bool = True) -> None:
        self.source = source
        self.name = source_name(source)
        self.header = records.unpack(
            read_exact(source, 0, RECORD_SIZE, "ZFile header"),
            f"{self.name}: header at offset 0",
            check_digest=True,
        )
        if not self.header.is_header:
            raise FormatError(f"{self.name}: ZFile header at offset 0 has flag bit 0 clear")
        self.trailer = None if self.header.header_overwritten else self._read_trailer()
        self.info: ZFileRecord = self.header if self.trailer is None else self.trailer
        self._check_geometry()
        self.block_size = self.info.block_size
        self.check_crc = check_crc and self.info.verify
        self._crc_size = CRC_SIZE if self.info.verify else 0
        self._offsets = self._load_jump_table()
        self._decompress_block, self._codec_error = codecs.decompressor(
            self.info.algorithm, self.block_size
        )
        self._cache: dict[int, bytes] = {}

    # -- opening -------------------------------------------------------------

    def _read_trailer(self) -> ZFileRecord:
        if not self.header.flags & records.FLAG_DATA:
            raise FormatError(
                f"{self.name}: ZFile header flags {self.header.flags:#x} lack the data bit"
            )
        offset = self.source.size - RECORD_SIZE
        if offset < RECORD_SIZE:
            raise FormatError(
                f"{self.name}: ZFile of {self.source.size} bytes is too short for a header "
                "and a trailer"
            )
        return self._trailer_at(offset)

    def _trailer_at(self, offset: int) -> ZFileRecord:
        where = f"{self.name}: trailer at offset {offset}"
        trailer = records.unpack(
            read_exact(self.source, offset, RECORD_SIZE, "ZFile trailer"), where
        )
        wanted = records.FLAG_DATA | records.FLAG_SEALED
        if trailer.is_header or trailer.flags & wanted != wanted:
            raise FormatError(
                f"{where}: expected trailer flags with bit 0 clear and bits 1, 2 set, "
                f"found {trailer.flags:#x}"
            )
        return trailer

    def _check_geometry(self) -> None:
        info = self.info
        bs = info.block_size
        if bs < 512 or bs > records.MAX_BLOCK_SIZE or bs & (bs - 1):
            raise FormatError(
                f"{self.name}: block size must be a power of two from 512 to "
                f"{records.MAX_BLOCK_SIZE}, found {bs}"
            )
        blocks = -(-info.original_file_size // bs)
        if info.index_size != blocks or info.index_size > MAX_INDEX_SIZE:
            raise FormatError(
                f"{self.name}: jump table has {info.index_size} entries, expected {blocks} for "
                f"{info.original_file_size} bytes in {bs}-byte blocks"
            )
        limit = self.source.size - (RECORD_SIZE if self.trailer is not None else 0)
        table_end = info.index_offset + 4 * info.index_size
        if info.index_offset < self.data_start or table_end > limit:
            raise FormatError(
                f"{self.name}: jump table [{info.index_offset}, {table_end}) runs outside "
                f"[{self.data_start}, {limit}) of a {self.source.size}-byte file"
            )

    def trailer_problem(self) -> str | None:
        """What is wrong with the trailer, or None; for validators, since with flag bit 3
        (header overwritten) readers, upstream's too, never look at the trailer."""
        if self.trailer is not None:
            return None  # read and checked on open
        end = self.info.index_offset + 4 * self.info.index_size
        if self.source.size - end != RECORD_SIZE:
            return (
                f"{self.name}: expected a {RECORD_SIZE}-byte trailer after the jump table at "
                f"offset {end}, found {self.source.size - end} bytes"
            )
        try:
            self._trailer_at(end)
        except FormatError as exc:
            return str(exc)
        return None

    @property
    def data_start(self) -> int:
        return RECORD_SIZE + self.info.dict_size

    def _load_jump_table(self) -> list[int]:
        info = self.info
        raw = read_exact(self.source, info.index_offset, 4 * info.index_size, "ZFile jump table")
        if info.has_digest:
            actual = crc32c_raw(raw)
            if actual != info.index_crc:
                raise ChecksumError(
                    f"{self.name}: jump table at offset {info.index_offset} CRC expected "
                    f"{info.index_crc:#010x}, computed {actual:#010x}"
                )
        lengths = array("I")
        lengths.frombytes(raw)
        if lengths.itemsize != 4:
            raise RuntimeError("array('I') is not 32-bit on this platform")
        if struct.pack("=I", 1) != struct.pack("<I", 1):
            lengths.byteswap()
        if lengths and min(lengths) <= self._crc_size:
            k = next(i for i, n in enumerate(lengths) if n <= self._crc_size)
            raise FormatError(
                f"{self.name}: jump table entry {k} is {lengths[k]} bytes, expected more than "
                f"{self._crc_size}"
            )
        offsets = list(accumulate(lengths, initial=self.data_start))
        if offsets[-1] != info.index_offset:
            raise FormatError(
                f"{self.name}: blocks end at offset {offsets[-1]} by the jump table, but the "
                f"table starts at {info.index_offset}"
            )
        return offsets

    # -- reading ---------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.info.original_file_size

    @property
    def num_blocks(self) -> int:
        return self.info.index_size

    def block_range(self, first: int, last: int) -> tuple[int, int]:
        """Byte range ``[start, end)`` in the source holding blocks ``first..last`` (with CRCs)."""
        return self._offsets[first], self._offsets[last + 1]

    def pread(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.info.original_file_size)
        if offset < 0 or end <= offset:
            return b""
        bs = self.block_size
        first, last = offset // bs, (end - 1) // bs
        base = first * bs
        if first == last:
            block = self._cache.get(first) or self._fetch(first, last)[0]
            return block[offset - base : end - base]
        data = b"".join(self._fetch(first, last))
        if offset == base and end - base == len(data):
            return data  # block-aligned: no second copy
        return data[offset - base : end - base]

    def block(self, k: int) -> bytes:
        """Decompressed bytes of block ``k``."""
        return self._cache.get(k) or self._fetch(k, k)[0]

    def _fetch(self, first: int, last: int) -> list[bytes]:
        start, stop = self._offsets[first], self._offsets[last + 1]
        blocks = self.decode_blocks(
            first, last, read_exact(self.source, start, stop - start, "ZFile blocks")
        )
        if len(self._cache) >= _CACHED_BLOCKS:
            self._cache.clear()
        self._cache[last] = blocks[-1]
        return blocks

    def decode_blocks(self, first: int, last: int, stored: bytes | memoryview) -> list[bytes]:
        """Check and decompress blocks ``first..last`` from their stored bytes, read in one run.

        The per-block work runs through ``map`` over the codec and CRC functions, so a
        long run costs little more than the codec itself.
        """
        offsets = self._offsets
        start = offsets[first]
        view = memoryview(stored)
        bounds = offsets[first : last + 2]
        crc = self._crc_size
        payloads = [view[a - start : b - start - crc] for a, b in pairwise(bounds)]
        if self.check_crc:
            stored_crcs = b"".join([view[b - start - crc : b - start] for b in bounds[1:]])
            if block_crcs_packed(payloads) != stored_crcs:
                self._raise_first_bad_crc(first, last, view)
        try:
            blocks = list(map(self._decompress_block, payloads))
        except self._codec_error:
            self._raise_first_undecodable(first, payloads)
        bs = self.block_size
        tail = self.info.original_file_size - last * bs
        if len(blocks[-1]) != min(bs, tail) or any(len(b) != bs for b in blocks[:-1]):
            for k, block in enumerate(blocks, first):
                expected = min(bs, self.info.original_file_size - k * bs)
                if len(block) != expected:
                    raise FormatError(
                        f"{self.name}: block {k} at offset {offsets[k]} decompressed to "
                        f"{len(block)} bytes, expected {expected}"
                    )
        return blocks

    def _raise_first_bad_crc(self, first: int, last: int, stored: memoryview) -> None:
        start = self._offsets[first]
        for k in range(first, last + 1):
            part = stored[self._offsets[k] - start : self._offsets[k + 1] - start]
            expected = int.from_bytes(part[-CRC_SIZE:], "little")
            computed = block_crc(part[:-CRC_SIZE])
            if computed != expected:
                raise ChecksumError(
                    f"{self.name}: block {k} at offset {self._offsets[k]} CRC expected "
                    f"{expected:#010x}, computed {computed:#010x}"
                )

    def _raise_first_undecodable(self, first: int, payloads: list[memoryview]) -> None:
        for k, payload in enumerate(payloads, first):
            try:
                self._decompress_block(payload)
            except self._codec_error as exc:
                raise FormatError(
                    f"{self.name}: block {k} at offset {self._offsets[k]} does not decompress "
                    f"as {self.info.algorithm_name}: {exc}"
                ) from None
        raise AssertionError("a block failed to decompress, then decompressed")

    def verify(self, chunk: int = 8 << 20) -> list[BlockProblem]:
        """Check every block CRC without decompressing; returns the blocks that fail."""
        if not self.info.verify:
            return []
        problems: list[BlockProblem] = []
        offsets = self._offsets
        k = 0
        while k < self.num_blocks:
            last = k
            while last + 1 < self.num_blocks and offsets[last + 2] - offsets[k] <= chunk:
                last += 1
            start = offsets[k]
            raw = memoryview(
                read_exact(self.source, start, offsets[last + 1] - start, "ZFile blocks")
            )
            for j in range(k, last + 1):
                stored = raw[offsets[j] - start : offsets[j + 1] - start]
                expected = int.from_bytes(stored[-CRC_SIZE:], "little")
                computed = block_crc(stored[:-CRC_SIZE])
                if computed != expected:
                    problems.append(BlockProblem(j, offsets[j], expected, computed))
            k = last + 1
        return problems

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
