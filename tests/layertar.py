"""Layer tars built in memory, one member at a time, for every test area."""

from __future__ import annotations

import io
import tarfile

MTIME = 1_700_000_000


def surrogate(value: bytes) -> str:
    """A PAX value tarfile writes back as exactly these bytes (binary xattrs)."""
    return value.decode("utf-8", "surrogateescape")


class LayerTar:
    """A layer tar (PAX format unless told otherwise); ``bytes()`` closes and returns it."""

    def __init__(self, fmt: int = tarfile.PAX_FORMAT) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=fmt)  # noqa: SIM115

    def add(
        self,
        name: str,
        kind: bytes = tarfile.REGTYPE,
        data: bytes = b"",
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = MTIME,
        linkname: str = "",
        devmajor: int = 0,
        devminor: int = 0,
        rdev: tuple[int, int] | None = None,
        xattrs: dict[str, bytes] | None = None,
        pax_mtime: str | None = None,
        pax: dict[str, str] | None = None,
    ) -> LayerTar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, mtime
        info.linkname = linkname
        info.devmajor, info.devminor = rdev if rdev is not None else (devmajor, devminor)
        headers = {f"SCHILY.xattr.{k}": surrogate(v) for k, v in (xattrs or {}).items()}
        if pax_mtime is not None:
            headers["mtime"] = pax_mtime
        headers.update(pax or {})
        if headers:
            info.pax_headers = headers
        self._tar.addfile(info, io.BytesIO(data) if info.size else None)
        return self

    def file(self, name: str, data: bytes = b"", **kw: object) -> LayerTar:
        return self.add(name, tarfile.REGTYPE, data, **kw)  # type: ignore[arg-type]

    def dir(self, name: str, **kw: object) -> LayerTar:
        kw.setdefault("mode", 0o755)
        return self.add(name, tarfile.DIRTYPE, **kw)  # type: ignore[arg-type]

    def symlink(self, name: str, target: str, **kw: object) -> LayerTar:
        kw.setdefault("mode", 0o777)
        return self.add(name, tarfile.SYMTYPE, linkname=target, **kw)  # type: ignore[arg-type]

    def hardlink(self, name: str, target: str, **kw: object) -> LayerTar:
        return self.add(name, tarfile.LNKTYPE, linkname=target, **kw)  # type: ignore[arg-type]

    def device(self, name: str, kind: bytes, rdev: tuple[int, int], **kw: object) -> LayerTar:
        return self.add(name, kind, rdev=rdev, **kw)  # type: ignore[arg-type]

    def fifo(self, name: str, **kw: object) -> LayerTar:
        return self.add(name, tarfile.FIFOTYPE, **kw)  # type: ignore[arg-type]

    def whiteout(self, path: str) -> LayerTar:
        head, _, base = path.rpartition("/")
        return self.file(f"{head}/.wh.{base}" if head else f".wh.{base}")

    def opaque(self, directory: str) -> LayerTar:
        return self.file(f"{directory.rstrip('/')}/.wh..wh..opq")

    def bytes(self) -> bytes:
        self._tar.close()
        return self._buf.getvalue()
