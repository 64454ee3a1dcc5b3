"""Find the OverlayBD image attached to a source image as a streaming referrer (spec §8).

A source image (plain OCI layers) may carry a referrer whose ``artifactType`` is
Azure's streaming type or the accelerated-container-image native type; its manifest
is an ordinary OverlayBD manifest. Referrers attach to each platform's manifest
(spec §8.2) or, for converted indexes, to the source index (spec §8.1); both are
looked up here, through the registry's referrers API or, in an ``oci:`` layout, the
``index.json`` entries that :func:`~overlaybd_py.streaming.discover.list_referrers` lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.reference import LayoutReference
from ..oci.resolve import ResolvedImage
from ..streaming.discover import list_referrers

log = logging.getLogger(__name__)

STREAMING_ARTIFACT_TYPES = (mt.ARTIFACT_AZURE_STREAMING, mt.ARTIFACT_OVERLAYBD_NATIVE)
CREATED_ANNOTATION = "org.opencontainers.image.created"


def is_overlaybd_image(image: ResolvedImage) -> bool:
    """True when every layer carries the OverlayBD blob annotations (spec §5.7)."""
    layers = image.layers
    return bool(layers) and all(mt.ANNOTATION_BLOB_DIGEST in layer.annotations for layer in layers)


def rank_referrers(found: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streaming referrers in preference order: Azure's type first, then the newest."""
    candidates = [e for e in found if e.get("artifactType") in STREAMING_ARTIFACT_TYPES]
    candidates.sort(key=lambda e: (e.get("annotations") or {}).get(CREATED_ANNOTATION, ""))
    candidates.reverse()
    candidates.sort(key=lambda e: STREAMING_ARTIFACT_TYPES.index(e["artifactType"]))
    return candidates


def pick_referrer(found: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The preferred referrer of one listing, or None."""
    ranked = rank_referrers(found)
    return ranked[0] if ranked else None


@dataclass(frozen=True)
class Referral:
    """A streaming referrer as a listing gave it: the subject it was listed under."""

    subject: str
    descriptor: Descriptor


def find_streaming_referrers(
    client: Any, repository: str, image: ResolvedImage, root: Descriptor
) -> list[Referral]:
    """The OverlayBD manifests (or indexes) listed as referring to ``image`` or its indexes.

    ``client`` is a :class:`~overlaybd_py.registry.RegistryClient`.
    """

    def referrers_of(subject: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for artifact_type in STREAMING_ARTIFACT_TYPES:
            found += client.referrers(repository, subject, artifact_type)
        return found

    return streaming_referrals(referrers_of, repository, image, root)


def find_layout_referrers(
    ref: LayoutReference, image: ResolvedImage, root: Descriptor
) -> list[Referral]:
    """The streaming referrers of ``image`` (or of its indexes) in an OCI layout.

    The layout's referrers are its untagged ``index.json`` entries with a ``subject``;
    :func:`~overlaybd_py.streaming.discover.list_referrers` lists them for the root
    and every platform manifest.
    """
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for entry in list_referrers(ref):
        listed = by_subject.setdefault(entry.subject, [])
        listed += [described.to_dict() for described in entry.referrers]
    return streaming_referrals(
        lambda subject: by_subject.get(subject, []), f"oci:{ref.path}", image, root
    )


def streaming_referrals(
    referrers_of: Callable[[str], list[dict[str, Any]]],
    where: str,
    image: ResolvedImage,
    root: Descriptor,
) -> list[Referral]:
    """Every streaming referrer of the platform manifest, then of its parents, best first.

    ``referrers_of(digest)`` lists referrer descriptors (JSON objects with
    ``artifactType`` and ``annotations``) of one subject; ``where`` names the store.
    Listings can be stale or wrong, so the caller tries them in turn.
    """
    subjects = [image.descriptor.digest]
    subjects += [parent.digest for parent in image.parents]
    if root.digest not in subjects:
        subjects.append(root.digest)
    found: list[Referral] = []
    for subject in subjects:
        for entry in rank_referrers(referrers_of(subject)):
            descriptor = Descriptor(entry["mediaType"], entry["digest"], int(entry["size"]))
            log.debug("%s@%s: streaming referrer %s listed", where, subject, descriptor.digest)
            found.append(Referral(subject, descriptor))
    return found


def no_referrer(where: str, image: ResolvedImage, root: Descriptor) -> NotFoundError:
    """The error for an image that has no streaming referrer at all."""
    kind = "" if is_overlaybd_image(image) else "not an OverlayBD image and "
    return NotFoundError(
        f"{where}@{image.descriptor.digest}: {kind}no referrer with artifactType "
        f"{' or '.join(STREAMING_ARTIFACT_TYPES)} points at it"
        + (f" or at its index {root.digest}" if root.digest != image.descriptor.digest else "")
    )
