"""What lazy reading cost: bytes and requests fetched per layer blob, cache use."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..io import ByteSource


@dataclass
class LayerStats:
    """Counters for one layer blob; updated from many threads under ``lock``."""

    digest: str
    blob_size: int
    bytes_fetched: int = 0
    requests: int = 0
    chunks_from_cache: int = 0
    chunks_fetched: int = 0
    corrupt_entries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_fetch(self, size: int) -> None:
        with self.lock:
            self.bytes_fetched += size
            self.requests += 1

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "blob_size": self.blob_size,
            "bytes_fetched": self.bytes_fetched,
            "requests": self.requests,
            "chunks_from_cache": self.chunks_from_cache,
            "chunks_fetched": self.chunks_fetched,
            "corrupt_entries": self.corrupt_entries,
        }


@dataclass
class ImageStats:
    """Per-layer counters of one opened image, with totals."""

    layers: list[LayerStats] = field(default_factory=list)

    @property
    def bytes_fetched(self) -> int:
        return sum(layer.bytes_fetched for layer in self.layers)

    @property
    def requests(self) -> int:
        return sum(layer.requests for layer in self.layers)

    @property
    def blob_bytes(self) -> int:
        return sum(layer.blob_size for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bytes_fetched": self.bytes_fetched,
            "requests": self.requests,
            "blob_bytes": self.blob_bytes,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def summary(self) -> str:
        """One line for ``--stats``."""
        total = self.blob_bytes
        share = 100.0 * self.bytes_fetched / total if total else 0.0
        cached = sum(layer.chunks_from_cache for layer in self.layers)
        return (
            f"fetched {self.bytes_fetched} of {total} blob bytes ({share:.2f}%) in "
            f"{self.requests} requests; {cached} chunks from the local cache"
        )


class CountingSource:
    """A ByteSource that counts every read it passes on into a :class:`LayerStats`."""

    def __init__(self, base: ByteSource, stats: LayerStats) -> None:
        self.base = base
        self.stats = stats
        self.name = getattr(base, "name", stats.digest)

    @property
    def size(self) -> int:
        return self.base.size

    def pread(self, offset: int, length: int) -> bytes:
        data = self.base.pread(offset, length)
        self.stats.add_fetch(len(data))
        return data

    def close(self) -> None:
        close = getattr(self.base, "close", None)
        if close is not None:
            close()
