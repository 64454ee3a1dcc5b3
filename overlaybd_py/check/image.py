"""``check_image``: does a converted image hold exactly the tree its source layers define?

The expected tree comes from reading the source image's layer tars with the
model in :mod:`.model` (no ext4 involved); the found tree is read from the
converted image's merged ext4. Both are reduced to ``{path: Record}`` and
compared both ways.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ImageError
from ..ext4 import Filesystem
from ..lazy import open_image
from ..lazy.image import pick_image
from ..lazy.referrer import is_overlaybd_image
from ..oci import mediatypes as mt
from ..oci.image import ImageSource, open_source
from ..oci.layers import open_layer
from ..oci.platform import Platform
from ..oci.reference import ImageReference
from ..oci.resolve import ResolvedImage
from .compare import Difference, compare_trees
from .model import TreeModel
from .record import Tree
from .scan import scan_filesystem
from .tarlayer import apply_tar

log = logging.getLogger(__name__)


@dataclass
class CheckReport:
    """The outcome of one check; ``ok`` when there is no difference."""

    image: str
    source: str
    platform: str
    image_manifest: str = ""
    source_manifest: str = ""
    layers: int = 0
    members: int = 0
    """Tar members read from the source layers."""
    expected_paths: int = 0
    found_paths: int = 0
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def expected_tree(source: ImageSource, image: ResolvedImage) -> tuple[Tree, int]:
    """The tree the layers of ``image`` define, and how many tar members they hold."""
    model = TreeModel()
    members = 0
    for position, layer in enumerate(image.layers):
        where = f"source layer {position} ({layer.digest})"
        with open_layer(source, image, position) as stream:
            members += apply_tar(model, stream, where)
    return model.records(), members


def _source_image(
    source: ImageSource, platform: Platform, platforms: Sequence[Platform] | None
) -> ResolvedImage:
    """The source image of the converted image's platform; never an OverlayBD image."""
    if platforms:
        image = pick_image(source.resolve(platforms), platforms, source.name)
    else:
        images = source.resolve(None)
        matching = [i for i in images if i.platform.matches(platform)]
        image = pick_image(matching or images, (platform,), source.name)
        if not image.platform.matches(platform):
            log.warning(
                "%s is a %s image, the converted image is %s; comparing them anyway",
                source.name,
                image.platform,
                platform,
            )
    if is_overlaybd_image(image):
        raise ImageError(
            f"{source.name}: is an OverlayBD image (its layers carry "
            f"{mt.ANNOTATION_BLOB_DIGEST}); --against needs the image it was converted from"
        )
    return image


def check_image(
    image_ref: str | ImageReference,
    source_ref: str | ImageReference,
    platforms: Sequence[Platform] | None = None,
) -> CheckReport:
    """Compare the converted image ``image_ref`` with the tree of ``source_ref``'s layers.

    With a multi-platform image, ``platforms`` picks one (default: the host's); the
    source image of the same platform is used.
    """
    started = time.monotonic()
    with open_image(image_ref, platforms) as converted:
        with open_source(source_ref) as source:
            image = _source_image(source, converted.platform, platforms)
            report = CheckReport(
                image=converted.name,
                source=source.name,
                platform=str(converted.platform),
                image_manifest=converted.image.descriptor.digest,
                source_manifest=image.descriptor.digest,
                layers=len(image.layers),
            )
            expected, report.members = expected_tree(source, image)
        found = scan_filesystem(Filesystem(converted.device, writable=False))
    report.expected_paths, report.found_paths = len(expected), len(found)
    report.differences = compare_trees(expected, found)
    report.seconds = time.monotonic() - started
    log.info(
        "checked %s against %s: %d paths, %d differences",
        report.image,
        report.source,
        report.expected_paths,
        len(report.differences),
    )
    return report
