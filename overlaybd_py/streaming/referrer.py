"""The streaming referrer manifest: a converted manifest attached to its source (spec §8).

The referrer keeps the converted image's config and layers byte for byte and adds what
OCI 1.1 referrers and Azure Artifact Streaming consumers look for: a top-level
``artifactType``, a ``subject`` naming the exact source manifest bytes, and the four
``streaming.*`` manifest annotations (spec §8.2).
"""

from __future__ import annotations

from ..errors import ImageError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.manifest import Manifest, parse_manifest
from ..oci.platform import Platform

DEFAULT_ARTIFACT_TYPE = mt.ARTIFACT_AZURE_STREAMING

ARTIFACT_TYPE_ALIASES = {
    "azure-streaming": mt.ARTIFACT_AZURE_STREAMING,
    "streaming": mt.ARTIFACT_AZURE_STREAMING,
    "overlaybd-native": mt.ARTIFACT_OVERLAYBD_NATIVE,
    "native": mt.ARTIFACT_OVERLAYBD_NATIVE,
}
"""Short names accepted wherever an artifact type is given (``--artifact-type``)."""

STREAMING_ARTIFACT_TYPES = frozenset({mt.ARTIFACT_AZURE_STREAMING, mt.ARTIFACT_OVERLAYBD_NATIVE})


def resolve_artifact_type(name: str | None) -> str:
    """A full artifact media type from an alias, a media type, or None (the default)."""
    if name is None:
        return DEFAULT_ARTIFACT_TYPE
    if not name.strip():
        aliases = ", ".join(sorted(ARTIFACT_TYPE_ALIASES))
        raise ImageError(
            f"--artifact-type: expected a media type or one of {aliases}, found an empty value"
        )
    if name in ARTIFACT_TYPE_ALIASES:
        return ARTIFACT_TYPE_ALIASES[name]
    if "/" not in name:
        aliases = ", ".join(sorted(ARTIFACT_TYPE_ALIASES))
        raise ImageError(
            f"--artifact-type: expected a media type or one of {aliases}, found {name!r}"
        )
    return name


def streaming_annotations(platform: Platform) -> dict[str, str]:
    """The manifest annotations ACR's streaming referrers carry (spec §8.2)."""
    return {
        mt.ANNOTATION_STREAMING_FORMAT: mt.STREAMING_FORMAT_OVERLAYBD,
        mt.ANNOTATION_STREAMING_VERSION: mt.STREAMING_VERSION_V1,
        mt.ANNOTATION_STREAMING_OS: platform.os,
        mt.ANNOTATION_STREAMING_ARCH: platform.architecture,
    }


def build_referrer(
    converted: bytes,
    subject: Descriptor,
    platform: Platform,
    artifact_type: str = DEFAULT_ARTIFACT_TYPE,
) -> Manifest:
    """The referrer for one platform: ``converted`` plus artifactType, subject, annotations.

    ``subject`` must describe the exact bytes of the source manifest (media type, digest,
    size); only those three fields are kept. The converted manifest must be an OCI
    manifest, since Docker schema 2 has no ``subject``.
    """
    manifest = parse_manifest(converted, "converted manifest")
    if manifest.media_type != mt.OCI_MANIFEST:
        raise ImageError(
            f"converted manifest: expected media type {mt.OCI_MANIFEST} for a referrer "
            f"(convert with OCI media types), found {manifest.media_type!r}"
        )
    if not mt.is_manifest(subject.media_type):
        raise ImageError(
            f"referrer subject {subject.digest}: expected a single-platform manifest, "
            f"found media type {subject.media_type!r}"
        )
    annotations = dict(manifest.annotations)
    annotations.update(streaming_annotations(platform))
    return manifest.evolve(
        artifact_type=resolve_artifact_type(artifact_type),
        subject=subject.plain(),
        annotations=annotations,
    )
