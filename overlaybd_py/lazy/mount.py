"""Mount an opened image with FUSE: its files, or (``raw``) its virtual disk as one file.

The call blocks until the mount goes away: ``umount``/``fusermount3 -u``, or
SIGINT/SIGTERM to this process, which libfuse answers by leaving its loop and
unmounting cleanly. Where FUSE cannot work (no ``/dev/fuse``, no libfuse, no
permission), :class:`~overlaybd_py.errors.UnsupportedError` says why in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ImageError, NotFoundError, UnsupportedError
from .image import OverlayImage

log = logging.getLogger(__name__)

FUSE_DEVICE = "/dev/fuse"
FUSERMOUNT = "fusermount3"
FUSE_THREADS = 16
# fuse_main_real's results 1-6 mean the mount never started; 7 and above come from the
# request loop, which also ends that way when SIGINT/SIGTERM made libfuse unmount.
FIRST_LOOP_RESULT = 7
LIBFUSE_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _libfuse_signals() -> Iterator[None]:
    """Give SIGTERM and SIGHUP back to libfuse while it serves the mount.

    libfuse only installs its unmount-and-return handlers over default dispositions;
    a Python handler (the ``obd`` entry point has one) would only run once the
    blocking C loop returned, i.e. never. mfusepy does the same for SIGINT.
    """
    saved: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():
        for signum in LIBFUSE_SIGNALS:
            saved.append((signum, signal.signal(signum, signal.SIG_DFL)))
    try:
        yield
    finally:
        for number, handler in saved:
            signal.signal(number, handler)


def fuse_problem() -> str | None:
    """Why FUSE mounts cannot work here, or None when they may."""
    if not os.path.exists(FUSE_DEVICE):
        return f"{FUSE_DEVICE} does not exist (load the fuse module or pass the device in)"
    if os.geteuid() != 0 and shutil.which(FUSERMOUNT) is None:
        return f"{FUSERMOUNT} is not installed (apt-get install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as error:
        return f"libfuse cannot be loaded ({error}; apt-get install fuse3)"
    return None


def check_mountpoint(mountpoint: str | os.PathLike[str]) -> Path:
    """``mountpoint`` as a Path, once it is known to be an existing, empty directory.

    Mounting over files would hide them for as long as the mount lasts, so a
    directory with anything in it is refused rather than mounted over.
    """
    target = Path(mountpoint)
    expected = "expected an existing empty directory"
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        raise NotFoundError(f"mount point {target}: {expected}, found nothing there") from None
    except OSError as error:
        raise ImageError(f"mount point {target}: {expected}, found {error.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise ImageError(f"mount point {target}: {expected}, found {_file_kind(mode)}")
    try:
        with os.scandir(target) as entries:
            first = next(entries, None)
    except OSError as error:
        raise ImageError(
            f"mount point {target}: {expected}, found it unreadable ({error.strerror})"
        ) from None
    if first is not None:
        raise ImageError(
            f"mount point {target}: {expected}, found {first.name!r} in it "
            "(mounting would hide its contents)"
        )
    return target


def _file_kind(mode: int) -> str:
    """``a regular file``, ``a symbolic link``... for error messages."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), f"file mode {mode:o}")


def mount(
    image: OverlayImage,
    mountpoint: str | os.PathLike[str],
    *,
    raw: bool = False,
    raw_name: str | None = None,
    allow_other: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``image`` read-only at ``mountpoint`` until it is unmounted (blocks).

    ``on_ready`` is called once, when the kernel has the mount (libfuse's ``init``).
    """
    target = check_mountpoint(mountpoint)
    problem = fuse_problem()
    if problem is not None:
        raise UnsupportedError(f"FUSE is unavailable: {problem}")

    import mfusepy

    from .fuse_ops import RAW_FILE_NAME, ImageOperations, RawDiskOperations

    operations: ImageOperations | RawDiskOperations
    if raw:
        operations = RawDiskOperations(image.device, raw_name or RAW_FILE_NAME)
    else:
        operations = ImageOperations(image.filesystem())
    operations.on_ready = on_ready
    fsname = "obd:" + image.name.replace(",", "_")
    log.info("mounting %s at %s%s", image.name, target, " (raw disk)" if raw else "")
    with _libfuse_signals():
        try:
            mfusepy.FUSE(
                operations,
                str(target),
                foreground=True,
                ro=True,
                allow_other=allow_other,
                fsname=fsname,
                subtype="obd",
                max_threads=FUSE_THREADS,
            )
        except RuntimeError as error:
            code = error.args[0] if error.args and isinstance(error.args[0], int) else 0
            if code < FIRST_LOOP_RESULT:
                raise UnsupportedError(
                    f"FUSE mount of {image.name} at {target} failed (libfuse result {code}); "
                    "is FUSE allowed here?"
                ) from None
    log.info("unmounted %s", target)
