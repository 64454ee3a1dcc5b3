"""Reading a remote layer blob chunk by chunk: coalesced range requests, readahead, cache.

:class:`BlockFetcher` is a ByteSource over a layer's logical (uncompressed) bytes.
A read is turned into the chunks it touches (:mod:`.chunks`); chunks found in memory
or in the persistent cache are used after their checksums pass; the missing ones are
grouped into runs of adjacent chunks, and each run is one HTTP Range request (spec
§3.7 step 4, §11 step 5). When reads arrive in order, the last run is extended by
``readahead`` bytes. Threads that need a chunk another thread is already fetching
wait for it instead of fetching it twice.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ..errors import ChecksumError, FormatError
from ..io import ByteSource
from .cache import ChunkCache
from .chunks import ChunkLayout
from .stats import LayerStats

log = logging.getLogger(__name__)

FETCH_ATTEMPTS = 3  # upstream retries a bad CRC three times after evicting (spec §3.7)
MAX_REQUEST = 16 << 20  # stored bytes in one range request
DEFAULT_READAHEAD = 1 << 20
DEFAULT_MEMORY_CHUNKS = 256
WAIT_ROUNDS = 4
HEAD_WINDOW = 8192  # tar header, pax record and ZFile header in one request (spec §4.1)
HEAD_NAME = "head"


class BlockFetcher:
    """Logical bytes of one layer payload, fetched in chunks from ``blob``.

    ``blob`` is the raw blob (usually a registry range reader); ``cache`` may be None
    for memory-only operation. Safe for concurrent readers.
    """

    def __init__(
        self,
        layout: ChunkLayout,
        blob: ByteSource,
        digest: str,
        stats: LayerStats,
        cache: ChunkCache | None = None,
        *,
        readahead: int = DEFAULT_READAHEAD,
        memory_chunks: int = DEFAULT_MEMORY_CHUNKS,
    ) -> None:
        self.layout = layout
        self.blob = blob
        self.digest = digest
        self.stats = stats
        self.cache = cache
        self.name = f"{getattr(blob, 'name', digest)} ({layout.name})"
        self.readahead_chunks = -(-max(0, readahead) // layout.chunk_size)
        self._memory: OrderedDict[int, bytes] = OrderedDict()
        self._memory_limit = max(1, memory_chunks)
        self._lock = threading.Lock()
        self._inflight: dict[int, threading.Event] = {}
        self._next_chunk = -1

    @property
    def size(self) -> int:
        return self.layout.size

    def pread(self, offset: int, length: int) -> bytes:
        end = min(offset + max(length, 0), self.layout.size)
        if offset < 0 or end <= offset:
            return b""
        span = self.layout.chunk_size
        first, last = offset // span, (end - 1) // span
        chunks = self._chunks(first, last)
        base = first * span
        if first == last:
            return chunks[first][offset - base : end - base]
        return b"".join(chunks[c] for c in range(first, last + 1))[offset - base : end - base]

    # -- finding chunks ---------------------------------------------------------------------

    def _chunks(self, first: int, last: int) -> dict[int, bytes]:
        with self._lock:
            sequential = first in (self._next_chunk, self._next_chunk - 1)
            self._next_chunk = last + 1
        found: dict[int, bytes] = {}
        missing = []
        for chunk in range(first, last + 1):
            data = self._from_memory(chunk)
            if data is None:
                data = self._from_cache(chunk)
            if data is None:
                missing.append(chunk)
            else:
                found[chunk] = data
        if missing:
            self._fetch(missing, found, self.readahead_chunks if sequential else 0)
        return found

    def _from_memory(self, chunk: int) -> bytes | None:
        with self._lock:
            data = self._memory.get(chunk)
            if data is not None:
                self._memory.move_to_end(chunk)
            return data

    def _remember(self, chunk: int, data: bytes) -> None:
        with self._lock:
            self._memory[chunk] = data
            self._memory.move_to_end(chunk)
            while len(self._memory) > self._memory_limit:
                self._memory.popitem(last=False)

    def _entry_name(self, chunk: int) -> str:
        return f"{self.layout.name}.{chunk}"

    def _from_cache(self, chunk: int) -> bytes | None:
        """A cached chunk after its CRCs pass; a failing entry is evicted (a miss)."""
        if self.cache is None:
            return None
        stored = self.cache.get(self.digest, self._entry_name(chunk))
        if stored is None:
            return None
        try:
            data = self.layout.decode(chunk, stored)
        except FormatError as error:
            log.warning("%s: cached chunk %d is bad (%s); fetching again", self.name, chunk, error)
            self.cache.evict(self.digest, self._entry_name(chunk))
            self.stats.add("corrupt_entries")
            return None
        self.stats.add("chunks_from_cache")
        self._remember(chunk, data)
        return data

    # -- fetching ---------------------------------------------------------------------------

    def _fetch(self, missing: list[int], found: dict[int, bytes], readahead: int) -> None:
        """Fetch ``missing`` (plus readahead), sharing in-flight chunks with other threads."""
        wanted = missing
        for _round in range(WAIT_ROUNDS):
            mine, theirs = self._claim(wanted, readahead)
            try:
                for run in _runs(mine, self._run_limit):
                    for chunk, data in self._fetch_run(run).items():
                        if chunk in wanted:
                            found[chunk] = data
            finally:
                self._release(mine)
            wanted = []
            for chunk, event in theirs:
                event.wait()
                cached = self._from_memory(chunk) or self._from_cache(chunk)
                if cached is None:
                    wanted.append(chunk)  # the other thread failed or it was evicted
                else:
                    found[chunk] = cached
            if not wanted:
                return
            readahead = 0
        raise FormatError(f"{self.name}: chunks {wanted} could not be fetched by any reader")

    def _claim(
        self, wanted: list[int], readahead: int
    ) -> tuple[list[int], list[tuple[int, threading.Event]]]:
        with self._lock:
            mine = [c for c in wanted if c not in self._inflight]
            theirs = [(c, self._inflight[c]) for c in wanted if c in self._inflight]
            if mine and readahead:
                mine += self._readahead_after(mine[-1], readahead)
            for chunk in mine:
                self._inflight[chunk] = threading.Event()
        return mine, theirs

    def _readahead_after(self, last: int, count: int) -> list[int]:
        """Chunks after ``last`` that nobody has; stops at the first one already present."""
        extra = []
        for chunk in range(last + 1, min(last + 1 + count, self.layout.count)):
            present = chunk in self._memory or chunk in self._inflight
            if not present and self.cache is not None:
                present = self.cache.contains(self.digest, self._entry_name(chunk))
            if present:
                break
            extra.append(chunk)
        return extra

    def _release(self, chunks: Iterable[int]) -> None:
        with self._lock:
            for chunk in chunks:
                event = self._inflight.pop(chunk, None)
                if event is not None:
                    event.set()

    def _run_limit(self, first: int, last: int) -> bool:
        start, _ = self.layout.stored_range(first)
        _, end = self.layout.stored_range(last)
        return end - start <= MAX_REQUEST

    def _fetch_run(self, run: list[int]) -> dict[int, bytes]:
        """One range request for adjacent chunks; each is checked, cached and remembered."""
        start, _ = self.layout.stored_range(run[0])
        _, end = self.layout.stored_range(run[-1])
        problem: FormatError | None = None
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            stored = self.blob.pread(start, end - start)
            if len(stored) != end - start:
                raise FormatError(
                    f"{self.name}: range {start}-{end - 1} of the blob returned {len(stored)} "
                    f"bytes, expected {end - start}"
                )
            try:
                decoded = self._decode_run(run, start, stored)
            except FormatError as error:  # includes ChecksumError
                problem = error
                log.warning(
                    "%s: fetched bytes failed checks (%s); attempt %d", self.name, error, attempt
                )
                continue
            self.stats.add("chunks_fetched", len(run))
            return decoded
        assert problem is not None
        if isinstance(problem, ChecksumError):
            raise ChecksumError(f"{problem} (after {FETCH_ATTEMPTS} fetches)") from None
        raise FormatError(f"{problem} (after {FETCH_ATTEMPTS} fetches)") from None

    def _decode_run(self, run: list[int], start: int, stored: bytes) -> dict[int, bytes]:
        view = memoryview(stored)
        pieces = []
        for chunk in run:
            a, b = self.layout.stored_range(chunk)
            piece = bytes(view[a - start : b - start])
            pieces.append((chunk, piece, self.layout.decode(chunk, piece)))
        out = {}
        for chunk, piece, data in pieces:
            if self.cache is not None:
                self.cache.put(self.digest, self._entry_name(chunk), piece)
            self._remember(chunk, data)
            out[chunk] = data
        return out


def _runs(chunks: list[int], fits: Callable[[int, int], bool]) -> list[list[int]]:
    """Sorted chunks split into runs of consecutive numbers that ``fits(first, last)``."""
    runs: list[list[int]] = []
    for chunk in sorted(set(chunks)):
        if runs and chunk == runs[-1][-1] + 1 and fits(runs[-1][0], chunk):
            runs[-1].append(chunk)
        else:
            runs.append([chunk])
    return runs


class CachedRangeSource:
    """The raw blob for the few reads made while opening a layer (headers, jump table).

    The first ``HEAD_WINDOW`` bytes are fetched as one entry (tar header, pax record
    and ZFile header together); any other range is its own entry. All of it goes
    through the persistent cache, so reopening an image costs no blob requests.
    """

    def __init__(self, blob: ByteSource, digest: str, cache: ChunkCache | None) -> None:
        self.blob = blob
        self.digest = digest
        self.cache = cache
        self.name = getattr(blob, "name", digest)
        self._head: bytes | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.blob.size

    def pread(self, offset: int, length: int) -> bytes:
        end = min(offset + max(length, 0), self.size)
        if offset < 0 or end <= offset:
            return b""
        if end <= HEAD_WINDOW:
            return self._head_bytes()[offset:end]
        return self._entry(f"r{offset}-{end - offset}", offset, end - offset)

    def _head_bytes(self) -> bytes:
        with self._lock:
            if self._head is None:
                self._head = self._entry(HEAD_NAME, 0, min(HEAD_WINDOW, self.size))
            return self._head

    def _entry(self, name: str, offset: int, length: int) -> bytes:
        if self.cache is not None:
            cached = self.cache.get(self.digest, name)
            if cached is not None and len(cached) == length:
                return cached
        data = self.blob.pread(offset, length)
        if len(data) == length and self.cache is not None:
            self.cache.put(self.digest, name, data)
        return data
