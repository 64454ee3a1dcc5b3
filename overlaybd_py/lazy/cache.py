"""A persistent cache of blob byte ranges, bounded by size and shared between processes.

Layout under the cache root::

    index.sqlite                      # key, size, last use (LRU); WAL mode
    entries/<algo>/<hex[:2]>/<hex>/<name>   # one file per entry

Every entry file is a 24-byte header (magic, payload length, CRC32C of the payload,
CRC32C of the key) followed by the payload. Files appear by rename after an fsync,
so a crash leaves either the old state or a whole entry, never a torn one; a file
whose header does not match its bytes (a bad disk, a hand edit) is deleted and
reported as a miss, so the caller fetches the bytes again. Processes coordinate
through SQLite's locking: each one may add, use and evict entries at any time, and a
reader that loses a race with an eviction sees a miss.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crc32c

from ..errors import OverlayBDError

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 4 << 30  # upstream's cacheSizeGB default (spec §7.2)
CACHE_ENV = "OBD_CACHE_DIR"
LAZY_SUBDIR = "lazy"
INDEX_NAME = "index.sqlite"
ENTRIES_DIR = "entries"
TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600.0
LOW_WATERMARK = 0.9  # evict down to this fraction of the limit
TOUCH_BATCH = 128
TOUCH_INTERVAL = 2.0
RECHECK_PUTS = 64
EVICT_BATCH = 256
BUSY_TIMEOUT = 30.0
MAX_PENDING_BYTES = 64 << 20  # write-behind backlog before ``put`` waits for the disk

ENTRY_MAGIC = b"OBDLC\x00\x01\x00"
_HEADER = struct.Struct("<8sQII")
HEADER_SIZE = _HEADER.size

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_use ON entries(used);
"""


def default_cache_dir() -> Path:
    """``$OBD_CACHE_DIR/lazy``, else ``$XDG_CACHE_HOME/overlaybd-py/lazy`` (``~/.cache``)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root) / LAZY_SUBDIR
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "overlaybd-py" / LAZY_SUBDIR


@dataclass
class CacheCounters:
    """What one cache object saw: hits, misses, bad entries dropped, bytes written, and
    entries that could not be read or written (a full or read-only disk, say)."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    stored: int = 0
    stored_bytes: int = 0
    evicted: int = 0
    io_errors: int = 0


def pack_entry(key: str, payload: bytes) -> bytes:
    """Header plus payload, as written to an entry file."""
    header = _HEADER.pack(
        ENTRY_MAGIC, len(payload), crc32c.crc32c(payload), crc32c.crc32c(key.encode())
    )
    return header + payload


def unpack_entry(key: str, data: bytes) -> bytes | None:
    """The payload of an entry file, or None when the file is not a whole, matching entry."""
    if len(data) < HEADER_SIZE:
        return None
    magic, length, payload_crc, key_crc = _HEADER.unpack_from(data)
    payload = data[HEADER_SIZE:]
    if (
        magic != ENTRY_MAGIC
        or length != len(payload)
        or key_crc != crc32c.crc32c(key.encode())
        or payload_crc != crc32c.crc32c(payload)
    ):
        return None
    return payload


