"""Test inputs: layer tars built member by member, and OCI layouts holding them.

The layout writer here is deliberately tiny and independent of ``overlaybd_py.oci``
(it writes the JSON files by hand), so a source image never depends on the code
under test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

MTIME = 1_700_000_000


def surrogate(value: bytes) -> str:
    """A PAX value tarfile writes back as exactly these bytes."""
    return value.decode("utf-8", "surrogateescape")


class LayerTar:
    """A layer tar built in memory, one member at a time (PAX format)."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

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
        pax_mtime: str | None = None,
        linkname: str = "",
        rdev: tuple[int, int] = (0, 0),
        xattrs: dict[str, bytes] | None = None,
    ) -> LayerTar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, mtime
        info.linkname = linkname
        info.devmajor, info.devminor = rdev
        pax = {f"SCHILY.xattr.{k}": surrogate(v) for k, v in (xattrs or {}).items()}
        if pax_mtime is not None:
            pax["mtime"] = pax_mtime
        info.pax_headers = pax
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


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put(root: Path, data: bytes) -> dict[str, object]:
    digest = _digest(data)
    path = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_layout(
    root: Path, layers: list[bytes], tag: str = "latest", compress: bool = True
) -> str:
    """An OCI layout at ``root`` whose image ``tag`` has ``layers``; returns ``oci:ROOT:TAG``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layer_type = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
    descriptors = [
        {"mediaType": layer_type, **_put(root, gzip.compress(t, mtime=0) if compress else t)}
        for t in layers
    ]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in layers]},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_put(root, json.dumps(config).encode()),
        },
        "layers": descriptors,
    }
    manifest_descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_put(root, json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    index_path = root / "index.json"
    index = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"] = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ] + [manifest_descriptor]
    index_path.write_text(json.dumps(index))
    return f"oci:{root}:{tag}"
