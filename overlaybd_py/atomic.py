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
    those are resolved or refused here, before anything is written (character
    devices and pipes are written in place by :func:`atomic_output` instead).
    """
    with contextlib.suppress(OSError):  # /dev/stdout resolves to no real path: look first
        if not stat.S_ISREG(mode := os.stat(path).st_mode) and not stat.S_ISDIR(mode):
            raise OverlayBDError(
                f"{path}: is not a regular file (a pipe or a device); expected a file name to write"
            )
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


def is_stream(path: str | os.PathLike[str]) -> bool:
    """True for a character device or a pipe (``/dev/null``, ``/dev/stdout``): written in
    place, since there is nothing to replace atomically."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, allow_stream: bool = False
) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it replaces ``path``, on error it is removed.

    With ``allow_stream`` (for outputs written front to back, never seeked), a
    character device or a pipe is written directly (see :func:`is_stream`); other
    special files are always refused.
    """
    if allow_stream and is_stream(path):
        with write_errors(path):
            stream = open(path, "wb")  # noqa: SIM115  (closed by the with below)
        with stream:
            yield stream
        return
    target = output_path(path)
    try:
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        raise OverlayBDError(
            f"{path}: cannot create a file in {target.parent}: {error.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "w+b") as out:
            yield out
            with write_errors(path):
                out.flush()
                os.fsync(out.fileno())
        with write_errors(path):
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def write_errors(path: str | os.PathLike[str], where: str = "") -> Iterator[None]:
    """Name the output in an OS error from writing it (``No space left on device`` alone
    does not say which file)."""
    try:
        yield
    except OSError as error:
        raise OverlayBDError(f"{path}: writing{where} failed: {error.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
