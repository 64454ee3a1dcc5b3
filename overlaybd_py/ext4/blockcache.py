"""A write-back cache of metadata blocks (bitmaps, inode table blocks, tree nodes).

Metadata is read and patched in whole blocks; dirty blocks are written back in
device order, adjacent ones coalesced into one ``pwrite``, so the upper layer
gets few large writes. The cache is bounded: when it grows past its limit,
dirty blocks are written and unpinned ones are dropped.
"""

from __future__ import annotations

import logging

from ..blockdev import WritableDevice
from ..io import ByteSource

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 8192  # blocks (32 MiB of 4 KiB blocks)


class BlockCache:
    """Whole-block reads through the device, with dirty tracking for writes."""

    def __init__(self, device: ByteSource, block_size: int, limit: int = DEFAULT_LIMIT) -> None:
        self.device = device
        self.block_size = block_size
        self.limit = limit
        self._blocks: dict[int, bytearray] = {}
        self._dirty: set[int] = set()
        self._pinned: set[int] = set()

    def read(self, block: int) -> bytes:
        """The current content of ``block`` (cached copy if any)."""
        cached = self._blocks.get(block)
        if cached is not None:
            return bytes(cached)
        return self.device.pread(block * self.block_size, self.block_size).ljust(
            self.block_size, b"\0"
        )

    def peek(self, block: int) -> bytearray | None:
        """The cached copy of ``block`` if there is one (do not modify it)."""
        return self._blocks.get(block)

    def get(self, block: int, pin: bool = False) -> bytearray:
        """A mutable cached copy of ``block``; call :meth:`mark_dirty` after changing it."""
        cached = self._blocks.get(block)
        if cached is None:
            if len(self._blocks) >= self.limit:
                self.shrink()
            cached = bytearray(self.read(block))
            self._blocks[block] = cached
        if pin:
            self._pinned.add(block)
        return cached

    def put(self, block: int, data: bytes | bytearray) -> None:
        """Replace a whole block's content (no read of the old content)."""
        if block not in self._blocks and len(self._blocks) >= self.limit:
            self.shrink()
        self._blocks[block] = bytearray(data)
        self._dirty.add(block)

    def install(self, block: int, data: bytearray, pin: bool = False) -> bytearray:
        """Cache ``data`` as the content of ``block`` without writing it (a computed block)."""
        if block not in self._blocks and len(self._blocks) >= self.limit:
            self.shrink()
        self._blocks[block] = data
        if pin:
            self._pinned.add(block)
        return data

    def mark_dirty(self, block: int) -> None:
        self._dirty.add(block)

    def forget(self, block: int) -> None:
        """Drop a block without writing it (it was freed)."""
        self._blocks.pop(block, None)
        self._dirty.discard(block)
        self._pinned.discard(block)

    def forget_range(self, start: int, count: int) -> None:
        """Drop every cached block in ``[start, start + count)``."""
        if count > len(self._blocks):
            for block in [b for b in self._blocks if start <= b < start + count]:
                self.forget(block)
        else:
            for block in range(start, start + count):
                self.forget(block)

    def flush(self) -> None:
        """Write every dirty block, coalescing runs of adjacent blocks."""
        if not self._dirty:
            return
        device = self.device
        if not hasattr(device, "pwrite"):
            raise TypeError("flush on a read-only device")
        writable: WritableDevice = device  # type: ignore[assignment]
        order = sorted(self._dirty)
        run_start = order[0]
        run: list[bytes] = []
        previous = run_start - 1
        for block in order:
            if block != previous + 1 or len(run) >= 256:
                writable.pwrite(run_start * self.block_size, b"".join(run))
                run_start, run = block, []
            run.append(bytes(self._blocks[block]))
            previous = block
        writable.pwrite(run_start * self.block_size, b"".join(run))
        log.debug("flushed %d metadata blocks", len(order))
        self._dirty.clear()

    def shrink(self) -> None:
        """Write dirty blocks and drop everything that is not pinned."""
        self.flush()
        self._blocks = {b: d for b, d in self._blocks.items() if b in self._pinned}
