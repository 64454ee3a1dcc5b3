"""Publishing streaming referrers next to their source images (spec §8).

For every platform manifest of a source image, the converted manifest becomes a
referrer (see :mod:`.referrer`) stored in the source's own layout or repository:
blobs first (copied, mounted or found present), then the manifest by digest, indexed
through the referrers API, the tag schema, or ``index.json``. ``existing`` decides
what happens when the subject already has a referrer of the same artifact type:

- ``skip`` (default): push nothing and report the one that is there;
- ``replace``: push the new one, then unlist the old ones (and delete their
  manifests where the store allows it);
- ``add``: push the new one and keep the old ones.

Only a listed manifest whose own ``subject`` is the subject counts as its referrer. A
tag-schema index can list anything (a buggy or racing writer), so an entry naming
another subject, or one that cannot be read, is *misfiled*: ``skip`` ignores it and
``replace`` unlists it from this subject's index but never deletes it, since it may be
another image's only referrer.

Two publishers racing on one subject with ``skip`` can both push; the result is two
referrers, never a broken one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..errors import ImageError, NotFoundError, OverlayBDError
from ..oci import gojson
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.digest import sha256_digest
from ..oci.manifest import Manifest, parse_manifest, subject_digest
from ..oci.platform import Platform
from ..oci.resolve import ResolvedImage, resolve_images
from ..registry.options import RegistryHosts
from .location import ImageLocation, open_location
from .referrer import build_referrer, resolve_artifact_type

if TYPE_CHECKING:
    from ..convert.report import ConvertReport

log = logging.getLogger(__name__)


class Existing(StrEnum):
    """What to do when the subject already has a referrer of the same artifact type."""

    SKIP = "skip"
    REPLACE = "replace"
    ADD = "add"


def parse_existing(value: Existing | str) -> Existing:
    """``skip``/``replace``/``add`` as an :class:`Existing` (a clear error otherwise)."""
    try:
        return Existing(value)
    except ValueError:
        choices = ", ".join(e.value for e in Existing)
        raise ImageError(f"--existing: expected one of {choices}, found {value!r}") from None


@dataclass(frozen=True)
class ReferrerInput:
    """One platform to publish: the exact source manifest and the converted manifest bytes."""

    subject: Descriptor
    platform: Platform
    converted: bytes


@dataclass
class PublishResult:
    """What happened for one subject (plain data; ``to_dict`` for JSON)."""

    location: str
    platform: str
    subject: str
    artifact_type: str
    action: str
    """``pushed``, ``replaced``, ``skipped`` (another one exists), ``exists`` (identical, and
    stored whole) or ``repaired`` (identical and listed, but parts were missing)."""
    referrer: str
    referrer_size: int = 0
    indexed_by: str = ""
    """``index.json``, ``referrers API`` or ``tag schema``; empty when nothing was pushed."""
    blobs: dict[str, str] = field(default_factory=dict)
    """Blob digest → ``exists``, ``copied``, ``mounted`` or ``uploaded``."""
    removed: list[str] = field(default_factory=list)
    """Older referrers unlisted by ``replace``."""
    deleted: list[str] = field(default_factory=list)
    """Those of ``removed`` whose manifests were deleted as well."""
    restored: list[str] = field(default_factory=list)
    """For ``repaired``: the manifest and/or blob digests that were missing, pushed again."""
    misfiled: list[str] = field(default_factory=list)
    """Listed under the subject, but naming another subject (or unreadable): ignored by
    ``skip``, unlisted (never deleted) by ``replace``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def publish_referrers(
    location: ImageLocation,
    inputs: Sequence[ReferrerInput],
    origin: ImageLocation | None = None,
    *,
    artifact_type: str | None = None,
    existing: Existing | str = Existing.SKIP,
) -> list[PublishResult]:
    """Attach one referrer per input to ``location``; blobs come from ``origin`` (default:
    ``location`` itself, when the converted image was written there)."""
    policy = parse_existing(existing)
    wanted = resolve_artifact_type(artifact_type)
    return [_publish_one(location, item, origin or location, wanted, policy) for item in inputs]


