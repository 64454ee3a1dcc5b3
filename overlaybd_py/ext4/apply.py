"""Applying one OCI layer tar onto a writable ext4 (spec §6.4, OCI image-spec layers).

Rules, in the order they are applied to each member:

* the name is normalised like Plan 9 ``cleanname``: ``//`` and ``.`` collapse,
  ``..`` is resolved and can never climb above the root; an entry naming the root
  itself is skipped;
* parent directories are resolved inside the image: a symlinked parent is
  followed with its target interpreted relative to the image root, never the
  host; missing parents are created 0755 root:root;
* ``.wh..wh..opq`` empties its directory of lower-layer content and ``.wh.NAME``
  deletes NAME (a file, a tree, or one name of a hardlinked inode); whiteouts spare
  paths this layer already wrote and are never materialised;
* an existing non-directory is replaced; a directory replaced by a non-directory
  is removed with its tree; a directory over a directory keeps the children and
  takes the new metadata (attributes are merged);
* owner, mode (with setuid/setgid/sticky), nanosecond times and xattrs come from
  the header; directory times are applied again after all members.
"""

from __future__ import annotations

import logging
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from ..compression import open_stream
from ..errors import ConversionError, OverlayBDError
from .constants import (
    FT_DIR,
    FT_SYMLINK,
    LINK_MAX,
    MODE_TO_FT,
    NAME_MAX,
    ROOT_INO,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    SYMLINK_MAX,
)
from .content import set_xattrs, write_bytes, write_stream
from .filesystem import Filesystem
from .inode import TIME_MAX_NS, TIME_MIN_NS, Node, encode_device
from .namespace import create_node, unlink_tree
from .tarstream import (
    KIND_BLOCK,
    KIND_CHAR,
    KIND_DIR,
    KIND_FIFO,
    KIND_FILE,
    KIND_HARDLINK,
    KIND_SYMLINK,
    TarEntry,
    iter_entries,
)

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"
_MAX_SYMLINK_HOPS = 40
SYMLINK_MODE = 0o777
USER_XATTR_PREFIX = "user."

_TYPE_BITS = {
    KIND_FILE: S_IFREG,
    KIND_DIR: S_IFDIR,
    KIND_SYMLINK: S_IFLNK,
    KIND_CHAR: S_IFCHR,
    KIND_BLOCK: S_IFBLK,
    KIND_FIFO: S_IFIFO,
}

Path = tuple[bytes, ...]


@dataclass
class ApplyStats:
    """What one layer did: members read, file bytes written, and a few counts."""

    entries: int = 0
    bytes: int = 0
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    whiteouts: int = 0


def clean_components(name: bytes) -> list[bytes]:
    """Plan 9 cleanname on a member name, as root-relative components."""
    parts: list[bytes] = []
    for part in name.split(b"/"):
        if not part or part == b".":
            continue
        if part == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


def apply_layer(fs: Filesystem, stream: BinaryIO, name: str = "<layer>") -> ApplyStats:
    """Apply a (possibly gzip/zstd compressed) layer tar to ``fs`` and flush it."""
    if not fs.writable:
        raise ConversionError(f"{name}: the filesystem was opened read-only")
    applier = _Applier(fs, name)
    for entry in iter_entries(open_stream(stream, name), name):
        try:
            applier.apply(entry)
        except tarfile.TarError as exc:
            raise ConversionError(f"{name}: {entry.display}: {exc}") from None
    applier.finish()
    fs.flush()
    log.info("applied %s: %s", name, applier.stats)
    return applier.stats


