"""Source layers read ahead of the applier on a background thread.

Fetching, digest checking and decompressing a layer (network, zlib, zstd and
hashlib release the GIL) overlap with applying the previous one. Memory stays
bounded: each layer's queue holds at most ``QUEUE_CHUNKS`` chunks, and the
thread moves to the next layer only after the current one is fully queued.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

CHUNK = 1 << 20
QUEUE_CHUNKS = 16
_END = object()


class _Stopped(Exception):
    """The consumer went away; the feeding thread winds down."""


class LayerFeed:
    """Streams ``open_layer(i)`` for ``i`` in ``range(count)``, one queue per layer."""

    def __init__(self, open_layer: Callable[[int], BinaryIO], count: int) -> None:
        self._open_layer = open_layer
        self._queues: list[queue.Queue[object]] = [
            queue.Queue(maxsize=QUEUE_CHUNKS) for _ in range(count)
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="obd-layer-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for position, slot in enumerate(self._queues):
            try:
                with self._open_layer(position) as stream:
                    while chunk := stream.read(CHUNK):
                        self._put(slot, chunk)
                self._put(slot, _END)
            except _Stopped:
                return
            except BaseException as exc:  # handed to the consumer, raised there
                with contextlib.suppress(_Stopped):
                    self._put(slot, exc)
                return

    def _put(self, slot: queue.Queue[object], item: object) -> None:
        while not self._stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def stream(self, position: int) -> BinaryIO:
        """The uncompressed tar stream of layer ``position``; errors surface on read."""
        return io.BufferedReader(_QueueReader(self._queues[position]), CHUNK)  # type: ignore[return-value]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> LayerFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _QueueReader(io.RawIOBase):
    def __init__(self, slot: queue.Queue[object]) -> None:
        self._slot = slot
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pending and not self._done:
            item = self._slot.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if item is _END:
                self._done = True
            else:
                self._pending = memoryview(item)  # type: ignore[arg-type]
        n = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def drain(stream: BinaryIO) -> None:
    """Read a stream to its end so that end-of-stream digest checks run."""
    while stream.read(CHUNK):
        pass
