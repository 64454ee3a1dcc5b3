"""Reading what a converted image actually contains: its ext4, or a mounted directory.

Both readers produce the same ``{path: Record}`` map as the expected-tree model.
Content is hashed in chunks, once per inode (hardlinks are not read twice).
"""

from __future__ import annotations

import hashlib
import os
import stat

from ..ext4 import Filesystem
from ..ext4.fileio import Ext4File
from ..ext4.filesystem import Stat
from .record import (
    KIND_BLOCK,
    KIND_CHAR,
    KIND_DIR,
    KIND_FIFO,
    KIND_FILE,
    KIND_SOCKET,
    KIND_SYMLINK,
    Record,
    Tree,
    join,
)

CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISREG, KIND_FILE),
    (stat.S_ISDIR, KIND_DIR),
    (stat.S_ISLNK, KIND_SYMLINK),
    (stat.S_ISCHR, KIND_CHAR),
    (stat.S_ISBLK, KIND_BLOCK),
    (stat.S_ISFIFO, KIND_FIFO),
    (stat.S_ISSOCK, KIND_SOCKET),
)


def kind_of(mode: int) -> str:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return f"unknown type 0o{stat.S_IFMT(mode):o}"


def _text(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def _hash_ext4(handle: Ext4File) -> str:
    digest = hashlib.sha256()
    for offset in range(0, handle.size, CHUNK):
        digest.update(handle.pread(offset, CHUNK))
    return digest.hexdigest()


def _hash_host(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_filesystem(fs: Filesystem) -> Tree:
    """Every path of an ext4 filesystem (read through our reader) as records."""
    tree: Tree = {}
    hashes: dict[int, str] = {}
    pending: list[tuple[str, int]] = [("/", fs.resolve("/"))]
    while pending:
        path, ino = pending.pop()
        node = fs.read_node(ino)
        info = fs.stat_node(node)
        record = _record(info.st_mode, info)
        if record.kind == KIND_FILE:
            if ino not in hashes:
                hashes[ino] = _hash_ext4(fs.open_node(node))
            record.sha256 = hashes[ino]
        elif record.kind == KIND_SYMLINK:
            record.target = _text(fs.readlink_node(node))
        record.xattrs = fs.xattrs_node(node)
        tree[path] = record
        if record.kind == KIND_DIR:
            children = sorted((n, i) for n, (i, _) in fs.dirs.get(ino).entries.items())
            pending.extend((join(path, _text(name)), child) for name, child in reversed(children))
    return tree


def _record(mode: int, info: Stat | os.stat_result) -> Record:
    kind = kind_of(mode)
    record = Record(
        kind=kind,
        mode=stat.S_IMODE(mode),
        uid=info.st_uid,
        gid=info.st_gid,
        mtime_ns=info.st_mtime_ns,
        link_id=info.st_ino,
    )
    if kind in (KIND_FILE, KIND_SYMLINK):
        record.size = info.st_size
    if kind in (KIND_CHAR, KIND_BLOCK):
        if isinstance(info, os.stat_result):
            record.rdev = (os.major(info.st_rdev), os.minor(info.st_rdev))
        else:
            record.rdev = (info.st_rdev_major, info.st_rdev_minor)
    return record


def scan_directory(root: str | os.PathLike[str]) -> Tree:
    """Every path under a host directory (e.g. a mounted image), without following symlinks."""
    top = os.fspath(root)
    tree: Tree = {}
    hashes: dict[tuple[int, int], str] = {}
    pending = ["/"]
    while pending:
        path = pending.pop()
        host = top if path == "/" else top + path
        info = os.lstat(host)
        record = _record(info.st_mode, info)
        if record.kind == KIND_FILE:
            key = (info.st_dev, info.st_ino)
            if key not in hashes:
                hashes[key] = _hash_host(host)
            record.sha256 = hashes[key]
        elif record.kind == KIND_SYMLINK:
            record.target = os.readlink(host)
        record.xattrs = {
            name: os.getxattr(host, name, follow_symlinks=False)
            for name in os.listxattr(host, follow_symlinks=False)
        }
        tree[path] = record
        if record.kind == KIND_DIR:
            names = sorted(os.listdir(host), reverse=True)
            pending.extend(join(path, name) for name in names)
    return tree
