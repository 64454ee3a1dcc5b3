"""From a root manifest or index to the per-platform images a command works on.

Shared by every transport: a source only has to fetch verified bytes for a
descriptor. Nested indexes are walked, BuildKit attestation manifests are dropped
with a warning, and ``--platform`` selections are matched after normalisation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ImageError, NotFoundError
from . import mediatypes as mt
from .config import diff_ids, parse_config
from .descriptor import Descriptor
from .gojson import load_object
from .manifest import Index, Manifest, parse_index, parse_manifest
from .platform import Platform, matches_any

log = logging.getLogger(__name__)

MAX_INDEX_DEPTH = 8

Fetch = Callable[[Descriptor], bytes]


@dataclass(frozen=True)
class ResolvedImage:
    """One single-platform image: its manifest and config, as bytes and parsed."""

    descriptor: Descriptor
    manifest_bytes: bytes
    manifest: Manifest
    config_bytes: bytes
    config: dict[str, Any]
    platform: Platform
    parents: tuple[Descriptor, ...] = ()

    @property
    def diff_ids(self) -> list[str]:
        """The config's ``rootfs.diff_ids`` (one per layer)."""
        return diff_ids(self.config, f"config {self.manifest.config.digest}")

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        """The manifest's layer descriptors, bottom first."""
        return self.manifest.layers


def is_attestation(descriptor: Descriptor) -> bool:
    """True for a BuildKit attestation manifest entry of an index."""
    kind = descriptor.annotations.get(mt.ANNOTATION_DOCKER_REFERENCE_TYPE)
    return kind == mt.ATTESTATION_MANIFEST or (
        descriptor.platform is not None and descriptor.platform.is_unknown()
    )


def resolve_images(
    root: Descriptor,
    fetch: Fetch,
    platforms: Sequence[Platform] | None = None,
    name: str = "image",
) -> list[ResolvedImage]:
    """The images under ``root``: all of them, or those matching ``platforms``.

    A root that is a single manifest is returned whatever ``platforms`` says (a
    mismatch is logged), so one-image commands work on foreign-architecture images.
    """
    if mt.is_manifest(root.media_type):
        image = load_image(root, fetch, None, ())
        if platforms and not matches_any(image.platform, platforms):
            log.warning(
                "%s is a single %s image; using it although %s was asked for",
                name,
                image.platform,
                ", ".join(map(str, platforms)),
            )
        return [image]
    if not mt.is_index(root.media_type):
        raise ImageError(
            f"{name}: expected a manifest or index at {root.digest}, found {root.media_type!r}"
        )
    leaves: list[tuple[Descriptor, tuple[Descriptor, ...]]] = []
    _collect(root, fetch, (), leaves, name)
    images = [load_image(desc, fetch, desc.platform, parents) for desc, parents in leaves]
    if not platforms:
        if not images:
            raise NotFoundError(f"{name}: index {root.digest} holds no image manifest")
        return images
    chosen = [img for img in images if matches_any(img.platform, platforms)]
    missing = [p for p in platforms if not any(img.platform.matches(p) for img in images)]
    if missing:
        available = ", ".join(str(img.platform) for img in images) or "none"
        raise NotFoundError(
            f"{name}: no image for platform {', '.join(map(str, missing))}; available: {available}"
        )
    return chosen


def _collect(
    index_desc: Descriptor,
    fetch: Fetch,
    parents: tuple[Descriptor, ...],
    out: list[tuple[Descriptor, tuple[Descriptor, ...]]],
    name: str,
) -> None:
    if len(parents) >= MAX_INDEX_DEPTH or any(p.digest == index_desc.digest for p in parents):
        raise ImageError(
            f"{name}: index {index_desc.digest} nests deeper than {MAX_INDEX_DEPTH} "
            "levels or contains itself"
        )
    index = load_index(index_desc, fetch)
    path = (*parents, index_desc)
    for position, child in enumerate(index.manifests):
        if is_attestation(child):
            log.warning(
                "%s: skipping attestation manifest %s (entry %d of index %s)",
                name,
                child.digest,
                position,
                index_desc.digest,
            )
        elif mt.is_index(child.media_type):
            _collect(child, fetch, path, out, name)
        elif mt.is_manifest(child.media_type):
            out.append((child, path))
        else:
            log.warning(
                "%s: skipping entry %d of index %s with media type %s",
                name,
                position,
                index_desc.digest,
                child.media_type,
            )


def load_index(descriptor: Descriptor, fetch: Fetch) -> Index:
    """Fetch and parse an index or manifest list."""
    return parse_index(fetch(descriptor), f"index {descriptor.digest}")


def load_image(
    descriptor: Descriptor,
    fetch: Fetch,
    platform: Platform | None,
    parents: tuple[Descriptor, ...],
) -> ResolvedImage:
    """Fetch and parse one manifest and its config."""
    manifest_bytes = fetch(descriptor)
    manifest = parse_manifest(manifest_bytes, f"manifest {descriptor.digest}")
    config_bytes = fetch(manifest.config)
    where = f"config {manifest.config.digest}"
    if mt.is_config(manifest.config.media_type):
        config = parse_config(config_bytes, where)
        count = len(diff_ids(config, where))
        if count != len(manifest.layers):
            raise ImageError(
                f"manifest {descriptor.digest}: expected as many layers as config diff_ids "
                f"({count}), found {len(manifest.layers)}"
            )
    else:
        config = load_object(config_bytes, where)
    return ResolvedImage(
        descriptor=descriptor,
        manifest_bytes=manifest_bytes,
        manifest=manifest,
        config_bytes=config_bytes,
        config=config,
        platform=platform or Platform.from_config(config),
        parents=parents,
    )