class _Applier:
    """The per-layer state: what this layer wrote, and directory times to restore."""

    def __init__(self, fs: Filesystem, name: str) -> None:
        self.fs = fs
        self.name = name
        self.stats = ApplyStats()
        self.written: set[Path] = set()
        self.written_below: set[Path] = set()
        self.dir_times: dict[int, tuple[int, int, int]] = {}

    # --- entry points ------------------------------------------------------------------
    def apply(self, entry: TarEntry) -> None:
        self.stats.entries += 1
        parts = clean_components(entry.name)
        if not parts:
            log.debug("%s: skipping an entry for the root directory", entry.display)
            return
        base = parts[-1]
        if len(base) > NAME_MAX:
            raise ConversionError(f"{self.name}: {entry.display}: name longer than {NAME_MAX}")
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(entry, parts)
            return
        parent, real = self._resolve_parent(entry, parts[:-1], create=True)
        path = (*real, base)
        if entry.kind == KIND_HARDLINK:
            self._hardlink(entry, parent, base)
        elif entry.kind == KIND_DIR:
            self._directory(entry, parent, base)
        else:
            self._replace(parent, base, keep_dir=False)
            self._make(entry, parent, base)
        self._mark_written(path)

    def finish(self) -> None:
        """Re-apply directory times, which later members in the same directory may follow."""
        for ino, (atime, mtime, ctime) in self.dir_times.items():
            node = self.fs.read_node(ino)
            node.set_time_ns("atime", atime)
            node.set_time_ns("mtime", mtime)
            node.set_time_ns("ctime", ctime)
            self.fs.write_node(node)

    # --- path resolution ----------------------------------------------------------------
    def _resolve_parent(
        self, entry: TarEntry, parts: list[bytes], create: bool
    ) -> tuple[int, Path]:
        """Directory inode and real path for ``parts``, following symlinks inside the root."""
        fs = self.fs
        chain: list[tuple[bytes, int]] = []
        pending = list(reversed(parts))
        hops = 0
        while pending:
            part = pending.pop()
            current = chain[-1][1] if chain else ROOT_INO
            if part == b"..":
                if chain:
                    chain.pop()
                continue
            if part == b".":
                continue
            found = fs.lookup(current, part)
            if found is None:
                if not create:
                    raise ConversionError(
                        f"{self.name}: {entry.display}: {_text(part)} does not exist"
                    )
                ino = self._mkdir_parent(current, part, tuple(n for n, _ in chain))
                chain.append((part, ino))
                continue
            ino, ftype = found
            if ftype == FT_SYMLINK:
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise ConversionError(
                        f"{self.name}: {entry.display}: too many symlinks in the parent path"
                    )
                target = fs.readlink_node(fs.read_node(ino))
                if target.startswith(b"/"):
                    chain.clear()
                pending.extend(reversed([p for p in target.split(b"/") if p]))
                continue
            if ftype != FT_DIR:
                raise ConversionError(
                    f"{self.name}: {entry.display}: parent {_text(part)} is not a directory"
                )
            chain.append((part, ino))
        return (chain[-1][1] if chain else ROOT_INO), tuple(n for n, _ in chain)

    def _mkdir_parent(self, parent: int, name: bytes, parent_path: Path) -> int:
        node = create_node(self.fs, S_IFDIR | 0o755, parent, name)
        self.fs.write_node(node)
        self.stats.directories += 1
        self._mark_written((*parent_path, name))
        return node.ino

    def _mark_written(self, path: Path) -> None:
        self.written.add(path)
        for i in range(len(path)):
            self.written_below.add(path[:i])

    # --- whiteouts ------------------------------------------------------------------------
    def _whiteout(self, entry: TarEntry, parts: list[bytes]) -> None:
        self.stats.whiteouts += 1
        try:
            parent, real = self._resolve_parent(entry, parts[:-1], create=False)
        except ConversionError:
            log.debug("%s: whiteout under a missing directory", entry.display)
            return
        base = parts[-1]
        if base == OPAQUE_MARKER:
            for child in list(self.fs.dirs.get(parent).entries):
                self._remove_lower(parent, child, (*real, child))
            return
        target = base[len(WHITEOUT_PREFIX) :]
        if target and target not in (b".", b"..") and self.fs.lookup(parent, target):
            self._remove_lower(parent, target, (*real, target))

    def _remove_lower(self, parent: int, name: bytes, path: Path) -> None:
        """Delete ``path`` except what this layer wrote (and the directories above that)."""
        found = self.fs.lookup(parent, name)
        if found is None:
            return
        if path not in self.written and path not in self.written_below:
            self._unlink(parent, name)
            return
        ino, ftype = found
        if ftype == FT_DIR:
            for child in list(self.fs.dirs.get(ino).entries):
                self._remove_lower(ino, child, (*path, child))

    def _unlink(self, parent: int, name: bytes) -> None:
        for ino in unlink_tree(self.fs, parent, name):
            self.dir_times.pop(ino, None)

    # --- members ----------------------------------------------------------------------------
    def _replace(self, parent: int, name: bytes, keep_dir: bool) -> int | None:
        """Remove what is at ``name`` unless it is a directory and ``keep_dir``."""
        found = self.fs.lookup(parent, name)
        if found is None:
            return None
        if keep_dir and found[1] == FT_DIR:
            return found[0]
        self._unlink(parent, name)
        return None

    def _directory(self, entry: TarEntry, parent: int, name: bytes) -> None:
        existing = self._replace(parent, name, keep_dir=True)
        fs = self.fs
        if existing is None:
            node = create_node(fs, S_IFDIR | entry.mode, parent, name)
            self.stats.directories += 1
        else:
            node = fs.read_node(existing)
        self._set_metadata(node, entry, merge_xattrs=existing is not None)
        fs.write_node(node)
        self.dir_times[node.ino] = (entry.atime_ns, entry.mtime_ns, entry.ctime_ns)

    def _make(self, entry: TarEntry, parent: int, name: bytes) -> None:
        fs = self.fs
        mode = _TYPE_BITS[entry.kind] | entry.mode
        node = create_node(fs, mode, parent, name)
        where = f"{self.name}: {entry.display}"
        if entry.kind == KIND_FILE:
            assert entry.reader is not None
            write_stream(fs, node, entry.reader, entry.size, where)
            self.stats.files += 1
            self.stats.bytes += entry.size
        elif entry.kind == KIND_SYMLINK:
            self._symlink_body(node, entry.linkname, where)
            self.stats.symlinks += 1
        elif entry.kind in (KIND_CHAR, KIND_BLOCK):
            node.rec.i_block = encode_device(entry.devmajor, entry.devminor)
            self.stats.devices += 1
        self._set_metadata(node, entry, merge_xattrs=False)
        fs.write_node(node)

    def _symlink_body(self, node: Node, target: bytes, where: str) -> None:
        if not target or len(target) > SYMLINK_MAX:
            raise ConversionError(
                f"{where}: symlink target of {len(target)} bytes (allowed 1..{SYMLINK_MAX})"
            )
        if len(target) < 60:
            node.rec.i_block = target.ljust(60, b"\0")
            node.size = len(target)
        else:
            write_bytes(self.fs, node, target)

    def _hardlink(self, entry: TarEntry, parent: int, name: bytes) -> None:
        where = f"{self.name}: {entry.display}"
        # like containerd, a target climbing above the root with ``..`` is clamped to the root
        target_parts = clean_components(entry.linkname)
        if not target_parts:
            raise ConversionError(f"{where}: hardlink to the root directory")
        try:
            target_dir, _ = self._resolve_parent(entry, target_parts[:-1], create=False)
        except ConversionError:
            target_dir = 0
        found = self.fs.lookup(target_dir, target_parts[-1]) if target_dir else None
        if found is None:
            raise ConversionError(
                f"{where}: hardlink target {_text(entry.linkname)} does not exist"
            )
        ino, ftype = found
        if ftype == FT_DIR:
            raise ConversionError(
                f"{where}: hardlink target {_text(entry.linkname)} is a directory"
            )
        existing = self.fs.lookup(parent, name)
        if existing is not None and existing[0] == ino:
            return
        self._replace(parent, name, keep_dir=False)
        node = self.fs.read_node(ino)
        if node.links >= LINK_MAX:
            raise ConversionError(f"{where}: inode {ino} already has {node.links} links")
        node.rec.i_links_count += 1
        # The link member's own header applies to the shared inode, as lchown/chmod/utimes
        # on the new name do for upstream and containerd (§6.4).
        self._set_metadata(node, entry, merge_xattrs=True)
        self.fs.write_node(node)
        self.fs.dirs.add(parent, name, ino, MODE_TO_FT.get(node.kind, 0))
        self.stats.hardlinks += 1

    def _set_metadata(self, node: Node, entry: TarEntry, merge_xattrs: bool) -> None:
        kind = node.mode & S_IFMT
        # symlink(2) makes 0777 and nobody chmods a symlink (upstream skips it, §6.4).
        node.rec.i_mode = kind | (SYMLINK_MODE if kind == S_IFLNK else entry.mode)
        node.set_owner(entry.uid, entry.gid)
        for value in (entry.atime_ns, entry.mtime_ns, entry.ctime_ns):
            if not TIME_MIN_NS <= value <= TIME_MAX_NS:
                log.warning(
                    "%s: %s: time %d s is outside what ext4 stores (1901..2446); clamped",
                    self.name,
                    entry.display,
                    value // 1_000_000_000,
                )
                break
        node.set_time_ns("atime", entry.atime_ns)
        node.set_time_ns("mtime", entry.mtime_ns)
        node.set_time_ns("ctime", entry.ctime_ns)
        xattrs = entry.xattrs
        if xattrs and kind not in (S_IFREG, S_IFDIR):
            # The kernel refuses user.* attributes on other inode types (EPERM), so
            # upstream and containerd end up without them.
            xattrs = {k: v for k, v in xattrs.items() if not k.startswith(USER_XATTR_PREFIX)}
        if xattrs:
            attrs = self.fs.xattrs_node(node) if merge_xattrs else {}
            attrs.update(xattrs)
            set_xattrs(self.fs, node, attrs, f"{self.name}: {entry.display}")


def _text(name: bytes) -> str:
    return repr(name.decode("utf-8", "backslashreplace"))


__all__ = ["ApplyStats", "OverlayBDError", "apply_layer", "clean_components"]
