"""The internal journal of a filesystem we write to: it must be clean, and stays untouched.

Upstream applies layers onto the legacy base layer (spec §5.5, §6.3), which has a
journal, with libext2fs, which writes metadata in place and never goes through
the journal. We do the same. That is only sound when nothing waits in the
journal to be replayed: a replay would overwrite our metadata with older copies.
So a filesystem is writable only if ``needs_recovery`` is clear and the journal
superblock's ``s_start`` is 0 (no transaction to replay).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..errors import FormatError, UnsupportedError
from .constants import COMPAT_HAS_JOURNAL, INCOMPAT_RECOVER, JBD2_MAGIC, JBD2_START_OFFSET

if TYPE_CHECKING:
    from .filesystem import Filesystem
    from .records import Superblock


def check_no_recovery(sb: Superblock) -> None:
    """Refuse a filesystem whose journal still has to be replayed (read or write)."""
    if sb.s_feature_incompat & INCOMPAT_RECOVER:
        raise UnsupportedError(
            "ext4 journal needs recovery (incompat needs_recovery is set): replay it with "
            "e2fsck or a mount before opening the filesystem"
        )


def check_clean_journal(fs: Filesystem) -> None:
    """Refuse writing unless the internal journal exists, is ours to ignore, and is empty."""
    sb = fs.sb
    if not sb.s_feature_compat & COMPAT_HAS_JOURNAL:
        return
    if sb.s_journal_dev or not sb.s_journal_inum:
        raise UnsupportedError(
            f"ext4 with an external journal (device 0x{sb.s_journal_dev:x}) is not "
            "supported for writing"
        )
    ino = int(sb.s_journal_inum)
    node = fs.read_node(ino)
    extents, _ = fs.extents(node)
    first = next((e for e in extents if e.logical == 0 and not e.uninit), None)
    if first is None:
        raise FormatError(f"ext4 journal inode {ino} has no block 0 (its journal superblock)")
    head = fs.read_block(first.physical)
    magic, start = _be32(head, 0), _be32(head, JBD2_START_OFFSET)
    if magic != JBD2_MAGIC:
        raise FormatError(
            f"ext4 journal superblock at block {first.physical}: magic 0x{magic:08x}, "
            f"expected 0x{JBD2_MAGIC:08x}"
        )
    if start:
        raise UnsupportedError(
            f"ext4 journal at block {first.physical} has transactions to replay (s_start "
            f"{start}): replay it with e2fsck before writing"
        )


def _be32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from(">I", data, offset)[0])
