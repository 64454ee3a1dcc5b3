"""Helpers for end-to-end conversion tests: reading layouts back, building archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from check.run import E2E_STORE, HELLO, REPO, obd

__all__ = ["E2E_STORE", "HELLO", "REPO", "blob", "files_digest", "image_of", "json_blob", "obd"]


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def json_blob(layout: Path, digest: str) -> Any:
    return json.loads(blob(layout, digest))


def image_of(layout: Path, tag: str) -> dict[str, Any]:
    """The index.json descriptor tagged ``tag``."""
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return descriptor  # type: ignore[no-any-return]
    raise AssertionError(f"{layout}: no tag {tag}")


def files_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path → sha256), to prove nothing changed."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def oci_archive(layout: Path, out: Path) -> Path:
    """``layout`` packed as an oci-archive tarball."""
    with tarfile.open(out, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    return out


def docker_archive(layout: Path, tag: str, repo_tag: str, out: Path) -> Path:
    """The single-platform image ``tag`` of ``layout`` as ``docker save`` writes it (legacy)."""
    manifest = json_blob(layout, image_of(layout, tag)["digest"])
    config_digest = manifest["config"]["digest"]
    layers = []
    with tarfile.open(out, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for position, layer in enumerate(manifest["layers"]):
            data = gzip.decompress(blob(layout, layer["digest"]))
            name = f"{position:064x}/layer.tar"
            add(name, data)
            layers.append(name)
        config_name = f"{config_digest.split(':')[1]}.json"
        add(config_name, blob(layout, config_digest))
        entry = {"Config": config_name, "RepoTags": [repo_tag], "Layers": layers}
        add("manifest.json", json.dumps([entry]).encode())
    return out