def _publish_one(
    location: ImageLocation,
    item: ReferrerInput,
    origin: ImageLocation,
    artifact_type: str,
    policy: Existing,
) -> PublishResult:
    manifest = build_referrer(item.converted, item.subject, item.platform, artifact_type)
    data = manifest.to_bytes()
    digest = sha256_digest(data)
    subject = item.subject.digest
    result = PublishResult(
        location.name, str(item.platform), subject, artifact_type, "pushed", digest
    )
    result.referrer_size = len(data)
    # One entry per manifest: a layout may list a referrer twice (untagged and tagged).
    listed = list({d.digest: d for d in location.referrers(subject, artifact_type)}.values())
    present = [d for d in listed if d.digest == digest or _names_subject(location, d, subject)]
    misfiled = [d for d in listed if d not in present]
    result.misfiled = [d.digest for d in misfiled]
    others = [d for d in present if d.digest != digest]
    if len(others) < len(present) and (policy is not Existing.REPLACE or not others):
        _keep_listed(location, manifest, data, origin, result)
    elif present and policy is Existing.SKIP:
        result.action = "skipped"
        result.referrer = present[0].digest
        result.referrer_size = present[0].size
        log.info(
            "%s: %s already has %s referrer %s; skipped",
            location.name,
            subject,
            artifact_type,
            present[0].digest,
        )
    else:
        _copy_blobs(location, manifest, origin, result)
        _attach(location, data, result)
        if policy is Existing.REPLACE:
            _remove(location, subject, others, result)
    if policy is Existing.REPLACE:
        for stray in misfiled:
            location.detach(subject, stray, delete=False)
    return result


def _remove(
    location: ImageLocation, subject: str, old: list[Descriptor], result: PublishResult
) -> None:
    """``replace``: unlist the subject's older referrers and delete them where allowed."""
    for referrer in old:
        result.removed.append(referrer.digest)
        if location.detach(subject, referrer):
            result.deleted.append(referrer.digest)
    if result.removed:
        result.action = "replaced"


def _names_subject(location: ImageLocation, listed: Descriptor, subject: str) -> bool:
    """Whether the listed manifest's own ``subject`` is the one it is listed under.

    A listing is only a claim: deleting on its word alone could remove another image's
    only referrer. An unreadable manifest is not counted as a referrer either.
    """
    try:
        data = location.fetch(Descriptor(mt.OCI_MANIFEST, listed.digest, listed.size))
        found = subject_digest(gojson.load_object(data, f"referrer {listed.digest}"))
    except OverlayBDError as error:
        log.warning("%s: listed as a referrer of %s, unreadable: %s", location.name, subject, error)
        return False
    if found != subject:
        log.warning(
            "%s: %s is listed as a referrer of %s, but its subject is %s; not counted",
            location.name,
            listed.digest,
            subject,
            found,
        )
    return found == subject


def _keep_listed(
    location: ImageLocation,
    manifest: Manifest,
    data: bytes,
    origin: ImageLocation,
    result: PublishResult,
) -> PublishResult:
    """The identical referrer is listed already: report it as ``exists`` when its manifest
    and blobs are all stored, else push the missing ones again (``repaired``).

    A listing outlives what it lists: a tag-schema index still names a manifest someone
    deleted, and a registry may garbage-collect blobs. Without this check a re-run would
    report success for a referrer no client can read.
    """
    _copy_blobs(location, manifest, origin, result)
    missing = [d for d, action in result.blobs.items() if action != "exists"]
    if not location.has_manifest(Descriptor(mt.OCI_MANIFEST, result.referrer, len(data))):
        missing.insert(0, result.referrer)
    if not missing:
        result.action = "exists"
        return result
    _attach(location, data, result)
    result.action = "repaired"
    result.restored = missing
    log.info(
        "%s: referrer %s was listed without %s; pushed again",
        location.name,
        result.referrer,
        ", ".join(missing),
    )
    return result


def _copy_blobs(
    location: ImageLocation, manifest: Manifest, origin: ImageLocation, result: PublishResult
) -> None:
    """Make config and layers present in ``location`` (each stored blob costs one stat)."""
    for blob in (manifest.config, *manifest.layers):
        if blob.digest not in result.blobs:
            result.blobs[blob.digest] = location.copy_blob(blob, origin)


