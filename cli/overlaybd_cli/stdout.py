"""Standard output whose failures name it: a closed descriptor or a failed write.

Python silently drops text when descriptor 1 was closed at start-up (``sys.stdout``
is None and click writes nowhere), and a failed write (``> /dev/full``) says only
"No space left on device". Like coreutils, ``obd`` reports both as an error about
standard output and exits non-zero. A broken pipe becomes :class:`ReaderGone`, which
:mod:`.entry` turns into a quiet exit with SIGPIPE's status, as ``cat`` has; it is not
an ``OSError`` because click turns every EPIPE into exit status 1.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

STDOUT = 1


class ReaderGone(Exception):
    """The reader of standard output closed the pipe (``obd cat … | head``)."""


class StandardOutput(io.RawIOBase):
    """Descriptor 1, or nothing when it was closed; write errors name standard output.

    Only the first failure is raised: the command stops with that error, and what is
    still buffered is then dropped instead of failing again when Python exits.
    """

    def __init__(self, closed: bool) -> None:
        super().__init__()
        self._closed_at_start = closed
        self._failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return STDOUT

    def isatty(self) -> bool:
        return not self._closed_at_start and os.isatty(STDOUT)

    def write(self, data: ReadableBuffer, /) -> int:
        if self._failed:
            return memoryview(data).nbytes
        if self._closed_at_start:
            self._failed = True
            raise OSError(errno.EBADF, "standard output is closed")
        try:
            return os.write(STDOUT, data)
        except BrokenPipeError:
            self._failed = True
            raise ReaderGone from None
        except OSError as exc:
            self._failed = True
            raise OSError(
                exc.errno, f"cannot write to standard output: {exc.strerror or exc}"
            ) from None


def install() -> None:
    """Replace ``sys.stdout`` with a :class:`StandardOutput` stack.

    A closed descriptor 1 is first pointed at ``/dev/null``, so that no file the
    command opens lands on it by accident.
    """
    closed = sys.stdout is None or not _is_open(STDOUT)
    if closed:
        null = os.open(os.devnull, os.O_WRONLY)
        if null != STDOUT:
            os.dup2(null, STDOUT)
            os.close(null)
    previous = sys.stdout
    text = io.TextIOWrapper(
        io.BufferedWriter(StandardOutput(closed)),
        encoding=previous.encoding if previous else "utf-8",
        errors=previous.errors if previous else "strict",
        line_buffering=bool(previous.line_buffering) if previous else False,
    )
    sys.stdout = text


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
