"""The read-only ext4 view of an image, shareable between threads.

The ext4 reader keeps directory and metadata caches that are not made for
concurrent use, so path lookups hold one lock; file contents are read outside it
(``Ext4File.pread`` goes straight to the device, whose fetchers are thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..ext4 import Filesystem, Stat
from ..ext4.fileio import Ext4File
from ..io import ByteSource


class ImageFilesystem:
    """``stat``/``listdir``/``readlink``/``xattrs``/``open``/``walk`` under one lock."""

    def __init__(self, device: ByteSource) -> None:
        self.fs = Filesystem(device, writable=False)
        self.lock = threading.RLock()

    @property
    def block_size(self) -> int:
        return self.fs.block_size

    def stat(self, path: str | bytes, follow: bool = False) -> Stat:
        with self.lock:
            return self.fs.stat(path, follow)

    def listdir(self, path: str | bytes = "/") -> list[str]:
        with self.lock:
            return self.fs.listdir(path)

    def scandir(self, path: str | bytes) -> list[tuple[bytes, int, int]]:
        with self.lock:
            return self.fs.scandir(path)

    def readlink(self, path: str | bytes) -> str:
        with self.lock:
            return self.fs.readlink(path)

    def xattrs(self, path: str | bytes) -> dict[str, bytes]:
        with self.lock:
            return self.fs.xattrs(path)

    def open(self, path: str | bytes) -> Ext4File:
        """A file object; its ``pread``/``read`` fetch only the ranges asked for."""
        with self.lock:
            return self.fs.open(path)

    def read_file(self, path: str | bytes) -> bytes:
        """The whole content of a regular file."""
        handle = self.open(path)
        return handle.pread(0, handle.size)

    def walk(self, top: str | bytes = "/") -> Iterator[tuple[str, list[str], list[str]]]:
        walker = self.fs.walk(top)
        while True:
            with self.lock:
                step = next(walker, None)
            if step is None:
                return
            yield step

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fs, name)
