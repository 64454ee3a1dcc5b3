"""Trees in the format of upstream's ``fixtures/reference/apply/tree-*.txt``, and exports.

A tree line is ``PATH type=T mode=0NNN uid=U gid=G size=S links=L ino=I mtime=M`` followed
by ``sha256=…`` (files), ``target=…`` (symlinks) and ``xattrs[Extended attributes: NAME
(LEN) = "VALUE" …]`` when present; directory sizes are left empty. Trees are compared
with inode numbers replaced by hardlink groups, so the allocator is free to differ.
"""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

from overlaybd_py.ext4 import Filesystem
from overlaybd_py.io import ByteSource

Record = dict[str, str]
Tree = dict[str, Record]

CHUNK = 4 << 20
_FIELD = re.compile(r" (type|mode|uid|gid|size|links|ino|mtime|sha256|target)=(\S*)")
_XATTR = re.compile(r'(\S+) \((\d+)\) = "(.*?)"')
_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
    stat.S_IFSOCK: "socket",
}
_E2FSCK_SUMMARY = re.compile(r"(\d+)/(\d+) files .* (\d+)/(\d+) blocks")


def parse_tree_file(path: Path) -> Tree:
    tree: Tree = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        head, _, xattrs = line.partition(" xattrs[")
        name, _, rest = head.partition(" type=")
        record = dict(_FIELD.findall(" type=" + rest))
        if xattrs:
            record["xattrs"] = ";".join(f"{n}={v}" for n, _, v in _XATTR.findall(xattrs))
        tree[name] = record
    return tree


def read_tree(fs: Filesystem) -> Tree:
    """The same fields, read with our ext4 reader."""
    tree: Tree = {}
    for top, dirs, files in fs.walk():
        for name in dirs + files:
            path = f"{top.rstrip('/')}/{name}"
            st = fs.stat(path)
            kind = _KINDS[stat.S_IFMT(st.st_mode)]
            record = {
                "type": kind,
                "mode": f"{stat.S_IMODE(st.st_mode):04o}",
                "uid": str(st.st_uid),
                "gid": str(st.st_gid),
                "size": "" if kind == "dir" else str(st.st_size),
                "links": str(st.st_nlink),
                "ino": str(st.st_ino),
                "mtime": str(st.st_mtime_ns // 1_000_000_000),
            }
            if kind == "file":
                record["sha256"] = hashlib.sha256(fs.open(path).read()).hexdigest()
            elif kind == "symlink":
                record["target"] = fs.readlink(path)
            attrs = fs.xattrs(path)
            if attrs:
                record["xattrs"] = ";".join(
                    f"{n}={v.decode('utf-8', 'backslashreplace')}" for n, v in sorted(attrs.items())
                )
            tree[path] = record
    return tree


def by_link_group(tree: Tree) -> Tree:
    """The tree with each inode number replaced by the first path that names the inode."""
    first: dict[str, str] = {}
    for path in sorted(tree):
        first.setdefault(tree[path]["ino"], path)
    return {path: {**rec, "ino": first[rec["ino"]]} for path, rec in tree.items()}


def export(top: ByteSource, ranges: Iterable[tuple[int, int]], image: Path) -> Path:
    """Write ``ranges`` of ``top`` into a sparse raw image (all-zero chunks stay holes)."""
    with open(image, "wb") as out:
        out.truncate(top.size)
        for offset, length in sorted(set(ranges)):
            end = min(offset + length, top.size)
            for at in range(offset, end, CHUNK):
                data = top.pread(at, min(CHUNK, end - at))
                if data.count(0) != len(data):
                    out.seek(at)
                    out.write(data)
    return image


def e2fsck_counts(image: Path) -> tuple[int, int]:
    """Run ``e2fsck -fn``; it must exit 0. Returns (inodes used, blocks used)."""
    proc = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    assert proc.returncode == 0, f"e2fsck exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    match = _E2FSCK_SUMMARY.search(proc.stdout)
    assert match, proc.stdout
    return int(match.group(1)), int(match.group(3))


def summary_counts(lines: list[str]) -> tuple[int, int]:
    """(inodes used, blocks used) from an e2fsck summary line recorded in ``apply.json``."""
    match = _E2FSCK_SUMMARY.search(" ".join(lines))
    assert match, lines
    return int(match.group(1)), int(match.group(3))
