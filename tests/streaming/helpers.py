"""Test helpers: push layout images to a registry, store hand-made referrers, corrupt blobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.layout_writer import LayoutWriter
from overlaybd_py.oci.manifest import parse_any
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.streaming.verify import VerifyReport
from tests.registry.registry_server import RegistryServer


def push_image(
    client: RegistryClient, layout_path: Path, tag: str, repo: str, as_tag: str | None = None
) -> Descriptor:
    """Copy the image tagged ``tag`` in a layout (manifest or index) to ``repo``, byte-exact."""
    layout = OCILayout.open_dir(layout_path)
    root = layout.resolve(tag)
    _push_tree(client, layout, root, repo)
    client.put_manifest(repo, as_tag or tag, layout.fetch(root), root.media_type)
    return root.plain()


def _push_tree(client: RegistryClient, layout: OCILayout, node: Descriptor, repo: str) -> None:
    parsed = parse_any(layout.fetch(node), node.digest, node.media_type)
    if mt.is_index(node.media_type):
        for child in parsed.manifests:  # type: ignore[union-attr]
            _push_tree(client, layout, child, repo)
            client.put_manifest(repo, child.digest, layout.fetch(child), child.media_type)
        return
    for blob in (parsed.config, *parsed.layers):  # type: ignore[union-attr]
        client.push_blob(repo, layout_path_of(layout, blob), blob.digest)


def layout_path_of(layout: OCILayout, blob: Descriptor) -> str:
    return str(Path(layout.name) / "blobs" / "sha256" / blob.digest.split(":")[1])


def layout_blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":")[1]


def registry_blob(server: RegistryServer, digest: str) -> Path:
    """Where distribution's filesystem driver keeps a blob's bytes."""
    hex_digest = digest.split(":")[1]
    return server.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def store_manifest(layout: Path, body: dict[str, Any]) -> Descriptor:
    """Store a hand-made manifest (a referrer when it has a subject) in a layout."""
    data = json.dumps(body, separators=(",", ":")).encode()
    with LayoutWriter(layout) as writer:
        return writer.put_manifest(data, mt.OCI_MANIFEST)


def failed(report: VerifyReport) -> dict[str, str]:
    """Failing check name → reason."""
    return {check.name: check.detail for check in report.failures}


def passed_names(report: VerifyReport) -> set[str]:
    return {check.name for check in report.checks if check.passed}
