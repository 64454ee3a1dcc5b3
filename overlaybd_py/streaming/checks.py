"""Manifest-level checks of one streaming referrer (spec §5.3, §5.4, §8).

Each function looks at one property and returns :class:`Check` records; nothing here
touches layer blobs (see :mod:`.blobcheck`), so these checks cost one manifest and
one config fetch per referrer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import OverlayBDError
from ..oci import gojson
from ..oci import mediatypes as mt
from ..oci.config import diff_ids, parse_config
from ..oci.descriptor import Descriptor
from ..oci.manifest import Manifest
from ..oci.platform import Platform
from .referrer import streaming_annotations

LAYER_ANNOTATIONS = (mt.ANNOTATION_BLOB_DIGEST, mt.ANNOTATION_BLOB_SIZE, mt.ANNOTATION_VERSION)


@dataclass
class Check:
    """One verified property: what, of which subject/referrer (and the subject's
    platform, ``os/arch[/variant]``), and why it failed."""

    name: str
    subject: str
    passed: bool
    detail: str = ""
    referrer: str = ""
    platform: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Checker:
    """Collects the checks of one referrer of one subject."""

    def __init__(self, subject: str, referrer: str = "", platform: str = "") -> None:
        self.subject = subject
        self.referrer = referrer
        self.platform = platform
        self.checks: list[Check] = []

    def add(self, name: str, problems: list[str], ok_detail: str = "") -> bool:
        """Record a check that passes when ``problems`` is empty; returns whether it passed."""
        passed = not problems
        detail = ok_detail if passed else "; ".join(problems)
        self.checks.append(Check(name, self.subject, passed, detail, self.referrer, self.platform))
        return passed

    def error(self, name: str, error: OverlayBDError | OSError) -> bool:
        """Record a check that failed with a library error (its one-line message)."""
        return self.add(name, [str(error) or type(error).__name__])


def _differs(what: str, expected: object, found: object) -> list[str]:
    return [] if expected == found else [f"{what}: expected {expected!r}, found {found!r}"]


def check_media_type(checker: Checker, listed: Descriptor, data: bytes) -> bool:
    """The referrer is an OCI image manifest, as listed and as written."""
    try:
        declared = gojson.load_object(data, f"referrer {listed.digest}").get("mediaType")
    except OverlayBDError as error:
        return checker.error("manifest.media-type", error)
    problems = _differs("listed mediaType", mt.OCI_MANIFEST, listed.media_type)
    problems += _differs("manifest mediaType", mt.OCI_MANIFEST, declared)
    return checker.add("manifest.media-type", problems, mt.OCI_MANIFEST)


def check_schema(checker: Checker, manifest: Manifest) -> bool:
    """Schema version 2, a config descriptor and at least one layer."""
    problems = _differs("schemaVersion", 2, manifest.schema_version)
    if not manifest.layers:
        problems.append("layers: expected at least one layer, found none")
    detail = f"schemaVersion 2, config + {len(manifest.layers)} layer(s)"
    return checker.add("manifest.schema", problems, detail)


def check_artifact_type(
    checker: Checker, listed: Descriptor, manifest: Manifest, expected: str
) -> bool:
    """Top-level ``artifactType`` as expected, and the listing says the same."""
    problems = _differs("artifactType", expected, manifest.artifact_type)
    if listed.artifact_type and listed.artifact_type != manifest.artifact_type:
        problems.append(
            f"referrers listing says artifactType {listed.artifact_type!r}, "
            f"the manifest says {manifest.artifact_type!r}"
        )
    return checker.add("artifact-type", problems, expected)


def check_subject(checker: Checker, manifest: Manifest, live: Descriptor) -> bool:
    """``subject`` names the exact bytes of the live source manifest."""
    subject = manifest.subject
    if subject is None:
        return checker.add("subject", ["expected a subject descriptor, found none"])
    problems = _differs("subject.digest", live.digest, subject.digest)
    problems += _differs("subject.size", live.size, subject.size)
    problems += _differs("subject.mediaType", live.media_type, subject.media_type)
    return checker.add("subject", problems, f"{live.media_type} {live.digest} ({live.size} B)")


def check_annotations(
    checker: Checker, listed: Descriptor, manifest: Manifest, platform: Platform
) -> bool:
    """The four ``streaming.*`` annotations, with the subject's own platform."""
    problems = []
    for key, value in streaming_annotations(platform).items():
        problems += _differs(f"annotation {key}", value, manifest.annotations.get(key))
    if listed.annotations and dict(listed.annotations) != dict(manifest.annotations):
        problems.append("referrers listing annotations differ from the manifest's")
    detail = f"streaming overlaybd v1 {platform.os}/{platform.architecture}"
    return checker.add("annotations", problems, detail)


def check_layer_annotations(checker: Checker, manifest: Manifest) -> bool:
    """Every layer: tar media type, blob-digest = digest, blob-size = size, version 0.1.0."""
    ok = True
    for position, layer in enumerate(manifest.layers):
        notes = layer.annotations
        problems = _differs("mediaType", mt.OCI_LAYER_TAR, layer.media_type)
        problems += _differs("blob-digest", layer.digest, notes.get(mt.ANNOTATION_BLOB_DIGEST))
        problems += _differs("blob-size", str(layer.size), notes.get(mt.ANNOTATION_BLOB_SIZE))
        problems += _differs("version", mt.OVERLAYBD_VERSION, notes.get(mt.ANNOTATION_VERSION))
        ok &= checker.add(f"layer[{position}].annotations", problems, layer.digest)
    return ok


def check_config(
    checker: Checker, manifest: Manifest, config_bytes: bytes, platform: Platform
) -> bool:
    """The config parses, its ``rootfs.diff_ids`` are the layer digests, its platform fits."""
    where = f"config {manifest.config.digest}"
    try:
        config = parse_config(config_bytes, where)
        ids = diff_ids(config, where)
    except OverlayBDError as error:
        return checker.error("config", error)
    problems = _differs("config mediaType", mt.OCI_CONFIG, manifest.config.media_type)
    layers = [layer.digest for layer in manifest.layers]
    if ids != layers:
        problems.append(f"rootfs.diff_ids: expected the {len(layers)} layer digest(s), found {ids}")
    declared = Platform.from_config(config)
    if (declared.os, declared.architecture) != (platform.os, platform.architecture):
        problems.append(f"config platform {declared} differs from the subject's {platform}")
    return checker.add("config", problems, f"diff_ids = layer digests ({len(ids)})")
