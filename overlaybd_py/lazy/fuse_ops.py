"""FUSE operations for an opened image: its files, or its whole virtual disk as one file.

Both are read-only. Library errors become errno values (a missing path ENOENT,
anything else EIO, logged), so a damaged or unreachable blob shows up as an I/O
error on the one read that needed it rather than ending the mount.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import stat as statmod
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import mfusepy

from ..errors import NotFoundError, OverlayBDError
from ..ext4 import Stat
from ..ext4.fileio import Ext4File
from ..io import ByteSource
from .filesystem import ImageFilesystem

log = logging.getLogger(__name__)

NAME_MAX = 255
RAW_FILE_NAME = "disk.img"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

F = TypeVar("F", bound=Callable[..., Any])


def _errors_as_errno(method: F) -> F:
    """Turn library errors into the errno a FUSE caller expects."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except mfusepy.FuseOSError:
            raise
        except NotFoundError:
            raise mfusepy.FuseOSError(errno.ENOENT) from None
        except OverlayBDError as error:
            message = str(error)
            if message.startswith("not a directory"):
                raise mfusepy.FuseOSError(errno.ENOTDIR) from None
            log.error("%s%s: %s", method.__name__, args[1:2], message)
            raise mfusepy.FuseOSError(errno.EIO) from None

    return wrapper  # type: ignore[return-value]


def stat_dict(info: Stat) -> dict[str, Any]:
    """What FUSE's getattr returns, times in nanoseconds (``use_ns``)."""
    return {
        "st_ino": info.st_ino,
        "st_mode": info.st_mode,
        "st_nlink": info.st_nlink,
        "st_uid": info.st_uid,
        "st_gid": info.st_gid,
        "st_size": info.st_size,
        "st_blocks": info.st_blocks,
        "st_atime": info.st_atime_ns,
        "st_mtime": info.st_mtime_ns,
        "st_ctime": info.st_ctime_ns,
        "st_rdev": os.makedev(info.st_rdev_major, info.st_rdev_minor),
    }


class _Handles:
    """Open file objects by handle number."""

    def __init__(self) -> None:
        self._files: dict[int, Ext4File] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, handle: Ext4File) -> int:
        with self._lock:
            number = next(self._numbers)
            self._files[number] = handle
            return number

    def get(self, number: int) -> Ext4File:
        with self._lock:
            handle = self._files.get(number)
        if handle is None:
            raise mfusepy.FuseOSError(errno.EBADF)
        return handle

    def drop(self, number: int) -> None:
        with self._lock:
            self._files.pop(number, None)


class _ReadyOperations(mfusepy.Operations):  # type: ignore[misc]
    """Calls ``on_ready`` from libfuse's ``init``: the mount is in place by then."""

    use_ns = True
    on_ready: Callable[[], None] | None = None

    def init(self, path: str) -> None:
        if self.on_ready is not None:
            self.on_ready()


class ImageOperations(_ReadyOperations):
    """The image's directory tree, read-only."""

    def __init__(self, fs: ImageFilesystem) -> None:
        self.fs = fs
        self._handles = _Handles()

    @_errors_as_errno
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        return stat_dict(self.fs.stat(path))

    @_errors_as_errno
    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *self.fs.listdir(path)]

    @_errors_as_errno
    def readlink(self, path: str) -> str:
        return self.fs.readlink(path)

    @_errors_as_errno
    def open(self, path: str, flags: int) -> int:
        if flags & _WRITE_FLAGS:
            raise mfusepy.FuseOSError(errno.EROFS)
        return self._handles.add(self.fs.open(path))

    @_errors_as_errno
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return self._handles.get(fh).pread(offset, size)

    def release(self, path: str, fh: int) -> int:
        self._handles.drop(fh)
        return 0

    @_errors_as_errno
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        value = self.fs.xattrs(path).get(name)
        if value is None:
            raise mfusepy.FuseOSError(errno.ENODATA)
        return value

    @_errors_as_errno
    def listxattr(self, path: str) -> list[str]:
        return list(self.fs.xattrs(path))

    @_errors_as_errno
    def statfs(self, path: str) -> dict[str, int]:
        sb = self.fs.fs.sb
        blocks = sb.s_blocks_count_lo | (sb.s_blocks_count_hi << 32)
        free = sb.s_free_blocks_count_lo | (sb.s_free_blocks_count_hi << 32)
        return {
            "f_bsize": self.fs.block_size,
            "f_frsize": self.fs.block_size,
            "f_blocks": blocks,
            "f_bfree": free,
            "f_bavail": free,
            "f_files": sb.s_inodes_count,
            "f_ffree": sb.s_free_inodes_count,
            "f_namemax": NAME_MAX,
        }


class RawDiskOperations(_ReadyOperations):
    """One read-only file, ``name``, holding the merged virtual disk (loop-mountable)."""

    def __init__(self, device: ByteSource, name: str = RAW_FILE_NAME) -> None:
        self.device = device
        self.name = name

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        if path == "/":
            return {"st_mode": statmod.S_IFDIR | 0o555, "st_nlink": 2}
        if path == f"/{self.name}":
            return {
                "st_mode": statmod.S_IFREG | 0o444,
                "st_nlink": 1,
                "st_size": self.device.size,
            }
        raise mfusepy.FuseOSError(errno.ENOENT)

    def readdir(self, path: str, fh: int) -> list[str]:
        if path != "/":
            raise mfusepy.FuseOSError(errno.ENOTDIR)
        return [".", "..", self.name]

    def open(self, path: str, flags: int) -> int:
        if path != f"/{self.name}":
            raise mfusepy.FuseOSError(errno.ENOENT)
        if flags & _WRITE_FLAGS:
            raise mfusepy.FuseOSError(errno.EROFS)
        return 0

    @_errors_as_errno
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return self.device.pread(offset, size)
