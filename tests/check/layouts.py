"""Test inputs: layer tars built member by member, and OCI layouts holding them.

The layout writer here is deliberately tiny and independent of ``overlaybd_py.oci``
(it writes the JSON files by hand), so a source image never depends on the code
under test.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path


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
