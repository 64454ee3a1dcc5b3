"""The ``obd`` console entry point.

Kept import-light so that Ctrl-C during start-up is an orderly exit too; SIGTERM
and SIGHUP unwind like Ctrl-C, so temporary files and half-built layouts are
removed before the process ends. Standard output is replaced first, so that
writing to a closed or failing stdout is an error naming it (:mod:`.stdout`).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from . import stdout

INTERRUPTED = 130
BROKEN_PIPE = 141


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived; unwinds the stack like KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def main() -> None:
    stdout.install()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    try:
        from .app import main as run

        run()
    except KeyboardInterrupt:
        print("obd: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except Terminated as exc:
        print(f"obd: stopped by {exc}", file=sys.stderr)
        sys.exit(128 + exc.signum)
    except (BrokenPipeError, stdout.ReaderGone):
        # The reader went away (``obd cat ... | head``): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(BROKEN_PIPE)


if __name__ == "__main__":
    main()
