"""``obd convert``: a whole image, every platform, from any source to any target (§5)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import replace

from ..errors import ConversionError, ImageError, OverlayBDError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.image import ImageSource, ImageTarget, open_source, open_target
from ..oci.manifest import Index
from ..oci.reference import (
    DockerArchiveReference,
    ImageReference,
    LayoutReference,
    RegistryReference,
    parse_reference,
)
from ..registry.image import RegistryTarget  # importing it registers docker://
from .image import ImageConverter
from .options import ConvertOptions
from .progress import Progress, no_progress
from .report import ConvertReport

log = logging.getLogger(__name__)


def convert(
    source: str | ImageReference,
    target: str | ImageReference,
    options: ConvertOptions | None = None,
    progress: Progress = no_progress,
) -> ConvertReport:
    """Convert ``source`` into an OverlayBD image at ``target``, changed only on success."""
    src, dst = _reference("source", source), _reference("target", target)
    _refuse_same_image(src, dst)
    options = options or ConvertOptions()
    started = time.monotonic()
    with open_source(src) as image_source:
        image_target = open_target(dst)
        try:
            _check_target(image_source, image_target, src, dst)
            report = _convert(image_source, image_target, options, progress)
            image_target.commit()
        except BaseException:
            image_target.abort()
            raise
    report.target = image_target.name
    report.seconds = time.monotonic() - started
    return report


def _reference(role: str, name: object) -> ImageReference:
    if isinstance(name, str):
        return parse_reference(name)
    if not isinstance(name, LayoutReference | DockerArchiveReference | RegistryReference):
        raise ImageError(f"{role}: expected an image name such as oci:DIR:TAG, found {name!r}")
    return name


def _check_target(
    source: ImageSource, target: ImageTarget, src: ImageReference, dst: ImageReference
) -> None:
    """A registry target must answer (TLS, plain HTTP, login) before anything is converted,
    and must not be the source under another spelling of its host (``localhost`` and
    ``127.0.0.1``): the same repository and tag already holding the source manifest."""
    if not isinstance(target, RegistryTarget):
        return
    try:
        target.check()
    except OverlayBDError as error:
        error.args = (f"target {target.name}: {error}",)
        raise
    if not isinstance(src, RegistryReference) or src.tag is None:
        return
    if (src.repository, src.tag) != (target.ref.repository, target.ref.tag):
        return
    digest = source.root().digest
    if target.tagged_digest() == digest:
        raise ConversionError(
            f"target {target.name} already holds the source image {digest} under that tag "
            f"(another name for the source registry?); storing the result there would "
            f"replace the source; expected another tag, e.g. {dst}-obd"
        )


def _refuse_same_image(src: ImageReference, dst: ImageReference) -> None:
    """Storing the result under the source's own tag would lose the source: refuse early."""
    if isinstance(src, RegistryReference) and isinstance(dst, RegistryReference):
        same = (src.registry, src.repository) == (dst.registry, dst.repository)
    elif isinstance(src, LayoutReference) and isinstance(dst, LayoutReference):
        paths = os.path.realpath(src.path), os.path.realpath(dst.path)
        same = src.transport == dst.transport and paths[0] == paths[1]
    else:
        return
    if same and dst.tag is not None and dst.tag == src.tag:
        raise ConversionError(
            f"target {dst} is the source image itself: storing the result there would replace "
            f"the source; expected another tag, e.g. {dst}-obd"
        )


def _convert(
    source: ImageSource, target: ImageTarget, options: ConvertOptions, progress: Progress
) -> ConvertReport:
    root = source.root()
    report = ConvertReport(source.name, target.name, source_digest=root.digest)
    images = source.resolve(options.platforms)
    if not images:
        raise ConversionError(f"{source.name}: no image to convert")
    children: list[Descriptor] = []
    with tempfile.TemporaryDirectory(dir=options.workdir, prefix="obd-convert-") as workdir:
        for image in images:
            converter = ImageConverter(source, image, target, options, workdir, progress)
            manifest, media_type = converter.run()
            is_root = not mt.is_index(root.media_type)
            descriptor = target.put_manifest(
                manifest, media_type, tag=target.tag if is_root else None, root=is_root
            )
            converter.report.manifest = descriptor.digest
            converter.report.manifest_size = descriptor.size
            report.images.append(converter.report)
            children.append(replace(descriptor.plain(), platform=image.platform))
    if mt.is_index(root.media_type):
        index_type = mt.OCI_INDEX if options.oci else root.media_type
        index = Index(manifests=tuple(children), media_type=index_type)
        descriptor = target.put_manifest(index.to_bytes(), index_type, tag=target.tag, root=True)
    else:
        descriptor = children[0]
    report.digest = descriptor.digest
    report.media_type = descriptor.media_type
    return report
