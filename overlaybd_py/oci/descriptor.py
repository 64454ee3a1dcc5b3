"""Content descriptors: the (media type, digest, size, ...) pointer every OCI object uses.

``to_dict`` writes the fields in Go ``ocispec.Descriptor`` order (mediaType, digest,
size, urls, annotations, data, platform, artifactType) with annotations sorted, as Go
marshals maps, so re-serialised upstream manifests keep their exact bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..errors import ImageError
from . import mediatypes as mt
from .digest import check_digest, sha256_digest
from .gojson import type_name
from .platform import Platform

_EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob or manifest, with optional platform and annotations."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    platform: Platform | None = None
    artifact_type: str = ""
    urls: tuple[str, ...] = ()
    data: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.annotations, MappingProxyType):
            object.__setattr__(self, "annotations", MappingProxyType(dict(self.annotations)))

    def __hash__(self) -> int:
        # Annotations are a read-only mapping (unhashable); equal descriptors share these.
        return hash((self.media_type, self.digest, self.size))

    @classmethod
    def for_bytes(cls, media_type: str, data: bytes, **extra: Any) -> Descriptor:
        """The descriptor of an in-memory blob."""
        return cls(media_type, sha256_digest(data), len(data), **extra)

    def with_annotations(self, annotations: dict[str, str] | None) -> Descriptor:
        """A copy whose annotations are replaced (None or empty removes them)."""
        return replace(self, annotations=MappingProxyType(dict(annotations or {})))

    def plain(self) -> Descriptor:
        """Only media type, digest and size: the form used for ``subject``."""
        return Descriptor(self.media_type, self.digest, self.size)

    @property
    def ref_name(self) -> str | None:
        """The image-layout tag (``org.opencontainers.image.ref.name``), if any."""
        return self.annotations.get(mt.ANNOTATION_REF_NAME)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object in Go field order, empty optional fields omitted."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        if self.data:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_dict(cls, obj: object, where: str) -> Descriptor:
        """Parse a descriptor object; ``where`` names it in errors (e.g. ``manifest.layers[2]``)."""
        if not isinstance(obj, dict):
            raise ImageError(f"{where}: expected a descriptor object, found {type_name(obj)}")
        media_type = _string(obj, "mediaType", where, required=True)
        digest = check_digest(obj.get("digest"), f"{where}.digest")
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ImageError(f"{where}.size: expected a non-negative integer, found {size!r}")
        platform = None
        if obj.get("platform") is not None:
            platform = Platform.from_dict(obj["platform"], f"{where}.platform")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations=MappingProxyType(annotations_from(obj, where)),
            platform=platform,
            artifact_type=_string(obj, "artifactType", where),
            urls=tuple(_string_list(obj, "urls", where)),
            data=_string(obj, "data", where),
        )


def annotations_from(obj: dict[str, Any], where: str) -> dict[str, str]:
    """The ``annotations`` map of a JSON object, checked to be string → string."""
    value = obj.get("annotations")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ImageError(
            f"{where}.annotations: expected an object of strings, found {type_name(value)}"
        )
    return dict(value)


def _string(obj: dict[str, Any], key: str, where: str, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ImageError(f"{where}.{key}: expected a non-empty string, found {value!r}")
    return value


def _string_list(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"{where}.{key}: expected an array of strings, found {value!r}")
    return list(value)
