"""An ext4 filesystem on a block device: opening, reading, and the write-back state.

The same object serves the reader (path lookup, stat, listdir, readlink, xattrs,
file content) and the writer used by ``apply_layer``: while writable, group
descriptors, bitmaps, touched inode table blocks and whole directories are kept in
memory and written back by :meth:`flush`/:meth:`close`, each changed block once.
All device access is ``pread``/``pwrite`` of whole blocks where possible.
"""

from __future__ import annotations

import logging
import stat as statmod
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import ChecksumError, FormatError, NotFoundError, UnsupportedError
from ..io import ByteSource, read_exact
from . import xattr
from .allocator import Allocator, desc_inode_table
from .blockcache import BlockCache
from .blockmap import map_block_pointers
from .checksum import CHECKSUM_OFFSET, group_desc_checksum, uuid_seed
from .constants import (
    EXT4_MAGIC,
    FEATURE_NAMES,
    FLAG_UNSIGNED_HASH,
    FT_DIR,
    INCOMPAT_64BIT,
    INCOMPAT_EXTENTS,
    INLINE_SYMLINK_MAX,
    INODE_BASE_SIZE,
    INODE_FL_INLINE_DATA,
    READ_INCOMPAT,
    RO_COMPAT_GDT_CSUM,
    ROOT_INO,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFLNK,
    S_IFREG,
    SUPERBLOCK_OFFSET,
    SUPERBLOCK_SIZE,
    WRITE_COMPAT_OK,
    WRITE_INCOMPAT_OK,
    WRITE_RO_COMPAT_OK,
)
from .dirstore import DirectoryStore
from .extents import Extent, map_extents
from .fileio import Ext4File
from .geometry import Geometry
from .hashing import seed_words
from .inode import Node, decode_device
from .journal import check_clean_journal, check_no_recovery
from .records import GroupDesc, Superblock

log = logging.getLogger(__name__)

_MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True)
class Stat:
    """What ``stat`` reports for a path (names follow ``os.stat_result``)."""

    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_size: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_crtime_ns: int
    st_rdev_major: int
    st_rdev_minor: int
    st_blocks: int
    st_flags: int


def _feature_names(kind: str, bits: int) -> list[str]:
    names = FEATURE_NAMES[kind]
    return [names.get(1 << i, f"{kind}:0x{1 << i:x}") for i in range(32) if bits & (1 << i)]


def encode_path(path: str | bytes) -> list[bytes]:
    """Path components as bytes (``str`` paths are UTF-8 with surrogate escapes)."""
    raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else bytes(path)
    return [part for part in raw.split(b"/") if part and part != b"."]


