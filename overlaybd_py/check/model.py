"""The tree a stack of OCI layer tars defines, built in memory without any filesystem.

This is the reference a converted image is checked against, so it is written
from the rules alone (OCI image-spec "Representing Changes", spec §6.4) and
shares no code with the ext4 applier:

* names are cleaned (``//``, ``.``, absolute names; ``..`` stops at the root);
  a member naming the root is skipped, so the root keeps mkfs's metadata;
* symlinks in parent components are followed inside the tree; missing parents
  appear as 0755 root-owned directories with time 0;
* ``.wh.NAME`` removes NAME and ``.wh..wh..opq`` empties its directory, both
  sparing what the same layer already wrote (whiteouts hide lower layers only);
* a later member replaces an earlier one, a directory over a directory keeps
  the children and takes the new metadata (xattrs are merged), anything else
  replaces the old entry and its subtree;
* a hardlink names the target's inode; its header's owner, mode, time and
  xattrs are applied to that shared inode, as ``lchown``/``chmod`` on the new
  name would;
* a symlink's permissions are always 0777 (nothing chmods a symlink);
* ``user.*`` xattrs exist only on regular files and directories (the kernel
  refuses them elsewhere, and upstream's applier ignores that refusal).

Memory is a few hundred bytes per entry; file content is only hashed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import FormatError
from .record import KIND_DIR, KIND_FILE, KIND_SYMLINK, Record, Tree, join

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
IMPLIED_DIR_MODE = 0o755
SYMLINK_MODE = 0o777
"""Symlinks are never chmod'ed (Linux has no lchmod), so they keep the 0777 of symlink(2)."""
MAX_SYMLINK_HOPS = 40
_USER_XATTR = "user."

_serials = itertools.count(1)


@dataclass(eq=False)
class Inode:
    """One file object; several names may share it (hardlinks), a directory has one."""

    kind: str
    mode: int
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    mtime_precise: bool = True
    size: int | None = None
    sha256: str | None = None
    target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] = field(default_factory=dict)
    children: dict[str, Inode] | None = None
    serial: int = field(default_factory=lambda: next(_serials))

    @property
    def is_dir(self) -> bool:
        return self.kind == KIND_DIR


@dataclass
class Member:
    """A tar member reduced to what the rules need (content already hashed)."""

    index: int
    name: str
    kind: str
    """One of the record kinds, or ``hardlink``."""
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    mtime_precise: bool
    size: int = 0
    sha256: str | None = None
    linkname: str = ""
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] = field(default_factory=dict)


KIND_HARDLINK = "hardlink"

Components = tuple[str, ...]


