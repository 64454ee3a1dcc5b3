"""Image manifests and indexes (OCI and Docker): parsing and canonical serialisation.

``to_bytes`` writes Go ``ocispec`` field order (manifest: schemaVersion, mediaType,
artifactType, config, layers, subject, annotations; index: schemaVersion, mediaType,
artifactType, manifests, subject, annotations) with Go escaping, which reproduces
upstream converter output byte for byte (spec §5.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..errors import ImageError, UnsupportedError
from . import gojson
from . import mediatypes as mt
from .descriptor import Descriptor, annotations_from
from .gojson import type_name

SCHEMA_VERSION = 2
_EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Manifest:
    """A single-image manifest: one config and an ordered list of layers."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    artifact_type: str = ""
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.annotations, MappingProxyType):
            object.__setattr__(self, "annotations", MappingProxyType(dict(self.annotations)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object in Go field order."""
        out: dict[str, Any] = {"schemaVersion": self.schema_version}
        if self.media_type:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out

    def to_bytes(self) -> bytes:
        """Canonical compact JSON, as Go marshals it."""
        return gojson.dumps(self.to_dict())

    def evolve(self, **changes: Any) -> Manifest:
        """A copy with some fields replaced."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Index:
    """An image index or Docker manifest list: descriptors of per-platform manifests."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    artifact_type: str = ""
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "manifests", tuple(self.manifests))
        if not isinstance(self.annotations, MappingProxyType):
            object.__setattr__(self, "annotations", MappingProxyType(dict(self.annotations)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object in Go field order."""
        out: dict[str, Any] = {"schemaVersion": self.schema_version}
        if self.media_type:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [m.to_dict() for m in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out

    def to_bytes(self) -> bytes:
        """Canonical compact JSON, as Go marshals it."""
        return gojson.dumps(self.to_dict())

    def evolve(self, **changes: Any) -> Index:
        """A copy with some fields replaced."""
        return replace(self, **changes)


def subject_digest(obj: dict[str, Any]) -> str | None:
    """The digest a parsed manifest's or index's ``subject`` names (None without one)."""
    subject = obj.get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def sniff_media_type(obj: dict[str, Any]) -> str | None:
    """The media type an untyped manifest object declares or implies by its shape."""
    declared = obj.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if "manifests" in obj:
        return mt.OCI_INDEX
    if "config" in obj or "layers" in obj:
        return mt.OCI_MANIFEST
    return None


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Parse a single-image manifest (OCI or Docker schema 2)."""
    obj = gojson.load_object(data, where)
    _check_header(obj, where, mt.MANIFEST_TYPES, "manifest")
    layers = obj.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"{where}.layers: expected an array, found {type_name(layers)}")
    return Manifest(
        config=Descriptor.from_dict(obj.get("config"), f"{where}.config"),
        layers=tuple(
            Descriptor.from_dict(layer, f"{where}.layers[{i}]") for i, layer in enumerate(layers)
        ),
        media_type=obj.get("mediaType") or "",
        artifact_type=_optional_string(obj, "artifactType", where),
        subject=_subject(obj, where),
        annotations=MappingProxyType(annotations_from(obj, where)),
        schema_version=obj["schemaVersion"],
    )


def parse_index(data: bytes, where: str) -> Index:
    """Parse an OCI image index or a Docker manifest list."""
    obj = gojson.load_object(data, where)
    _check_header(obj, where, mt.INDEX_TYPES, "index")
    manifests = obj.get("manifests")
    if not isinstance(manifests, list):
        raise ImageError(f"{where}.manifests: expected an array, found {type_name(manifests)}")
    return Index(
        manifests=tuple(
            Descriptor.from_dict(m, f"{where}.manifests[{i}]") for i, m in enumerate(manifests)
        ),
        media_type=obj.get("mediaType") or "",
        artifact_type=_optional_string(obj, "artifactType", where),
        subject=_subject(obj, where),
        annotations=MappingProxyType(annotations_from(obj, where)),
        schema_version=obj["schemaVersion"],
    )


def parse_any(data: bytes, where: str, media_type: str | None = None) -> Manifest | Index:
    """Parse a manifest or an index, choosing by ``media_type`` or else by the JSON itself."""
    kind = media_type
    if not (mt.is_manifest(kind) or mt.is_index(kind)):
        kind = sniff_media_type(gojson.load_object(data, where))
    if mt.is_index(kind):
        return parse_index(data, where)
    if mt.is_manifest(kind):
        return parse_manifest(data, where)
    raise UnsupportedError(
        f"{where}: expected an image manifest or index media type, found {kind!r}"
    )


def _check_header(obj: dict[str, Any], where: str, allowed: frozenset[str], what: str) -> None:
    version = obj.get("schemaVersion")
    if version == 1:
        raise UnsupportedError(f"{where}: Docker schema 1 manifests are not supported")
    if version != SCHEMA_VERSION:
        raise ImageError(f"{where}.schemaVersion: expected 2, found {version!r}")
    media_type = obj.get("mediaType")
    if media_type is not None and media_type not in allowed:
        expected = " or ".join(sorted(allowed))
        raise ImageError(
            f"{where}.mediaType: expected {what} type {expected}, found {media_type!r}"
        )


def _optional_string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImageError(f"{where}.{key}: expected a string, found {type_name(value)}")
    return value


def _subject(obj: dict[str, Any], where: str) -> Descriptor | None:
    if obj.get("subject") is None:
        return None
    return Descriptor.from_dict(obj["subject"], f"{where}.subject")