class Filesystem:
    """An ext4 filesystem on ``device``; ``writable=True`` allows the applier to change it."""

    def __init__(self, device: ByteSource, writable: bool = False) -> None:
        self.device = device
        self.writable = writable
        raw = read_exact(device, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, "ext4 superblock")
        self.sb = Superblock.unpack(raw)
        self._check_superblock()
        self.geo = Geometry.from_superblock(self.sb)
        self.block_size = self.geo.block_size
        self.cache = BlockCache(device, self.block_size)
        self._desc_raw = self._read_descriptors()
        self.descs = self._parse_descriptors(self._desc_raw)
        self._sb_raw = raw
        self.desc_checksums = bool(self.sb.s_feature_ro_compat & RO_COMPAT_GDT_CSUM)
        self._csum_seed = uuid_seed(self.sb.s_uuid)
        self._verify_descriptors()
        self.hash_seed = seed_words(self.sb.s_hash_seed)
        self.hash_signed = not self.sb.s_flags & FLAG_UNSIGNED_HASH
        self.alloc = Allocator(
            self.geo, self.sb, self.descs, self.cache, uninit_flags=self.desc_checksums
        )
        self.dirs = DirectoryStore(self)
        self._closed = False
        if writable:
            check_clean_journal(self)

    # --- opening ------------------------------------------------------------------------
    def _check_superblock(self) -> None:
        sb = self.sb
        if sb.s_magic != EXT4_MAGIC:
            raise FormatError(
                f"ext4 superblock magic at byte {SUPERBLOCK_OFFSET + 56} is 0x{sb.s_magic:04x}, "
                f"expected 0x{EXT4_MAGIC:04x}"
            )
        if sb.s_log_block_size > 6 or sb.s_rev_level < 1:
            raise UnsupportedError(
                f"ext4 block size 2^{10 + sb.s_log_block_size} / revision {sb.s_rev_level} "
                "is not supported"
            )
        check_no_recovery(sb)
        unknown = sb.s_feature_incompat & ~READ_INCOMPAT
        if unknown:
            raise UnsupportedError(
                "ext4 feature(s) not supported: " + ", ".join(_feature_names("incompat", unknown))
            )
        if not self.writable:
            return
        blocked = [
            *_feature_names("compat", sb.s_feature_compat & ~WRITE_COMPAT_OK),
            *_feature_names("incompat", sb.s_feature_incompat & ~WRITE_INCOMPAT_OK),
            *_feature_names("ro_compat", sb.s_feature_ro_compat & ~WRITE_RO_COMPAT_OK),
        ]
        if blocked:
            raise UnsupportedError(
                "ext4 feature(s) not supported for writing: " + ", ".join(blocked)
            )
        if not sb.s_feature_incompat & INCOMPAT_EXTENTS:
            raise UnsupportedError("writing needs the ext4 extents feature, which is not set")
        if sb.s_inode_size < INODE_BASE_SIZE + 32:
            raise UnsupportedError(f"writing needs inodes of 160+ bytes, found {sb.s_inode_size}")

    def _read_descriptors(self) -> bytes:
        geo = self.geo
        start = (geo.first_data_block + 1) * geo.block_size
        return read_exact(self.device, start, geo.desc_blocks * geo.block_size, "group descriptors")

    def _parse_descriptors(self, raw: bytes) -> list[GroupDesc]:
        size = self.geo.desc_size
        descs = []
        for group in range(self.geo.group_count):
            chunk = raw[group * size : (group + 1) * size]
            if not self.sb.s_feature_incompat & INCOMPAT_64BIT:
                chunk = chunk[:32]
            descs.append(GroupDesc.unpack(chunk.ljust(GroupDesc.SIZE, b"\0")))
        return descs

    def _verify_descriptors(self) -> None:
        """Check every gdt_csum checksum: a mismatch refuses writing and is logged when reading."""
        if not self.desc_checksums:
            return
        size = self.geo.desc_size
        for group in range(self.geo.group_count):
            raw = self._desc_raw[group * size : (group + 1) * size]
            want = group_desc_checksum(self._csum_seed, group, raw)
            found = int.from_bytes(raw[CHECKSUM_OFFSET : CHECKSUM_OFFSET + 2], "little")
            if want == found:
                continue
            message = (
                f"ext4 group descriptor {group}: checksum 0x{found:04x}, expected 0x{want:04x}"
            )
            if self.writable:
                raise ChecksumError(message)
            log.warning("%s", message)

    # --- inodes and blocks ----------------------------------------------------------------
    def _inode_location(self, ino: int) -> tuple[int, int]:
        if not 1 <= ino <= self.geo.inodes_count:
            raise FormatError(f"inode number {ino} outside 1..{self.geo.inodes_count}")
        group, index = divmod(ino - 1, self.geo.inodes_per_group)
        byte = index * self.geo.inode_size
        table = desc_inode_table(self.descs[group])
        return table + byte // self.block_size, byte % self.block_size

    def read_node(self, ino: int) -> Node:
        block, offset = self._inode_location(ino)
        isz = self.geo.inode_size
        data = self.cache.peek(block)
        if data is not None:
            raw = bytes(data[offset : offset + isz])
        else:
            raw = read_exact(self.device, block * self.block_size + offset, isz, f"inode {ino}")
        return Node.parse(ino, raw, isz)

    def write_node(self, node: Node) -> None:
        block, offset = self._inode_location(node.ino)
        buf = self.cache.get(block)
        buf[offset : offset + self.geo.inode_size] = node.pack()
        self.cache.mark_dirty(block)

    def read_block(self, block: int) -> bytes:
        return self.cache.read(block)

    def extents(self, node: Node) -> tuple[list[Extent], list[int]]:
        """Data extents and mapping blocks (extent tree nodes or indirect blocks) of an inode."""
        where = f"inode {node.ino}"
        if node.rec.i_flags & INODE_FL_INLINE_DATA:
            raise UnsupportedError(f"{where}: inline data is not supported")
        if node.uses_extents():
            return map_extents(node.rec.i_block, self.read_block, where)
        if node.kind not in _MAPPED_KINDS or is_fast_symlink(node, self.block_size):
            return [], []
        return map_block_pointers(
            node.rec.i_block,
            self.read_block,
            self.block_size,
            self.geo.blocks_count,
            node.size,
            where,
        )

    # --- path lookup ------------------------------------------------------------------------
    def lookup(self, dir_ino: int, name: bytes) -> tuple[int, int] | None:
        """``(inode, file_type)`` of ``name`` in directory ``dir_ino``, or None."""
        return self.dirs.get(dir_ino).entries.get(name)

    def resolve(self, path: str | bytes, follow: bool = False) -> int:
        """Inode of ``path``; symlinks in the middle are followed inside the image root."""
        parts = encode_path(path)
        ino = ROOT_INO
        hops = 0
        stack = list(reversed(parts))
        while stack:
            name = stack.pop()
            if name == b"..":
                ino = self.dirs.get(ino).parent
                continue
            found = self.lookup(ino, name)
            if found is None:
                raise NotFoundError(f"no such file or directory: {_show(path)} (at {_show(name)})")
            child = found[0]
            node = self.read_node(child)
            if node.is_symlink() and (stack or follow):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise FormatError(f"too many levels of symbolic links in {_show(path)}")
                target = self.readlink_node(node)
                if target.startswith(b"/"):
                    ino = ROOT_INO
                stack.extend(reversed(encode_path(target)))
                continue
            if stack and not node.is_dir():
                raise NotFoundError(f"not a directory: {_show(name)} in {_show(path)}")
            ino = child
        return ino

    # --- reading ------------------------------------------------------------------------------
    def stat(self, path: str | bytes, follow: bool = False) -> Stat:
        return self.stat_node(self.read_node(self.resolve(path, follow)))

    def stat_node(self, node: Node) -> Stat:
        major = minor = 0
        if node.kind in (S_IFCHR, S_IFBLK):
            major, minor = decode_device(node.rec.i_block)
        return Stat(
            st_ino=node.ino,
            st_mode=node.mode,
            st_nlink=node.links,
            st_uid=node.uid,
            st_gid=node.gid,
            st_size=node.size,
            st_atime_ns=node.time_ns("atime"),
            st_mtime_ns=node.time_ns("mtime"),
            st_ctime_ns=node.time_ns("ctime"),
            st_crtime_ns=node.time_ns("crtime"),
            st_rdev_major=major,
            st_rdev_minor=minor,
            st_blocks=node.blocks_512,
            st_flags=int(node.rec.i_flags),
        )

    def scandir(self, path: str | bytes) -> list[tuple[bytes, int, int]]:
        """``(name, inode, file_type)`` of every entry of a directory, without . and .."""
        ino = self.resolve(path, follow=True)
        if not self.read_node(ino).is_dir():
            raise NotFoundError(f"not a directory: {_show(path)}")
        return [(name, i, t) for name, (i, t) in self.dirs.get(ino).entries.items()]

    def listdir(self, path: str | bytes = "/") -> list[str]:
        return sorted(name.decode("utf-8", "surrogateescape") for name, _, _ in self.scandir(path))

    def readlink(self, path: str | bytes) -> str:
        node = self.read_node(self.resolve(path))
        if not node.is_symlink():
            raise FormatError(f"not a symbolic link: {_show(path)}")
        return self.readlink_node(node).decode("utf-8", "surrogateescape")

    def readlink_node(self, node: Node) -> bytes:
        if is_fast_symlink(node, self.block_size):
            return bytes(node.rec.i_block[: node.size])
        return self.open_node(node).pread(0, node.size)

    def xattrs(self, path: str | bytes) -> dict[str, bytes]:
        return self.xattrs_node(self.read_node(self.resolve(path)))

    def xattrs_node(self, node: Node) -> dict[str, bytes]:
        where = f"inode {node.ino} attributes"
        attrs: dict[str, bytes] = {}
        if node.inode_size > INODE_BASE_SIZE:
            raw = node.pack()
            attrs.update(xattr.parse_inline(raw[INODE_BASE_SIZE + node.rec.i_extra_isize :], where))
        if node.file_acl:
            attrs.update(xattr.parse_block(self.read_block(node.file_acl), where))
        return attrs

    def open(self, path: str | bytes) -> Ext4File:
        node = self.read_node(self.resolve(path, follow=True))
        if not node.is_reg():
            raise FormatError(f"not a regular file: {_show(path)} (mode {node.mode:o})")
        return self.open_node(node)

    def open_node(self, node: Node) -> Ext4File:
        extents, _ = self.extents(node)
        return Ext4File(self, node.ino, node.size, extents)

    def walk(self, top: str | bytes = "/") -> Iterator[tuple[str, list[str], list[str]]]:
        """Like ``os.walk`` (top-down, no symlink following): (dirpath, dirnames, filenames).

        As with ``os.walk``, removing names from ``dirnames`` prunes the walk.
        """
        root = "/" + "/".join(p.decode("utf-8", "surrogateescape") for p in encode_path(top))
        pending = [(root, self.resolve(top, follow=True))]
        while pending:
            path, ino = pending.pop()
            dirnames: list[str] = []
            filenames: list[str] = []
            children: dict[str, int] = {}
            for name, (child, ftype) in sorted(self.dirs.get(ino).entries.items()):
                text = name.decode("utf-8", "surrogateescape")
                if ftype == FT_DIR:
                    dirnames.append(text)
                    children[text] = child
                else:
                    filenames.append(text)
            yield path, dirnames, filenames
            base = path.rstrip("/")
            pending.extend(
                (f"{base}/{name}", children[name])
                for name in reversed(dirnames)
                if name in children
            )

    # --- writing back ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write every dirty directory, inode, bitmap, descriptor and superblock block."""
        if not self.writable:
            return
        self.dirs.flush()
        self.cache.flush()
        self._write_descriptors()
        self._write_superblock()

    # Like upstream's applier (its commits on the base layer leave every backup as mkfs
    # wrote it) and the kernel, only the primary superblock and descriptor table are
    # rewritten: backups keep mkfs's copies, of which e2fsck compares only geometry and
    # features. That also keeps a layer's upper small.
    def _write_descriptors(self) -> None:
        geo = self.geo
        size = geo.desc_size
        packed_size = min(size, GroupDesc.SIZE)
        raw = bytearray(self._desc_raw)
        for group in sorted(self.alloc.dirty_groups):
            start = group * size
            raw[start : start + packed_size] = self.descs[group].pack()[:packed_size]
            if self.desc_checksums:
                # gdt_csum: recomputed over the final bytes of every changed descriptor
                checksum = group_desc_checksum(self._csum_seed, group, raw[start : start + size])
                self.descs[group].bg_checksum = checksum
                raw[start + CHECKSUM_OFFSET : start + CHECKSUM_OFFSET + 2] = checksum.to_bytes(
                    2, "little"
                )
        self.alloc.dirty_groups.clear()
        bs = geo.block_size
        for index in range(geo.desc_blocks):
            new = raw[index * bs : (index + 1) * bs]
            if new != self._desc_raw[index * bs : (index + 1) * bs]:
                self._pwrite((geo.first_data_block + 1 + index) * bs, bytes(new))
        self._desc_raw = bytes(raw)

    def _write_superblock(self) -> None:
        self.sb.s_block_group_nr = 0
        packed = self.sb.pack()
        if packed == self._sb_raw:
            return
        # like upstream's libext2fs fork, which writes no wall-clock time (spec §6.1)
        self.sb.s_wtime = 0
        packed = self.sb.pack()
        bs = self.block_size
        offset = SUPERBLOCK_OFFSET
        block_start = offset - offset % bs
        block = bytearray(self.device.pread(block_start, bs).ljust(bs, b"\0"))
        block[offset - block_start : offset - block_start + SUPERBLOCK_SIZE] = packed
        self._pwrite(block_start, bytes(block))
        self._sb_raw = packed

    def _pwrite(self, offset: int, data: bytes) -> None:
        self.device.pwrite(offset, data)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True

    def __enter__(self) -> Filesystem:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    def describe(self) -> str:
        return (
            f"ext4 {self.geo.blocks_count} blocks of {self.block_size}, "
            f"{self.geo.group_count} groups, {self.sb.free_blocks_count} free blocks, "
            f"{self.sb.s_free_inodes_count} free inodes"
        )


_MAPPED_KINDS = (S_IFREG, S_IFDIR, S_IFLNK)


def is_fast_symlink(node: Node, block_size: int) -> bool:
    """A symlink whose target lives in ``i_block``: no blocks besides an attribute block."""
    if not node.is_symlink() or node.rec.i_flags & INODE_FL_INLINE_DATA:
        return False
    attr_sectors = block_size // 512 if node.file_acl else 0
    return node.blocks_512 - attr_sectors == 0 and node.size <= INLINE_SYMLINK_MAX


def _show(path: str | bytes) -> str:
    return path if isinstance(path, str) else path.decode("utf-8", "backslashreplace")


def is_dir_mode(mode: int) -> bool:
    return statmod.S_ISDIR(mode)
