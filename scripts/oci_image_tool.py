#!/usr/bin/env python3
"""Build OCI layers by diffing directory trees, and write an OCI image layout.

Used by ``build-debian-image.sh``; standard library only, so it runs before the
project is installed and shares no code with the converter it feeds.

    oci_image_tool.py snapshot DIR SNAPSHOT          record DIR's state (JSON lines)
    oci_image_tool.py diff SNAPSHOT DIR LAYER.tar [--opaque PATH]...
                                                     the OCI layer turning SNAPSHOT into DIR
    oci_image_tool.py layout OUTDIR TAG LAYER.tar... write an image layout (layers gzipped)

Layer tars are deterministic: PAX format, names sorted, numeric owners only,
mtimes clamped to ``SOURCE_DATE_EPOCH`` (a time before it keeps its nanoseconds),
no atime/ctime, xattrs as ``SCHILY.xattr.*``. A path that disappeared becomes a
``.wh.NAME`` whiteout (only the topmost one of a removed tree); a directory
named with ``--opaque`` gets ``.wh..wh..opq`` followed by its whole content.
Names sharing an inode are written once, then as hardlinks to the first name.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

NS = 1_000_000_000
CHUNK = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def epoch_ns() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000")) * NS


def walk(root: Path) -> list[str]:
    """Every path below ``root`` ("etc", "etc/passwd", ...), sorted, symlinks not followed."""
    paths: list[str] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        full = root / rel if rel else root
        names = sorted(os.listdir(full), reverse=True)
        for name in names:
            child = f"{rel}/{name}" if rel else name
            paths.append(child)
            if stat.S_ISDIR(os.lstat(root / child).st_mode):
                pending.append(child)
    return sorted(paths)


def xattrs(path: Path) -> dict[str, bytes]:
    return {
        name: os.getxattr(path, name, follow_symlinks=False)
        for name in sorted(os.listxattr(path, follow_symlinks=False))
    }


def state(path: Path) -> dict[str, object]:
    """What a layer has to carry when it changes: type, metadata, content identity."""
    info = os.lstat(path)
    record: dict[str, object] = {
        "mode": info.st_mode,
        "uid": info.st_uid,
        "gid": info.st_gid,
        "mtime": info.st_mtime_ns,
        "xattrs": {k: v.hex() for k, v in xattrs(path).items()},
    }
    if stat.S_ISREG(info.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        record["sha256"] = digest.hexdigest()
    elif stat.S_ISLNK(info.st_mode):
        record["target"] = os.readlink(path)
    elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        record["rdev"] = info.st_rdev
    return record


def snapshot(root: Path, out: Path) -> None:
    with open(out, "w") as handle:
        for rel in walk(root):
            handle.write(json.dumps([rel, state(root / rel)]) + "\n")


def load_snapshot(path: Path) -> dict[str, dict[str, object]]:
    with open(path) as handle:
        return {rel: record for rel, record in map(json.loads, handle)}


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def changes(old: dict[str, dict[str, object]], root: Path, opaque: list[str]) -> list[str]:
    """Members of the layer, sorted: whiteouts, opaque markers, changed paths and parents."""
    now = {rel: state(root / rel) for rel in walk(root)}
    opaque = [p.strip("/") for p in opaque]
    members: set[str] = set()
    for directory in opaque:
        members.add(f"{directory}/{OPAQUE}")
        members.update(p for p in now if p.startswith(directory + "/"))
    for rel, record in now.items():
        if old.get(rel) != record:
            members.add(rel)
    hidden = tuple(d + "/" for d in opaque)
    for rel in old:
        gone = rel not in now and not rel.startswith(hidden)
        if gone and not any(p not in now for p in _parents(rel)):
            head, _, base = rel.rpartition("/")
            members.add(f"{head}/{WHITEOUT}{base}" if head else f"{WHITEOUT}{base}")
    for rel in list(members):
        members.update(p for p in _parents(rel) if p in now)
    return sorted(members)


def _pax_mtime(mtime_ns: int) -> tuple[int, dict[str, str]]:
    clamped = min(mtime_ns, epoch_ns())
    seconds, fraction = divmod(clamped, NS)
    if fraction:
        return seconds, {"mtime": f"{seconds}.{fraction:09d}"}
    return seconds, {}


def write_layer(root: Path, members: list[str], out: Path) -> None:
    # gettarinfo turns a second name of an already written inode into a hardlink member
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel in members:
            base = rel.rpartition("/")[2]
            if base.startswith(WHITEOUT):
                info = tarfile.TarInfo(rel)
                info.mtime = epoch_ns() // NS
                tar.addfile(info)
                continue
            path = root / rel
            st = os.lstat(path)
            info = tar.gettarinfo(str(path), arcname=rel)
            if info is None:
                raise SystemExit(f"{path}: sockets cannot be stored in a layer")
            info.uname = info.gname = ""
            info.mtime, pax = _pax_mtime(st.st_mtime_ns)
            pax.update(
                (f"SCHILY.xattr.{k}", v.decode("utf-8", "surrogateescape"))
                for k, v in xattrs(path).items()
            )
            info.pax_headers = pax
            if info.type == tarfile.REGTYPE:
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put_blob(out: Path, data: bytes) -> dict[str, object]:
    digest = _digest(data)
    path = out / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _gzip(path: Path) -> bytes:
    buffer = io.BytesIO()
    with open(path, "rb") as src, gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
    return buffer.getvalue()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def write_layout(out: Path, tag: str, layers: list[Path], comments: list[str]) -> None:
    """An OCI layout whose ``tag`` is a linux/amd64 image of ``layers`` (bottom first)."""
    out.mkdir(parents=True, exist_ok=True)
    created = "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH's default, fixed for determinism
    descriptors = [{"mediaType": MEDIA_LAYER, **_put_blob(out, _gzip(p))} for p in layers]
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/opt/app/bin/app"],
            "WorkingDir": "/opt/app",
        },
        "rootfs": {"type": "layers", "diff_ids": [_file_digest(p) for p in layers]},
        "history": [{"created": created, "created_by": c} for c in comments],
    }
    config_bytes = json.dumps(config, indent=2).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, **_put_blob(out, config_bytes)},
        "layers": descriptors,
    }
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                **_put_blob(out, manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (out / "index.json").write_text(json.dumps(index, indent=2))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    snap = commands.add_parser("snapshot")
    snap.add_argument("root", type=Path)
    snap.add_argument("out", type=Path)
    diff = commands.add_parser("diff")
    diff.add_argument("snapshot", type=Path)
    diff.add_argument("root", type=Path)
    diff.add_argument("out", type=Path)
    diff.add_argument("--opaque", action="append", default=[])
    layout = commands.add_parser("layout")
    layout.add_argument("out", type=Path)
    layout.add_argument("tag")
    layout.add_argument("layers", type=Path, nargs="+")
    layout.add_argument("--comment", action="append", default=[])
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        snapshot(args.root, args.out)
    elif args.command == "diff":
        members = changes(load_snapshot(args.snapshot), args.root, args.opaque)
        write_layer(args.root, members, args.out)
        print(f"{args.out}: {len(members)} members", file=sys.stderr)
    else:
        comments = args.comment or [f"layer {i}" for i in range(len(args.layers))]
        write_layout(args.out, args.tag, args.layers, comments)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