def clean(name: str) -> list[str]:
    """Root-relative components of a member name; ``..`` never climbs above the root."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


class TreeModel:
    """The merged tree of the layers applied so far."""

    def __init__(self) -> None:
        self.root = Inode(KIND_DIR, IMPLIED_DIR_MODE, children={})
        self._layer = "layer"
        self._written: set[Components] = set()
        self._above_written: set[Components] = set()

    # --- layers ---------------------------------------------------------------------------
    def begin_layer(self, name: str) -> None:
        """Start a new layer: whiteouts from now on spare only what this layer writes."""
        self._layer = name
        self._written.clear()
        self._above_written.clear()

    def apply(self, member: Member) -> None:
        """Apply one member of the current layer."""
        parts = clean(member.name)
        if not parts:
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(member, parts)
            return
        parent, real = self._resolve_dir(member, parts[:-1], create=True)
        assert parent is not None
        if member.kind == KIND_HARDLINK:
            self._hardlink(member, parent, base)
        elif member.kind == KIND_DIR:
            self._directory(member, parent, base)
        else:
            self._remove(parent, base)
            parent_children(parent)[base] = self._new_inode(member)
        self._mark((*real, base))

    # --- resolving paths ----------------------------------------------------------------------
    def _resolve_dir(
        self, member: Member, parts: list[str], create: bool
    ) -> tuple[Inode | None, Components]:
        """The directory ``parts`` names, following symlinks inside the tree, and its real path.

        Returns ``(None, ())`` when ``create`` is false and the path does not lead to a
        directory; with ``create``, missing directories are implied and a non-directory
        in the way is an error.
        """
        chain: list[tuple[str, Inode]] = []
        pending = list(reversed(parts))
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if chain:
                    chain.pop()
                continue
            current = chain[-1][1] if chain else self.root
            child = parent_children(current).get(part)
            if child is None:
                if not create:
                    return None, ()
                child = Inode(KIND_DIR, IMPLIED_DIR_MODE, children={})
                parent_children(current)[part] = child
                self._mark((*(n for n, _ in chain), part))
            elif child.kind == KIND_SYMLINK:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise FormatError(
                        f"{self._where(member)}: more than {MAX_SYMLINK_HOPS} symlinks in the "
                        "parent path"
                    )
                target = child.target or ""
                if target.startswith("/"):
                    chain.clear()
                pending.extend(reversed(target.split("/")))
                continue
            elif not child.is_dir:
                if not create:
                    return None, ()
                path = "/".join([*(n for n, _ in chain), part])
                raise FormatError(
                    f"{self._where(member)}: parent /{path} is a {child.kind}, not a directory"
                )
            chain.append((part, child))
        return (chain[-1][1] if chain else self.root), tuple(n for n, _ in chain)

    def _mark(self, path: Components) -> None:
        self._written.add(path)
        for depth in range(len(path)):
            self._above_written.add(path[:depth])

    def _where(self, member: Member) -> str:
        return f"{self._layer}: member {member.index} {member.name!r}"

    # --- whiteouts -------------------------------------------------------------------------------
    def _whiteout(self, member: Member, parts: list[str]) -> None:
        parent, real = self._resolve_dir(member, parts[:-1], create=False)
        if parent is None:
            return
        base = parts[-1]
        children = parent_children(parent)
        if base == OPAQUE_MARKER:
            for name in list(children):
                self._remove_lower(parent, name, (*real, name))
            return
        name = base[len(WHITEOUT_PREFIX) :]
        if name not in ("", ".", "..") and name in children:
            self._remove_lower(parent, name, (*real, name))

    def _remove_lower(self, parent: Inode, name: str, path: Components) -> None:
        """Remove ``path`` but keep whatever this layer wrote at or below it."""
        if path not in self._written and path not in self._above_written:
            del parent_children(parent)[name]
            return
        child = parent_children(parent)[name]
        if child.is_dir:
            for grandchild in list(parent_children(child)):
                self._remove_lower(child, grandchild, (*path, grandchild))

    # --- members ------------------------------------------------------------------------------
    def _remove(self, parent: Inode, name: str) -> None:
        parent_children(parent).pop(name, None)

    def _directory(self, member: Member, parent: Inode, name: str) -> None:
        existing = parent_children(parent).get(name)
        if existing is not None and existing.is_dir:
            self._set_metadata(existing, member, merge_xattrs=True)
            return
        parent_children(parent)[name] = self._new_inode(member)

    def _new_inode(self, member: Member) -> Inode:
        inode = Inode(member.kind, 0)
        if member.kind == KIND_DIR:
            inode.children = {}
        elif member.kind == KIND_FILE:
            inode.size, inode.sha256 = member.size, member.sha256
        elif member.kind == KIND_SYMLINK:
            inode.target = member.linkname
            inode.size = len(member.linkname.encode("utf-8", "surrogateescape"))
        inode.rdev = member.rdev
        self._set_metadata(inode, member, merge_xattrs=False)
        return inode

    def _hardlink(self, member: Member, parent: Inode, name: str) -> None:
        parts = clean(member.linkname)
        target_dir = self._resolve_dir(member, parts[:-1], create=False)[0] if parts else None
        target = parent_children(target_dir).get(parts[-1]) if target_dir is not None else None
        if target is None:
            raise FormatError(
                f"{self._where(member)}: hardlink target {member.linkname!r} does not exist"
            )
        if target.is_dir:
            raise FormatError(
                f"{self._where(member)}: hardlink target {member.linkname!r} is a directory"
            )
        if parent_children(parent).get(name) is not target:
            self._remove(parent, name)
            parent_children(parent)[name] = target
        self._set_metadata(target, member, merge_xattrs=True)

    def _set_metadata(self, inode: Inode, member: Member, merge_xattrs: bool) -> None:
        inode.mode = SYMLINK_MODE if inode.kind == KIND_SYMLINK else member.mode
        inode.uid, inode.gid = member.uid, member.gid
        inode.mtime_ns, inode.mtime_precise = member.mtime_ns, member.mtime_precise
        attrs = dict(member.xattrs)
        if inode.kind not in (KIND_FILE, KIND_DIR):
            attrs = {k: v for k, v in attrs.items() if not k.startswith(_USER_XATTR)}
        inode.xattrs = {**inode.xattrs, **attrs} if merge_xattrs else attrs

    # --- the result ------------------------------------------------------------------------------
    def walk(self) -> Iterator[tuple[str, Inode]]:
        """Every path with its inode, parents before children, names sorted."""
        pending: list[tuple[str, Inode]] = [("/", self.root)]
        while pending:
            path, inode = pending.pop()
            yield path, inode
            if inode.children:
                pending.extend(
                    (join(path, name), inode.children[name])
                    for name in sorted(inode.children, reverse=True)
                )

    def records(self) -> Tree:
        """The tree as ``{path: Record}``, hardlinks sharing one ``link_id``."""
        return {path: to_record(inode) for path, inode in self.walk()}


def parent_children(inode: Inode | None) -> dict[str, Inode]:
    assert inode is not None and inode.children is not None
    return inode.children


def to_record(inode: Inode) -> Record:
    return Record(
        kind=inode.kind,
        mode=inode.mode,
        uid=inode.uid,
        gid=inode.gid,
        mtime_ns=inode.mtime_ns,
        link_id=inode.serial,
        size=inode.size,
        sha256=inode.sha256,
        target=inode.target,
        rdev=inode.rdev,
        xattrs=dict(inode.xattrs),
        mtime_precise=inode.mtime_precise,
    )
