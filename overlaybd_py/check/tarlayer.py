"""Reading a layer tar into the expected-tree model, hashing file content as it streams by.

``tarfile`` in stream mode does the header parsing (ustar, GNU long names,
base-256 numbers, PAX); this module only turns each member into a
:class:`~.model.Member`: exact nanoseconds from PAX time strings, and
``SCHILY.xattr.*`` values as the original bytes (tarfile decodes PAX values
that are not UTF-8 with surrogate escapes, which encode back losslessly).
"""

from __future__ import annotations

import hashlib
import tarfile
from typing import BinaryIO

from ..errors import FormatError
from .model import KIND_HARDLINK, Member, TreeModel
from .record import (
    KIND_BLOCK,
    KIND_CHAR,
    KIND_DIR,
    KIND_FIFO,
    KIND_FILE,
    KIND_SYMLINK,
    NS_PER_SECOND,
)

CHUNK = 1 << 20
XATTR_PREFIX = "SCHILY.xattr."

_KINDS = {
    tarfile.REGTYPE: KIND_FILE,
    tarfile.AREGTYPE: KIND_FILE,
    tarfile.CONTTYPE: KIND_FILE,
    tarfile.GNUTYPE_SPARSE: KIND_FILE,
    tarfile.DIRTYPE: KIND_DIR,
    tarfile.SYMTYPE: KIND_SYMLINK,
    tarfile.LNKTYPE: KIND_HARDLINK,
    tarfile.CHRTYPE: KIND_CHAR,
    tarfile.BLKTYPE: KIND_BLOCK,
    tarfile.FIFOTYPE: KIND_FIFO,
}


def raw(text: str) -> bytes:
    """The bytes tarfile decoded into ``text`` (UTF-8, surrogate escapes for the rest)."""
    return text.encode("utf-8", "surrogateescape")


def pax_time_ns(text: str, where: str) -> tuple[int, bool]:
    """``("1683221800.5", …)`` → ``(1683221800500000000, True)``: nanoseconds, had a fraction."""
    value = text.strip()
    sign = -1 if value.startswith("-") else 1
    whole, dot, fraction = value.lstrip("+-").partition(".")
    if not (whole or fraction) or not (whole + fraction).isdigit():
        raise FormatError(f"{where}: PAX mtime {text!r} is not a decimal number")
    ns = int(whole or "0") * NS_PER_SECOND + int(fraction[:9].ljust(9, "0") or "0")
    return sign * ns, bool(dot and fraction.strip("0"))


def _hash(tar: tarfile.TarFile, info: tarfile.TarInfo) -> str:
    digest = hashlib.sha256()
    handle = tar.extractfile(info)
    if handle is not None:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def to_member(index: int, info: tarfile.TarInfo, tar: tarfile.TarFile, where: str) -> Member:
    """One tar header (and the content after it, for regular files) as a model member."""
    kind = _KINDS.get(info.type)
    if kind is None:
        raise FormatError(f"{where}: member {index} {info.name!r} has tar type {info.type!r}")
    pax = info.pax_headers
    if "mtime" in pax:
        mtime_ns, precise = pax_time_ns(pax["mtime"], f"{where}: member {index}")
    else:
        mtime_ns, precise = int(info.mtime) * NS_PER_SECOND, False
    member = Member(
        index=index,
        name=info.name,
        kind=kind,
        mode=info.mode & 0o7777,
        uid=info.uid,
        gid=info.gid,
        mtime_ns=mtime_ns,
        mtime_precise=precise,
        linkname=info.linkname,
        xattrs={
            key[len(XATTR_PREFIX) :]: raw(value)
            for key, value in pax.items()
            if key.startswith(XATTR_PREFIX)
        },
    )
    if kind == KIND_FILE:
        member.size, member.sha256 = info.size, _hash(tar, info)
    elif kind in (KIND_CHAR, KIND_BLOCK):
        member.rdev = (info.devmajor, info.devminor)
    return member


def apply_tar(model: TreeModel, stream: BinaryIO, where: str) -> int:
    """Apply an uncompressed layer tar to ``model``; returns the number of members."""
    model.begin_layer(where)
    try:
        tar = tarfile.open(fileobj=stream, mode="r|", errorlevel=2)  # noqa: SIM115
    except tarfile.TarError as exc:
        raise FormatError(f"{where}: not a tar stream: {exc}") from None
    index = 0
    while True:
        try:
            info = tar.next()
            if info is None:
                break
            tar.members.clear()  # type: ignore[attr-defined] # stream mode keeps no history; memory stays flat
            member = to_member(index, info, tar, where)
        except (tarfile.TarError, EOFError) as exc:
            raise FormatError(f"{where}: bad tar data at member {index}: {exc}") from None
        model.apply(member)
        index += 1
    while stream.read(CHUNK):  # the stream's digest check runs at its end
        pass
    return index
