"""Reading an OCI layer tar as a stream of normalised entries.

Python's ``tarfile`` in stream mode parses ustar, GNU long names/links, base-256
numbers and PAX records; here its members become :class:`TarEntry` values with
times in exact nanoseconds (parsed from the PAX strings, not via float) and the
``SCHILY.xattr.*`` / ``LIBARCHIVE.xattr.*`` values as the original bytes.
"""

from __future__ import annotations

import base64
import tarfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import ConversionError

KIND_FILE = "file"
KIND_DIR = "dir"
KIND_SYMLINK = "symlink"
KIND_HARDLINK = "hardlink"
KIND_CHAR = "char"
KIND_BLOCK = "block"
KIND_FIFO = "fifo"

_KINDS = {
    tarfile.REGTYPE: KIND_FILE,
    tarfile.AREGTYPE: KIND_FILE,
    tarfile.CONTTYPE: KIND_FILE,
    tarfile.DIRTYPE: KIND_DIR,
    tarfile.SYMTYPE: KIND_SYMLINK,
    tarfile.LNKTYPE: KIND_HARDLINK,
    tarfile.CHRTYPE: KIND_CHAR,
    tarfile.BLKTYPE: KIND_BLOCK,
    tarfile.FIFOTYPE: KIND_FIFO,
}
_SCHILY = "SCHILY.xattr."
_LIBARCHIVE = "LIBARCHIVE.xattr."
_NS = 1_000_000_000


def parse_pax_time(text: str, where: str) -> int:
    """Nanoseconds from a PAX decimal time such as ``1683221800.123456789``."""
    raw = text.strip()
    negative = raw.startswith("-")
    whole, _, frac = raw.lstrip("+-").partition(".")
    if not whole.isdigit() and not (whole == "" and frac.isdigit()):
        raise ConversionError(f"{where}: PAX time {text!r} is not a decimal number")
    if frac and not frac.isdigit():
        raise ConversionError(f"{where}: PAX time {text!r} is not a decimal number")
    ns = int(whole or "0") * _NS + int((frac + "000000000")[:9])
    return -ns if negative else ns


@dataclass
class TarEntry:
    """One tar member, already decoded; ``reader`` yields the data of regular files."""

    index: int
    name: bytes
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    atime_ns: int
    ctime_ns: int
    linkname: bytes
    devmajor: int
    devminor: int
    xattrs: dict[str, bytes] = field(default_factory=dict)
    reader: BinaryIO | None = None

    @property
    def display(self) -> str:
        return f"member {self.index} {self.name.decode('utf-8', 'backslashreplace')!r}"


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _xattrs(pax: dict[str, str]) -> dict[str, bytes]:
    attrs: dict[str, bytes] = {}
    for key, value in pax.items():
        if key.startswith(_SCHILY):
            attrs[key[len(_SCHILY) :]] = _encode(value)
        elif key.startswith(_LIBARCHIVE):
            name = urllib.parse.unquote(key[len(_LIBARCHIVE) :])
            attrs[name] = base64.b64decode(value + "=" * (-len(value) % 4))
    return attrs


def _entry(index: int, info: tarfile.TarInfo, tar: tarfile.TarFile) -> TarEntry:
    where = f"layer tar member {index} {info.name!r}"
    kind = _KINDS.get(info.type)
    if kind is None:
        raise ConversionError(f"{where}: unsupported tar entry type {info.type!r}")
    pax = info.pax_headers
    mtime = parse_pax_time(pax["mtime"], where) if "mtime" in pax else int(info.mtime) * _NS
    atime = parse_pax_time(pax["atime"], where) if "atime" in pax else mtime
    ctime = parse_pax_time(pax["ctime"], where) if "ctime" in pax else mtime
    reader = tar.extractfile(info) if kind == KIND_FILE else None
    return TarEntry(
        index=index,
        name=_encode(info.name),
        kind=kind,
        mode=info.mode & 0o7777,
        uid=info.uid,
        gid=info.gid,
        size=info.size if kind == KIND_FILE else 0,
        mtime_ns=mtime,
        atime_ns=atime,
        ctime_ns=ctime,
        linkname=_encode(info.linkname),
        devmajor=info.devmajor,
        devminor=info.devminor,
        xattrs=_xattrs(dict(pax)),
        reader=reader,  # type: ignore[arg-type]
    )


def iter_entries(stream: BinaryIO, name: str = "<layer>") -> Iterator[TarEntry]:
    """The members of an uncompressed tar stream, in order, read strictly sequentially."""
    try:
        tar = tarfile.open(fileobj=stream, mode="r|", errorlevel=2)  # noqa: SIM115
    except tarfile.TarError as exc:
        raise ConversionError(f"{name}: not a tar stream: {exc}") from None
    index = 0
    while True:
        try:
            info = tar.next()
        except tarfile.TarError as exc:
            raise ConversionError(f"{name}: bad tar header after member {index}: {exc}") from None
        if info is None:
            break
        tar.members.clear()  # type: ignore[attr-defined]  # stream mode needs no history; keeps memory flat
        try:
            yield _entry(index, info, tar)
        except tarfile.TarError as exc:
            raise ConversionError(f"{name}: tar member {index} {info.name!r}: {exc}") from None
        index += 1
