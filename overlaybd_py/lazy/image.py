"""Open a converted OverlayBD image as a block device and a filesystem (spec §11).

Every layer blob is read through a positional byte source: a local blob file for
OCI layouts, an HTTP range reader for registries. Only the headers, the jump
tables and the indexes are read on open; file data is fetched when it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack

from ..errors import FormatError, ImageError, UnsupportedError
from ..ext4 import Filesystem
from ..io import ByteSource
from ..layer import LayerBlob, open_layer_blob
from ..lsmt.stack import LayerStack
from ..oci.descriptor import Descriptor
from ..oci.image import ImageSource, open_source
from ..oci.platform import Platform, host_platform
from ..oci.reference import ImageReference
from ..oci.resolve import ResolvedImage
from ..registry import image as _registry_transport  # noqa: F401  (registers docker://)

log = logging.getLogger(__name__)


class OverlayImage:
    """A converted image opened for reading: ``device`` is the merged virtual disk."""

    def __init__(self, source: ImageSource, image: ResolvedImage) -> None:
        self.source = source
        self.image = image
        self.name = source.name
        self._stack = ExitStack()
        self.layers: list[LayerBlob] = []
        try:
            for position, layer in enumerate(image.layers):
                blob = self._blob_source(layer, position)
                try:
                    self.layers.append(open_layer_blob(blob))
                except FormatError as exc:
                    raise ImageError(
                        f"{self.name}: layer {position} ({layer.digest}) is not an OverlayBD "
                        f"layer: {exc}"
                    ) from None
        except BaseException:
            self.close()
            raise
        self.device = LayerStack([b.lsmt for b in self.layers], name=self.name)
        self._fs: Filesystem | None = None

    def _blob_source(self, layer: Descriptor, position: int) -> ByteSource:
        opener = getattr(self.source, "blob_source", None)
        if opener is None:
            raise UnsupportedError(f"{self.name}: this transport cannot read blob ranges")
        source = opener(layer)
        self._stack.callback(getattr(source, "close", lambda: None))
        return source  # type: ignore[no-any-return]

    @property
    def platform(self) -> Platform:
        return self.image.platform

    def filesystem(self) -> Filesystem:
        """The ext4 filesystem on the merged disk, read-only."""
        if self._fs is None:
            self._fs = Filesystem(self.device, writable=False)
        return self._fs

    def close(self) -> None:
        self._stack.close()
        self.source.close()

    def __enter__(self) -> OverlayImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pick_image(
    images: Sequence[ResolvedImage], wanted: Sequence[Platform] | None, name: str
) -> ResolvedImage:
    """One image out of an index: the requested platform, else the host's."""
    if len(images) == 1:
        return images[0]
    host = host_platform()
    for image in images:
        if image.platform.matches(host):
            return image
    choices = ", ".join(str(i.platform) for i in images)
    wanted_text = ", ".join(map(str, wanted)) if wanted else f"the host platform {host}"
    raise ImageError(f"{name}: no image for {wanted_text}; choose one with --platform: {choices}")


def open_image(
    reference: str | ImageReference, platforms: Sequence[Platform] | None = None
) -> OverlayImage:
    """Open a converted image (one platform of it) for reading."""
    source = open_source(reference)
    try:
        image = pick_image(source.resolve(platforms or None), platforms, source.name)
        return OverlayImage(source, image)
    except BaseException:
        source.close()
        raise
