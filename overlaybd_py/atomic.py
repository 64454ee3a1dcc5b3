"""Outputs that appear whole or not at all: temp file in the same directory, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import OverlayBDError


def output_path(path: str | os.PathLike[str]) -> Path:
    """Where an output really goes: through symlinks, and only onto a regular file.

    Renaming a temp file over a device node or a symlink would replace it, so
    those are resolved or refused here, before anything is written.
    """
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise OverlayBDError(
                f"{path}: output directory {target.parent} does not exist"
            ) from None
        return target
    if stat.S_ISDIR(mode):
        raise OverlayBDError(f"{path}: is a directory; expected a file name to write")
    if not stat.S_ISREG(mode):
        raise OverlayBDError(f"{path}: is not a regular file; expected a file name to write")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it replaces ``path``, on error it is removed."""
    target = output_path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w+b") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
