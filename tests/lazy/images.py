"""Build small deterministic source images, convert them, and push them to a registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

from overlaybd_py.convert import convert
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.manifest import parse_any
from overlaybd_py.registry.client import RegistryClient

MTIME = 1_700_000_000
SMALL_FILE = "/etc/motd"
SMALL_TEXT = b"lazy reading fetches only what it needs\n"


@dataclass
class Member:
    """One tar entry: a file (data), a directory (data None), or a symlink (target)."""

    path: str
    data: bytes | None = None
    target: str | None = None
    mode: int = 0o644


def random_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def text_bytes(seed: int, size: int) -> bytes:
    """Compressible, line-structured content."""
    rng = random.Random(seed)
    words = [f"word{n}" for n in range(200)]
    out = bytearray()
    while len(out) < size:
        out += (" ".join(rng.choice(words) for _ in range(12)) + "\n").encode()
    return bytes(out[:size])


def base_members() -> list[Member]:
    """The bottom layer: a few directories, small and large files, a symlink."""
    return [
        Member("etc", mode=0o755),
        Member("etc/motd", SMALL_TEXT),
        Member("etc/os-release", b'PRETTY_NAME="lazy test"\nID=lazytest\n'),
        Member("usr", mode=0o755),
        Member("usr/bin", mode=0o755),
        Member("usr/bin/app", random_bytes(1, 3 << 20), mode=0o755),
        Member("usr/share", mode=0o755),
        Member("usr/share/words.txt", text_bytes(2, 2 << 20)),
        Member("usr/share/blob.bin", random_bytes(3, 1 << 20)),
        Member("bin", target="usr/bin"),
    ]


def top_members() -> list[Member]:
    """A second layer: a replaced file and a new one."""
    return [
        Member("etc", mode=0o755),
        Member("etc/motd", b"replaced in the top layer\n"),
        Member("opt", mode=0o755),
        Member("opt/data.bin", random_bytes(4, 512 << 10)),
    ]


def expected_files() -> dict[str, bytes]:
    """Path → content of every regular file in the merged image."""
    files: dict[str, bytes] = {}
    for member in base_members() + top_members():
        if member.data is not None:
            files["/" + member.path] = member.data
    return files


def layer_tar(members: list[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.path)
            info.mtime = MTIME
            info.mode = member.mode
            if member.target is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = member.target
                tar.addfile(info)
            elif member.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(member.data)
                tar.addfile(info, io.BytesIO(member.data))
    return out.getvalue()


def write_source_layout(path: Path, tag: str = "src") -> None:
    """An OCI layout with the two-layer source image tagged ``tag``."""
    layers = []
    diff_ids = []
    with LayoutWriter(path, tag) as writer:
        for members in (base_members(), top_members()):
            tar = layer_tar(members)
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
            layers.append(writer.put_blob(gzip.compress(tar, 6, mtime=0), mt.OCI_LAYER_GZIP))
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        config_desc = writer.put_blob(json.dumps(config).encode(), mt.OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": config_desc.plain().to_dict(),
            "layers": [layer.plain().to_dict() for layer in layers],
        }
        writer.put_manifest(json.dumps(manifest).encode(), mt.OCI_MANIFEST, tag=tag, root=True)


def convert_layout(source: str, target_dir: Path, tag: str = "obd") -> None:
    convert(source, f"oci:{target_dir}:{tag}")


def push_layout(
    client: RegistryClient, layout_dir: Path, tag: str, repo: str, as_tag: str
) -> Descriptor:
    """Copy the image tagged ``tag`` (manifest or index) to ``repo:as_tag``, byte-exact."""
    layout = OCILayout.open_dir(layout_dir)
    try:
        root = layout.resolve(tag)
        _push_tree(client, layout, layout_dir, root, repo)
        client.put_manifest(repo, as_tag, layout.fetch(root), root.media_type)
        return root.plain()
    finally:
        layout.close()


def _push_tree(
    client: RegistryClient, layout: OCILayout, layout_dir: Path, node: Descriptor, repo: str
) -> None:
    parsed = parse_any(layout.fetch(node), node.digest, node.media_type)
    if mt.is_index(node.media_type):
        for child in parsed.manifests:  # type: ignore[union-attr]
            _push_tree(client, layout, layout_dir, child, repo)
            client.put_manifest(repo, child.digest, layout.fetch(child), child.media_type)
        return
    for blob in (parsed.config, *parsed.layers):  # type: ignore[union-attr]
        path = layout_dir / "blobs" / "sha256" / blob.digest.split(":")[1]
        client.push_blob(repo, str(path), blob.digest)


def attach_as_referrer(
    client: RegistryClient, repo: str, converted: bytes, subject: Descriptor, artifact_type: str
) -> str:
    """Push ``converted`` (a manifest) as a referrer of ``subject``; returns its digest."""
    body = json.loads(converted)
    body["artifactType"] = artifact_type
    body["subject"] = subject.plain().to_dict()
    data = json.dumps(body, separators=(",", ":")).encode()
    return client.attach_referrer(repo, data, mt.OCI_MANIFEST).digest