def _attach(location: ImageLocation, data: bytes, result: PublishResult) -> None:
    stored, result.indexed_by = location.attach(data)
    if stored.digest != result.referrer:
        raise ImageError(
            f"{location.name}: referrer stored as {stored.digest}, expected {result.referrer}"
        )


def source_images(location: ImageLocation) -> list[ResolvedImage]:
    """Every platform image under the location's reference (attestations dropped)."""
    return resolve_images(location.resolve(), location.fetch, None, location.name)


def subject_of(image: ResolvedImage) -> Descriptor:
    """The descriptor of the exact manifest bytes of a resolved image."""
    media_type = image.manifest.media_type or image.descriptor.media_type
    return Descriptor(media_type, image.descriptor.digest, len(image.manifest_bytes))


def publish_converted(
    source: str,
    converted: str,
    *,
    artifact_type: str | None = None,
    existing: Existing | str = Existing.SKIP,
    hosts: RegistryHosts | None = None,
    skip_missing: bool = False,
) -> list[PublishResult]:
    """Attach the converted image ``converted`` to ``source``, platform by platform.

    Every platform of ``source`` needs its converted image, unless ``skip_missing``: then
    only the platforms ``converted`` has get a referrer (at least one must match).
    """
    src = open_location(source, hosts)
    try:
        conv = open_location(converted, hosts)
        try:
            converted_images = resolve_images(conv.resolve(), conv.fetch, None, conv.name)
            inputs = _pair_platforms(
                source, source_images(src), converted, converted_images, skip_missing
            )
            return publish_referrers(
                src, inputs, conv, artifact_type=artifact_type, existing=existing
            )
        finally:
            conv.close()
    finally:
        src.close()


def _pair_platforms(
    source: str,
    source_list: list[ResolvedImage],
    converted: str,
    converted_list: list[ResolvedImage],
    skip_missing: bool,
) -> list[ReferrerInput]:
    """One input per source platform, with the converted manifest of the same platform."""
    inputs = []
    missing = []
    for image in source_list:
        match = [c for c in converted_list if c.platform.matches(image.platform)]
        if match:
            inputs.append(ReferrerInput(subject_of(image), image.platform, match[0].manifest_bytes))
        else:
            missing.append(str(image.platform))
    if missing and (not skip_missing or not inputs):
        has = ", ".join(str(c.platform) for c in converted_list) or "none"
        hint = ", or pass skip_missing=True to attach only the platforms it has" if inputs else ""
        raise NotFoundError(
            f"{converted} has no image for {len(missing)} platform(s) of {source}: "
            f"{', '.join(missing)} (it has {has}); convert them too{hint}"
        )
    if missing:
        log.info("%s: no converted image for %s; not attached", source, ", ".join(missing))
    return inputs


def publish_report(
    report: ConvertReport,
    *,
    artifact_type: str | None = None,
    existing: Existing | str = Existing.SKIP,
    hosts: RegistryHosts | None = None,
) -> list[PublishResult]:
    """After ``convert()``: attach each converted platform manifest to its source manifest.

    The source and target are found from the report (``source``, ``target`` and each
    image's ``source_manifest``/``manifest`` digests); the results are also stored in
    ``report.referrers``.
    """
    src = open_location(report.source, hosts)
    try:
        conv = open_location(report.target, hosts)
        try:
            by_digest = {image.descriptor.digest: image for image in source_images(src)}
            inputs = []
            for converted in report.images:
                image = by_digest.get(converted.source_manifest)
                if image is None:
                    raise NotFoundError(
                        f"{src.name}: source manifest {converted.source_manifest} of "
                        f"{converted.platform} is no longer there"
                    )
                descriptor = conv.describe(converted.manifest)
                data = conv.fetch(descriptor)
                parse_manifest(data, f"converted manifest {descriptor.digest}")
                inputs.append(ReferrerInput(subject_of(image), image.platform, data))
            results = publish_referrers(
                src, inputs, conv, artifact_type=artifact_type, existing=existing
            )
        finally:
            conv.close()
    finally:
        src.close()
    report.referrers = [r.to_dict() for r in results]
    return results
