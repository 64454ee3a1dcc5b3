"""What a conversion did, as plain data for ``--json`` and for library callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LayerReport:
    position: int
    source_digest: str
    diff_id: str
    uuid: str
    parent_uuid: str
    blob_digest: str = ""
    blob_size: int = 0
    tar_bytes: int = 0
    entries: int = 0
    data_bytes: int = 0
    """Bytes of the virtual disk this layer writes (LSMT data)."""
    apply_seconds: float = 0.0
    commit_seconds: float = 0.0
    base_layer: bool = False


@dataclass
class ImageReport:
    platform: str
    source_manifest: str
    manifest: str = ""
    manifest_size: int = 0
    config: str = ""
    vsize: int = 0
    layers: list[LayerReport] = field(default_factory=list)


@dataclass
class ConvertReport:
    source: str
    target: str
    source_digest: str = ""
    """Digest of what the source reference names (manifest or index)."""
    digest: str = ""
    """Digest of the converted root (manifest or index)."""
    media_type: str = ""
    seconds: float = 0.0
    images: list[ImageReport] = field(default_factory=list)
    referrers: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
