"""Comparing two ``{path: Record}`` maps field by field, both ways.

Every difference becomes one :class:`Difference` with printable values. A path
whose type differs reports only that (its other fields mean different things).
Hardlink groups are compared as sets of the *other* names sharing the inode, so
the inode numbers themselves never matter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .record import KIND_DIR, NS_PER_SECOND, Record, Tree

LOST_AND_FOUND = "/lost+found"
"""mkfs creates it; the layers never mention it, so it is not a difference."""
ROOT = "/"

ABSENT = "absent"


@dataclass(frozen=True)
class Difference:
    """One way the image differs from the source at ``path``."""

    path: str
    field: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: expected {self.expected}, found {self.found}"


def show_bytes(value: bytes) -> str:
    """Printable text as a quoted string, anything else as hex."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return repr(text)
    return f"0x{value.hex()}"


def _groups(tree: Tree) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = defaultdict(list)
    for path, record in tree.items():
        if record.kind != KIND_DIR:
            groups[record.link_id].append(path)
    return groups


def _mtime(expected: Record, found: Record) -> tuple[str, str] | None:
    if expected.mtime_precise:
        if expected.mtime_ns != found.mtime_ns:
            return str(expected.mtime_ns), str(found.mtime_ns)
        return None
    want, got = expected.mtime_ns // NS_PER_SECOND, found.mtime_ns // NS_PER_SECOND
    return (str(want), str(got)) if want != got else None


def _fields(path: str, expected: Record, found: Record) -> list[Difference]:
    if expected.kind != found.kind:
        return [Difference(path, "type", expected.kind, found.kind)]
    out: list[Difference] = []

    def differ(name: str, want: object, got: object) -> None:
        if want != got:
            out.append(Difference(path, name, str(want), str(got)))

    differ("mode", f"{expected.mode:04o}", f"{found.mode:04o}")
    differ("uid", expected.uid, found.uid)
    differ("gid", expected.gid, found.gid)
    if expected.size is not None:
        differ("size", expected.size, found.size)
    if expected.sha256 is not None:
        differ("sha256", expected.sha256, found.sha256)
    if expected.target is not None:
        differ("target", repr(expected.target), repr(found.target))
    if expected.rdev is not None:
        differ("rdev", _rdev(expected.rdev), _rdev(found.rdev))
    for name in sorted(expected.xattrs.keys() | found.xattrs.keys()):
        want, got = expected.xattrs.get(name), found.xattrs.get(name)
        if want != got:
            out.append(
                Difference(
                    path,
                    f"xattr {name}",
                    ABSENT if want is None else show_bytes(want),
                    ABSENT if got is None else show_bytes(got),
                )
            )
    mtime = _mtime(expected, found) if path != ROOT else None
    if mtime is not None:
        out.append(Difference(path, "mtime", *mtime))
    return out


def compare_trees(expected: Tree, found: Tree) -> list[Difference]:
    """Every difference between the expected tree and the one found, sorted by path.

    The root's time is not compared (mkfs sets it; a member naming the root is
    skipped), and ``/lost+found`` in the image is ignored unless the source has it.
    """
    differences: list[Difference] = []
    want_groups, got_groups = _groups(expected), _groups(found)
    for path in sorted(expected.keys() | found.keys()):
        want, got = expected.get(path), found.get(path)
        if want is None:
            assert got is not None
            if path == LOST_AND_FOUND and got.kind == KIND_DIR:
                continue
            if _inside_lost_and_found(path, expected):
                continue
            differences.append(Difference(path, "path", ABSENT, got.kind))
            continue
        if got is None:
            differences.append(Difference(path, "path", want.kind, ABSENT))
            continue
        differences.extend(_fields(path, want, got))
        if want.kind != KIND_DIR and want.kind == got.kind:
            others_want = sorted(p for p in want_groups[want.link_id] if p != path)
            others_got = sorted(p for p in got_groups[got.link_id] if p != path)
            if others_want != others_got:
                differences.append(
                    Difference(path, "hardlinks", _names(others_want), _names(others_got))
                )
    return differences


def _inside_lost_and_found(path: str, expected: Tree) -> bool:
    return path.startswith(LOST_AND_FOUND + "/") and LOST_AND_FOUND not in expected


def _rdev(rdev: tuple[int, int] | None) -> str:
    return ABSENT if rdev is None else f"{rdev[0]},{rdev[1]}"


def _names(paths: list[str]) -> str:
    return "[" + ", ".join(paths) + "]" if paths else "none"
