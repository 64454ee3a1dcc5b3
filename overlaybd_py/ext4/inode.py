"""An inode in memory: the parsed record plus the in-inode attribute area, with helpers.

Field splits (uid/gid high halves, 48-bit block counts, the extra time words that
carry nanoseconds and two epoch bits) are handled here so nothing else needs to
know how ext4 spreads a value over several fields.
"""

from __future__ import annotations

import struct

from .constants import (
    EXTRA_ISIZE,
    INODE_BASE_SIZE,
    INODE_FL_EXTENTS,
    INODE_FL_HUGE_FILE,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
)
from .records import Inode

_NS = 1_000_000_000
_TIME_FIELDS = {
    "atime": ("i_atime", "i_atime_extra"),
    "mtime": ("i_mtime", "i_mtime_extra"),
    "ctime": ("i_ctime", "i_ctime_extra"),
    "crtime": ("i_crtime", "i_crtime_extra"),
}


TIME_MIN_NS = -(1 << 31) * 1_000_000_000
TIME_MAX_NS = ((1 << 34) - (1 << 31)) * 1_000_000_000 - 1
"""The times ext4 can store: a signed 32-bit second count extended by two epoch bits
(1901-12-13 to 2446-05-10)."""


def encode_time(ns: int) -> tuple[int, int]:
    """(seconds word, extra word) for a time in nanoseconds since the epoch, clamped to
    what ext4 can store (callers warn: see ``TIME_MIN_NS``/``TIME_MAX_NS``)."""
    seconds, nanos = divmod(min(max(ns, TIME_MIN_NS), TIME_MAX_NS), _NS)
    low = seconds & 0xFFFFFFFF
    signed_low = low - (1 << 32) if low & 0x80000000 else low
    epoch = ((seconds - signed_low) >> 32) & 3
    return low, (nanos << 2) | epoch


def decode_time(low: int, extra: int | None) -> int:
    """Nanoseconds since the epoch from a seconds word and its optional extra word."""
    seconds = low - (1 << 32) if low & 0x80000000 else low
    if extra is None:
        return seconds * _NS
    seconds += (extra & 3) << 32
    return seconds * _NS + (extra >> 2)


def encode_device(major: int, minor: int) -> bytes:
    """i_block bytes for a device node: old 16-bit encoding when it fits, else the new one."""
    if major < 256 and minor < 256:
        return struct.pack("<II", (major << 8) | minor, 0).ljust(60, b"\0")
    word = (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
    return struct.pack("<III", 0, word & 0xFFFFFFFF, 0).ljust(60, b"\0")


def decode_device(i_block: bytes) -> tuple[int, int]:
    old, new = struct.unpack_from("<II", i_block)
    if old:
        return (old >> 8) & 0xFF, old & 0xFF
    return (new & 0xFFF00) >> 8, (new & 0xFF) | ((new >> 12) & 0xFFF00)


class Node:
    """Inode ``ino``: its record (first 160 bytes) and the raw in-inode attribute area."""

    __slots__ = ("ino", "inode_size", "rec", "tail")

    def __init__(self, ino: int, rec: Inode, tail: bytes, inode_size: int) -> None:
        self.ino = ino
        self.rec = rec
        self.tail = tail
        self.inode_size = inode_size

    @classmethod
    def parse(cls, ino: int, raw: bytes, inode_size: int) -> Node:
        raw = raw.ljust(Inode.SIZE, b"\0")
        rec = Inode.unpack(raw)
        if inode_size <= INODE_BASE_SIZE:
            rec.i_extra_isize = 0
        return cls(ino, rec, bytes(raw[Inode.SIZE : inode_size]), inode_size)

    @classmethod
    def new(cls, ino: int, mode: int, inode_size: int) -> Node:
        rec = Inode(i_mode=mode, i_extra_isize=EXTRA_ISIZE)
        return cls(ino, rec, bytes(inode_size - Inode.SIZE), inode_size)

    def pack(self) -> bytes:
        return self.rec.pack() + self.tail

    # --- type and size -------------------------------------------------------------
    @property
    def mode(self) -> int:
        return int(self.rec.i_mode)

    @property
    def kind(self) -> int:
        return int(self.rec.i_mode) & S_IFMT

    def is_dir(self) -> bool:
        return self.kind == S_IFDIR

    def is_reg(self) -> bool:
        return self.kind == S_IFREG

    def is_symlink(self) -> bool:
        return self.kind == S_IFLNK

    def uses_extents(self) -> bool:
        return bool(self.rec.i_flags & INODE_FL_EXTENTS)

    @property
    def size(self) -> int:
        return int(self.rec.i_size_lo | (self.rec.i_size_high << 32))

    @size.setter
    def size(self, value: int) -> None:
        self.rec.i_size_lo = value & 0xFFFFFFFF
        self.rec.i_size_high = value >> 32

    @property
    def uid(self) -> int:
        return int(self.rec.i_uid | (self.rec.i_uid_high << 16))

    @property
    def gid(self) -> int:
        return int(self.rec.i_gid | (self.rec.i_gid_high << 16))

    def set_owner(self, uid: int, gid: int) -> None:
        self.rec.i_uid, self.rec.i_uid_high = uid & 0xFFFF, (uid >> 16) & 0xFFFF
        self.rec.i_gid, self.rec.i_gid_high = gid & 0xFFFF, (gid >> 16) & 0xFFFF

    @property
    def links(self) -> int:
        return int(self.rec.i_links_count)

    @property
    def file_acl(self) -> int:
        return int(self.rec.i_file_acl_lo | (self.rec.i_file_acl_high << 32))

    @file_acl.setter
    def file_acl(self, block: int) -> None:
        self.rec.i_file_acl_lo = block & 0xFFFFFFFF
        self.rec.i_file_acl_high = block >> 32

    @property
    def blocks_512(self) -> int:
        """i_blocks in 512-byte units (huge_file without the per-inode flag)."""
        count = int(self.rec.i_blocks_lo | (self.rec.i_blocks_high << 32))
        if self.rec.i_flags & INODE_FL_HUGE_FILE:
            return count * 8
        return count

    @blocks_512.setter
    def blocks_512(self, value: int) -> None:
        self.rec.i_flags &= ~INODE_FL_HUGE_FILE
        self.rec.i_blocks_lo = value & 0xFFFFFFFF
        self.rec.i_blocks_high = value >> 32

    # --- times -----------------------------------------------------------------------
    def _has_extra(self, field: str) -> bool:
        """Whether the extra time word for ``field`` lies inside i_extra_isize."""
        offset = {"i_ctime_extra": 4, "i_mtime_extra": 8, "i_atime_extra": 12}.get(field)
        if offset is None:
            offset = 16 if field == "i_crtime" else 20
        return self.inode_size > INODE_BASE_SIZE and self.rec.i_extra_isize >= offset + 4

    def time_ns(self, which: str) -> int:
        base, extra = _TIME_FIELDS[which]
        if which == "crtime" and not self._has_extra("i_crtime"):
            return 0
        extra_value = getattr(self.rec, extra) if self._has_extra(extra) else None
        return decode_time(getattr(self.rec, base), extra_value)

    def set_time_ns(self, which: str, ns: int) -> None:
        base, extra = _TIME_FIELDS[which]
        low, extra_value = encode_time(ns)
        setattr(self.rec, base, low)
        setattr(self.rec, extra, extra_value)
