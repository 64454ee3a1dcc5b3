"""Write a merged virtual device as a sparse raw disk image.

Only ranges the layers map are read and written; everything else, and any
all-zero chunk inside them, stays a hole, so a 64 GiB device costs only its
used blocks on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .atomic import atomic_output, write_errors
from .lsmt.stack import LayerStack

CHUNK = 4 << 20


@dataclass(frozen=True)
class ExportSummary:
    size: int
    data_bytes: int
    """Bytes written (mapped, non-zero chunks)."""


def export_raw(
    stack: LayerStack,
    path: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write ``stack`` to ``path`` as a sparse raw image, atomically."""
    written = 0
    with atomic_output(path) as out:
        with write_errors(path, f" {stack.size} bytes (sparse)"):
            out.truncate(stack.size)
        for offset, length in stack.data_extents():
            end = min(offset + length, stack.size)
            for at in range(offset, end, CHUNK):
                data = stack.pread(at, min(CHUNK, end - at))
                if data.count(0) != len(data):
                    with write_errors(path, f" at offset {at}"):
                        os.pwrite(out.fileno(), data, at)
                    written += len(data)
                if progress is not None:
                    progress(len(data))
    return ExportSummary(stack.size, written)
