"""``obd verify``: is the streaming referrer of an image right? (spec §5.3, §5.4, §8, §11)

For an image name, every platform manifest under it is a subject; each must have at
least one referrer of the artifact type, and each referrer is checked for: OCI
manifest media type and schema, ``artifactType``, a ``subject`` equal to the live
source manifest, the ``streaming.*`` annotations, per-layer OverlayBD annotations,
config ``diff_ids``, blob presence and sizes, and every layer's tar/ZFile/LSMT
headers read by range requests. ``deep`` adds blob digests, every ZFile block CRC and
the merged disk's ext4 superblock. A name that points at a referrer itself (by
digest) verifies just that referrer against the subject it names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..errors import OverlayBDError
from ..oci import gojson
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.manifest import Manifest, parse_manifest
from ..oci.platform import Platform
from ..oci.reference import ImageReference
from ..oci.resolve import ResolvedImage, load_image, resolve_images
from ..registry.options import RegistryHosts
from . import checks
from .blobcheck import check_blobs_present, check_deep, check_layer_headers
from .checks import Check, Checker
from .location import ImageLocation, open_location
from .publish import subject_of
from .referrer import resolve_artifact_type

log = logging.getLogger(__name__)


@dataclass
class VerifyReport:
    """Every check run for an image; ``passed`` only when there are checks and all pass."""

    image: str
    artifact_type: str
    deep: bool
    checks: list[Check] = field(default_factory=list)
    referrers: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "artifact_type": self.artifact_type,
            "deep": self.deep,
            "passed": self.passed,
            "referrers": list(self.referrers),
            "checks": [check.to_dict() for check in self.checks],
        }


def verify_image(
    reference: str | ImageReference,
    deep: bool = False,
    artifact_type: str | None = None,
    *,
    hosts: RegistryHosts | None = None,
    workdir: str | None = None,
) -> VerifyReport:
    """Check the streaming referrer(s) of ``reference`` (``oci:PATH:TAG``, ``docker://...``)."""
    wanted = resolve_artifact_type(artifact_type)
    location = open_location(reference, hosts)
    try:
        report = VerifyReport(str(reference), wanted, deep)
        root = location.resolve()
        referrer = _as_referrer(location, root)
        if referrer is not None:
            _verify_named_referrer(report, location, root, referrer, workdir)
        else:
            for image in resolve_images(root, location.fetch, None, location.name):
                _verify_subject(report, location, image, workdir)
        return report
    finally:
        location.close()


def _as_referrer(location: ImageLocation, root: Descriptor) -> dict[str, Any] | None:
    """The root's JSON when it is a manifest with a ``subject`` (a referrer named directly)."""
    if not mt.is_manifest(root.media_type):
        return None
    obj = gojson.load_object(location.fetch(root), f"manifest {root.digest}")
    return obj if isinstance(obj.get("subject"), dict) else None


def _verify_subject(
    report: VerifyReport, location: ImageLocation, image: ResolvedImage, workdir: str | None
) -> None:
    subject = subject_of(image)
    found = location.referrers(subject.digest, report.artifact_type)
    listed = ", ".join(d.digest for d in found)
    problems = [] if found else [f"no {report.artifact_type} referrer in {location.name}"]
    detail = "; ".join(problems) or listed
    report.checks.append(
        Check("referrer.found", subject.digest, not problems, detail, "", str(image.platform))
    )
    for descriptor in found:
        report.referrers.append(descriptor.digest)
        report.checks += verify_referrer(
            location,
            descriptor,
            subject,
            image.platform,
            report.artifact_type,
            deep=report.deep,
            workdir=workdir,
        )


def _verify_named_referrer(
    report: VerifyReport,
    location: ImageLocation,
    root: Descriptor,
    obj: dict[str, Any],
    workdir: str | None,
) -> None:
    """Verify one referrer given by name; its subject is looked up live in the same place."""
    named = str(obj["subject"].get("digest", ""))
    report.referrers.append(root.digest)
    try:
        subject_descriptor = location.describe(named)
        image = load_image(subject_descriptor, location.fetch, None, ())
    except OverlayBDError as error:
        report.checks.append(
            Check("subject", named, False, f"subject {named} not found: {error}", root.digest)
        )
        return
    report.checks += verify_referrer(
        location,
        root,
        subject_of(image),
        image.platform,
        report.artifact_type,
        deep=report.deep,
        workdir=workdir,
    )


def verify_referrer(
    location: ImageLocation,
    listed: Descriptor,
    subject: Descriptor,
    platform: Platform,
    artifact_type: str,
    *,
    deep: bool = False,
    workdir: str | None = None,
) -> list[Check]:
    """Every check of one referrer ``listed`` of the live manifest ``subject``."""
    checker = Checker(subject.digest, listed.digest, str(platform))
    try:
        data = location.fetch(Descriptor(mt.OCI_MANIFEST, listed.digest, listed.size))
    except OverlayBDError as error:
        checker.error("manifest.fetch", error)
        return checker.checks
    if not checks.check_media_type(checker, listed, data):
        return checker.checks
    try:
        manifest = parse_manifest(data, f"referrer {listed.digest}")
    except OverlayBDError as error:
        checker.error("manifest.schema", error)
        return checker.checks
    checks.check_schema(checker, manifest)
    checks.check_artifact_type(checker, listed, manifest, artifact_type)
    checks.check_subject(checker, manifest, subject)
    checks.check_annotations(checker, listed, manifest, platform)
    checks.check_layer_annotations(checker, manifest)
    _check_config(checker, location, manifest, platform)
    check_blobs_present(checker, location, manifest)
    opened = [
        check_layer_headers(checker, location, layer, position)
        for position, layer in enumerate(manifest.layers)
    ]
    if deep:
        check_deep(checker, location, manifest, opened, workdir)
    return checker.checks


def _check_config(
    checker: Checker, location: ImageLocation, manifest: Manifest, platform: Platform
) -> None:
    try:
        config_bytes = location.fetch(manifest.config)
    except OverlayBDError as error:
        checker.error("config", error)
        return
    checks.check_config(checker, manifest, config_bytes, platform)
