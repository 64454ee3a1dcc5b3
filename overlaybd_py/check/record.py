"""One path's observable state, the unit both sides of a check are reduced to.

The expected tree (from the source layers), the converted image's ext4 and a
mounted directory are each turned into ``{path: Record}``; comparing two such maps
is all a check does, so the three readers never need to know about each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KIND_FILE = "file"
KIND_DIR = "directory"
KIND_SYMLINK = "symlink"
KIND_CHAR = "char-device"
KIND_BLOCK = "block-device"
KIND_FIFO = "fifo"
KIND_SOCKET = "socket"

NS_PER_SECOND = 1_000_000_000


@dataclass
class Record:
    """What a path looks like: type, owner, permissions, content and identity."""

    kind: str
    mode: int
    """Permission bits including setuid, setgid and sticky (``S_IMODE``)."""
    uid: int
    gid: int
    mtime_ns: int
    link_id: int
    """Inode identity: two names with the same ``link_id`` are hardlinks of one file."""
    size: int | None = None
    """Regular files and symlinks only (a directory's size is an ext4 detail)."""
    sha256: str | None = None
    target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] = field(default_factory=dict)
    mtime_precise: bool = True
    """False when the source only gave whole seconds: compare seconds, not nanoseconds."""


Tree = dict[str, Record]
"""Absolute path (``/`` for the root, UTF-8 with surrogate escapes) to its record."""


def join(parent: str, name: str) -> str:
    """``/`` + ``etc`` → ``/etc``; ``/etc`` + ``passwd`` → ``/etc/passwd``."""
    return f"{parent.rstrip('/')}/{name}"