class ChunkCache:
    """Byte ranges of blobs keyed by ``(digest, name)``; LRU-evicted beyond ``limit`` bytes.

    Safe to share between threads; any number of processes may use the same root.
    With ``write_behind`` (the default) ``put`` returns at once and one background
    thread does the fsync-and-rename work; entries waiting for it are already served
    by ``get``. ``flush``/``close`` wait for the backlog.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        limit: int = DEFAULT_LIMIT,
        *,
        write_behind: bool = True,
    ):
        if limit <= 0:
            raise OverlayBDError(f"cache limit: expected a positive byte count, found {limit}")
        self.root = Path(root) if root is not None else default_cache_dir()
        self.limit = limit
        self.counters = CacheCounters()
        self._entries = self.root / ENTRIES_DIR
        self._entries.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._touched: dict[str, float] = {}
        self._last_touch_flush = time.monotonic()
        self._puts_since_check = 0
        self._approx_total = 0
        self._db = self._open_index()
        self._approx_total = self._sum_sizes()
        self.write_behind = write_behind
        self._pending: dict[str, bytes] = {}
        self._pending_bytes = 0
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    # -- the index ------------------------------------------------------------------------

    def _open_index(self) -> sqlite3.Connection:
        path = self.root / INDEX_NAME
        fresh = not path.exists()
        try:
            db = self._connect(path)
        except sqlite3.DatabaseError as error:
            # A damaged index only costs the LRU order: set it aside and rebuild from files.
            log.warning("%s: cache index unreadable (%s); rebuilding it", path, error)
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(f"{INDEX_NAME}.broken-{uuid.uuid4().hex[:8]}"))
            db = self._connect(path)
            fresh = True
        if fresh:
            self._adopt_files(db)
        return db

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        db.execute("SELECT COUNT(*) FROM entries").fetchone()
        return db

    def _sum_sizes(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()
        return int(row[0])

    # -- paths ----------------------------------------------------------------------------

    def path_for(self, digest: str, name: str) -> Path:
        """Where the entry ``name`` of blob ``digest`` lives."""
        algorithm, _, hexpart = digest.partition(":")
        if not hexpart or "/" in digest or "/" in name or name.startswith("."):
            raise OverlayBDError(f"cache key: expected ALGO:HEX and a plain name, found {digest}")
        return self._entries / algorithm / hexpart[:2] / hexpart / name

    @staticmethod
    def key_for(digest: str, name: str) -> str:
        return f"{digest}/{name}"

    # -- reading --------------------------------------------------------------------------

    def contains(self, digest: str, name: str) -> bool:
        """True when an entry exists or waits to be written (not verified; ``get`` verifies)."""
        with self._lock:
            if self.key_for(digest, name) in self._pending:
                return True
        return self.path_for(digest, name).exists()

    def get(self, digest: str, name: str) -> bytes | None:
        """The stored bytes, verified against their checksum; None on a miss or a bad entry."""
        path = self.path_for(digest, name)
        key = self.key_for(digest, name)
        with self._lock:
            waiting = self._pending.get(key)
            if waiting is not None:
                self.counters.hits += 1
                return waiting
        try:
            data = path.read_bytes()
        except OSError as error:
            if not isinstance(error, FileNotFoundError):
                self._io_failed("read", key, error)
            with self._lock:
                self.counters.misses += 1
            return None
        payload = unpack_entry(key, data)
        if payload is None:
            log.warning("%s: cache entry does not match its checksum; dropping it", path)
            self.evict(digest, name)
            with self._lock:
                self.counters.corrupt += 1
                self.counters.misses += 1
            return None
        with self._lock:
            self.counters.hits += 1
            self._touched[key] = time.time()
            self._maybe_flush_touches()
        return payload

    # -- writing --------------------------------------------------------------------------

    def put(self, digest: str, name: str, payload: bytes) -> None:
        """Store bytes durably (temp file, fsync, rename), now or on the writer thread."""
        if not self.write_behind:
            self._store(digest, name, payload)
            return
        key = self.key_for(digest, name)
        with self._lock:
            if key in self._pending:
                return
            self._pending[key] = payload
            self._pending_bytes += len(payload)
            backlog = self._pending_bytes
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="obd-cache-writer", daemon=True
                )
                self._writer.start()
        self._queue.put((digest, name))
        if backlog > MAX_PENDING_BYTES:
            self.flush()

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                digest, name = item
                key = self.key_for(digest, name)
                with self._lock:
                    payload = self._pending.get(key)
                if payload is None:
                    continue
                try:
                    self._store(digest, name, payload)
                except (OSError, sqlite3.Error) as error:
                    self._io_failed("store", key, error)
                finally:
                    with self._lock:
                        if self._pending.pop(key, None) is not None:
                            self._pending_bytes -= len(payload)
            finally:
                self._queue.task_done()

    def _io_failed(self, action: str, key: str, error: Exception) -> None:
        """Reads go on without the cache: one warning per cache object, the rest at debug."""
        with self._lock:
            self.counters.io_errors += 1
            first = self.counters.io_errors == 1
        if first:
            log.warning(
                "cache %s: could not %s %s (%s); reading goes on, fetching what the cache "
                "cannot hold",
                self.root,
                action,
                key,
                error,
            )
        else:
            log.debug("cache %s: could not %s %s: %s", self.root, action, key, error)

    def flush(self) -> None:
        """Wait until every entry handed to ``put`` is on disk (or was dropped)."""
        if self._writer is not None:
            self._queue.join()

    def _store(self, digest: str, name: str, payload: bytes) -> None:
        """Write one entry and account for it; evict when over the limit.

        The index row goes in first: a crash between the two leaves a row without a
        file, which eviction removes in time; never a file that no row accounts for.
        """
        path = self.path_for(digest, name)
        key = self.key_for(digest, name)
        data = pack_entry(key, payload)
        with self._lock:
            self._db.execute(
                "INSERT INTO entries(key, size, used) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET size = excluded.size, used = excluded.used",
                (key, len(data), time.time()),
            )
        self._write_file(path, data)
        with self._lock:
            self.counters.stored += 1
            self.counters.stored_bytes += len(payload)
            self._approx_total += len(data)
            self._puts_since_check += 1
            due = self._approx_total > self.limit or self._puts_since_check >= RECHECK_PUTS
        if due:
            self.enforce_limit()

    def _write_file(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def evict(self, digest: str, name: str) -> None:
        """Remove one entry (file first, then its row)."""
        path = self.path_for(digest, name)
        with self._lock:
            payload = self._pending.pop(self.key_for(digest, name), None)
            if payload is not None:
                self._pending_bytes -= len(payload)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with self._lock:
            self._touched.pop(self.key_for(digest, name), None)
            self._db.execute("DELETE FROM entries WHERE key = ?", (self.key_for(digest, name),))

    # -- the size bound -------------------------------------------------------------------

    def total_bytes(self) -> int:
        """Bytes of entry files the index accounts for (all processes)."""
        return self._sum_sizes()

    def enforce_limit(self) -> int:
        """Evict least recently used entries until the total is below the low watermark."""
        with self._lock:
            self._flush_touches()
            total = self._sum_sizes()
            self._puts_since_check = 0
            evicted = 0
            if total > self.limit:
                target = int(self.limit * LOW_WATERMARK)
                while total > target:
                    rows = self._db.execute(
                        "SELECT key, size FROM entries ORDER BY used LIMIT ?", (EVICT_BATCH,)
                    ).fetchall()
                    if not rows:
                        break
                    for key, size in rows:
                        digest, _, name = key.rpartition("/")
                        with contextlib.suppress(FileNotFoundError, OverlayBDError):
                            self.path_for(digest, name).unlink()
                        self._db.execute("DELETE FROM entries WHERE key = ?", (key,))
                        total -= size
                        evicted += 1
                        if total <= target:
                            break
                self.counters.evicted += evicted
                log.debug("cache %s: evicted %d entries, %d bytes left", self.root, evicted, total)
            self._approx_total = total
            return evicted

    # -- use order ------------------------------------------------------------------------

    def _maybe_flush_touches(self) -> None:
        now = time.monotonic()
        if len(self._touched) >= TOUCH_BATCH or now - self._last_touch_flush >= TOUCH_INTERVAL:
            self._flush_touches()

    def _flush_touches(self) -> None:
        """Write the batched last-use times (one transaction instead of one per read)."""
        self._last_touch_flush = time.monotonic()
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "UPDATE entries SET used = ? WHERE key = ?",
                [(used, key) for key, used in touched.items()],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # -- repair ---------------------------------------------------------------------------

    def _entry_files(self) -> Iterator[tuple[str, Path]]:
        """``(key, path)`` of every entry file; stale temp files are deleted on the way."""
        now = time.time()
        for algorithm_dir in self._entries.iterdir():
            for blob_dir in algorithm_dir.glob("*/*"):
                digest = f"{algorithm_dir.name}:{blob_dir.name}"
                for path in blob_dir.iterdir():
                    if path.name.startswith(TEMP_PREFIX):
                        with contextlib.suppress(OSError):
                            if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                                path.unlink()
                        continue
                    yield self.key_for(digest, path.name), path

    def _adopt_files(self, db: sqlite3.Connection) -> None:
        """Index every entry file the index does not know (after the index was lost)."""
        rows = []
        for key, path in self._entry_files():
            with contextlib.suppress(OSError):
                info = path.stat()
                rows.append((key, info.st_size, info.st_mtime))
        if rows:
            db.executemany("INSERT OR IGNORE INTO entries(key, size, used) VALUES (?, ?, ?)", rows)
            log.info("cache %s: indexed %d existing entries", self.root, len(rows))

    def reconcile(self) -> None:
        """Make index and files agree: adopt unindexed files, drop rows without files."""
        with self._lock:
            self._flush_touches()
            self._adopt_files(self._db)
            keys = [row[0] for row in self._db.execute("SELECT key FROM entries")]
            gone = []
            for key in keys:
                digest, _, name = key.rpartition("/")
                try:
                    exists = self.path_for(digest, name).exists()
                except OverlayBDError:
                    exists = False
                if not exists:
                    gone.append((key,))
            self._db.executemany("DELETE FROM entries WHERE key = ?", gone)
            self._approx_total = self._sum_sizes()

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Write the backlog, stop the writer thread, save use times, close the index."""
        if self._db is None:
            return
        self.flush()
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        with self._lock:
            if self._db is None:
                return
            with contextlib.suppress(sqlite3.Error):
                self._flush_touches()
            self._db.close()
            self._db = None  # type: ignore[assignment]

    def __enter__(self) -> ChunkCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
