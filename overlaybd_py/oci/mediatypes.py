"""Media types, annotation keys and artifact types used by OCI, Docker and OverlayBD images.

Every string is defined once here (spec §5.2, §5.3, §8); the helpers classify a media
type without caring whether it came from the OCI or the Docker vocabulary.
"""

from __future__ import annotations

# OCI image-spec media types.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

# Docker distribution (schema 2) media types.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

# OverlayBD layer descriptor annotations (spec §5.3).
ANNOTATION_BLOB_DIGEST = "containerd.io/snapshot/overlaybd/blob-digest"
ANNOTATION_BLOB_SIZE = "containerd.io/snapshot/overlaybd/blob-size"
ANNOTATION_VERSION = "containerd.io/snapshot/overlaybd/version"
ANNOTATION_FS_TYPE = "containerd.io/snapshot/overlaybd/blob-fs-type"
ANNOTATION_ACCELERATION_LAYER = "containerd.io/snapshot/overlaybd/acceleration-layer"
ANNOTATION_TURBO_TARGET_DIGEST = "containerd.io/snapshot/overlaybd/turbo-oci/target-digest"
ANNOTATION_TURBO_TARGET_MEDIA_TYPE = "containerd.io/snapshot/overlaybd/turbo-oci/target-media-type"
OVERLAYBD_VERSION = "0.1.0"
OVERLAYBD_TURBO_VERSION = "0.1.0-turbo.ociv1"

# Referrer artifact types (spec §8).
ARTIFACT_OVERLAYBD_NATIVE = "application/vnd.containerd.overlaybd.native.v1+json"
ARTIFACT_OVERLAYBD_TURBO = "application/vnd.containerd.overlaybd.turbo.v1+json"
ARTIFACT_AZURE_STREAMING = "application/vnd.azure.artifact.streaming.v1"

# Azure artifact-streaming manifest annotations (spec §8.2).
ANNOTATION_STREAMING_FORMAT = "streaming.format"
ANNOTATION_STREAMING_VERSION = "streaming.version"
ANNOTATION_STREAMING_OS = "streaming.platform.os"
ANNOTATION_STREAMING_ARCH = "streaming.platform.arch"
STREAMING_FORMAT_OVERLAYBD = "overlaybd"
STREAMING_VERSION_V1 = "v1"

# Image layout and BuildKit annotations.
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_DOCKER_REFERENCE_TYPE = "vnd.docker.reference.type"
ANNOTATION_DOCKER_REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {
        OCI_LAYER_TAR,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDIST_TAR,
        OCI_LAYER_NONDIST_GZIP,
        OCI_LAYER_NONDIST_ZSTD,
        DOCKER_LAYER_TAR,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_ZSTD,
        DOCKER_LAYER_FOREIGN_GZIP,
    }
)


def is_manifest(media_type: str | None) -> bool:
    """True for an OCI or Docker single-image manifest."""
    return media_type in MANIFEST_TYPES


def is_index(media_type: str | None) -> bool:
    """True for an OCI image index or a Docker manifest list."""
    return media_type in INDEX_TYPES


def is_config(media_type: str | None) -> bool:
    """True for an OCI or Docker image config."""
    return media_type in CONFIG_TYPES


def is_layer(media_type: str | None) -> bool:
    """True for any OCI or Docker filesystem layer type (any compression)."""
    return media_type in LAYER_TYPES


def is_docker(media_type: str | None) -> bool:
    """True for a media type from the Docker vocabulary."""
    return bool(media_type) and str(media_type).startswith("application/vnd.docker.")


def layer_type(oci: bool, compression: str = "none") -> str:
    """The layer media type for a vocabulary and a compression ('none', 'gzip', 'zstd')."""
    table = {
        (True, "none"): OCI_LAYER_TAR,
        (True, "gzip"): OCI_LAYER_GZIP,
        (True, "zstd"): OCI_LAYER_ZSTD,
        (False, "none"): DOCKER_LAYER_TAR,
        (False, "gzip"): DOCKER_LAYER_GZIP,
        (False, "zstd"): DOCKER_LAYER_ZSTD,
    }
    return table[(oci, compression)]


def manifest_type(oci: bool) -> str:
    """The manifest media type for the OCI (True) or Docker (False) vocabulary."""
    return OCI_MANIFEST if oci else DOCKER_MANIFEST


def index_type(oci: bool) -> str:
    """The index media type for the OCI (True) or Docker (False) vocabulary."""
    return OCI_INDEX if oci else DOCKER_MANIFEST_LIST


def config_type(oci: bool) -> str:
    """The config media type for the OCI (True) or Docker (False) vocabulary."""
    return OCI_CONFIG if oci else DOCKER_CONFIG
