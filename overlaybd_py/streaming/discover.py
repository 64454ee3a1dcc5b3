"""``obd referrers``: the referrers of an image, for the root and each platform manifest.

Discovery is the store's: ``index.json`` entries with a ``subject`` in an OCI layout;
on a registry the referrers API when it answers, else the ``<alg>-<hex>`` tag-schema
index (see :mod:`overlaybd_py.registry.referrers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.reference import ImageReference
from ..oci.resolve import resolve_images
from ..registry.options import RegistryHosts
from .location import open_location
from .publish import subject_of
from .referrer import resolve_artifact_type


@dataclass
class SubjectReferrers:
    """The referrers of one subject manifest (or of the root index)."""

    subject: str
    media_type: str
    platform: str
    """``os/arch[/variant]``, or ``index`` for the root of a multi-platform image."""
    referrers: list[Descriptor] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "media_type": self.media_type,
            "platform": self.platform,
            "referrers": [d.to_dict() for d in self.referrers],
        }


def list_referrers(
    reference: str | ImageReference,
    artifact_type: str | None = None,
    *,
    hosts: RegistryHosts | None = None,
) -> list[SubjectReferrers]:
    """Referrers of the image's root and of every platform manifest under it.

    ``artifact_type`` (a media type or alias such as ``overlaybd-native``) filters;
    None lists every artifact type.
    """
    wanted = resolve_artifact_type(artifact_type) if artifact_type else None
    location = open_location(reference, hosts)
    try:
        root = location.resolve()
        found: list[SubjectReferrers] = []
        if mt.is_index(root.media_type):
            found.append(
                SubjectReferrers(
                    root.digest, root.media_type, "index", location.referrers(root.digest, wanted)
                )
            )
        for image in resolve_images(root, location.fetch, None, location.name):
            subject = subject_of(image)
            found.append(
                SubjectReferrers(
                    subject.digest,
                    subject.media_type,
                    str(image.platform),
                    location.referrers(subject.digest, wanted),
                )
            )
        return found
    finally:
        location.close()
