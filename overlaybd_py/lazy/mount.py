"""Mount an opened image with FUSE: its files, or (``raw``) its virtual disk as one file.

The call blocks until the mount goes away: ``umount``/``fusermount3 -u``, or
SIGINT/SIGTERM to this process, which libfuse answers by leaving its loop and
unmounting cleanly. Where FUSE cannot work (no ``/dev/fuse``, no libfuse, no
permission), :class:`~overlaybd_py.errors.UnsupportedError` says why in one line.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ..errors import ImageError, UnsupportedError
from .image import OverlayImage

log = logging.getLogger(__name__)

FUSE_DEVICE = "/dev/fuse"
FUSERMOUNT = "fusermount3"
FUSE_THREADS = 16
# fuse_main_real's results 1-6 mean the mount never started; 7 and above come from the
# request loop, which also ends that way when SIGINT/SIGTERM made libfuse unmount.
FIRST_LOOP_RESULT = 7


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


def mount(
    image: OverlayImage,
    mountpoint: str | os.PathLike[str],
    *,
    raw: bool = False,
    raw_name: str | None = None,
    allow_other: bool = False,
) -> None:
    """Serve ``image`` read-only at ``mountpoint`` until it is unmounted (blocks)."""
    problem = fuse_problem()
    if problem is not None:
        raise UnsupportedError(f"FUSE is unavailable: {problem}")
    target = Path(mountpoint)
    if not target.is_dir():
        raise ImageError(f"mount point {target}: expected an existing directory, found none")

    import mfusepy

    from .fuse_ops import RAW_FILE_NAME, ImageOperations, RawDiskOperations

    operations: mfusepy.Operations
    if raw:
        operations = RawDiskOperations(image.device, raw_name or RAW_FILE_NAME)
    else:
        operations = ImageOperations(image.filesystem())
    fsname = "obd:" + image.name.replace(",", "_")
    log.info("mounting %s at %s%s", image.name, target, " (raw disk)" if raw else "")
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
