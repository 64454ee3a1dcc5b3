"""Convert one single-platform image, layer by layer, into OverlayBD layer blobs (§5.1, §5.4).

Layer ``i`` is applied onto an ext4 that lives on an :class:`OverlayDevice` whose
lower is layer ``i-1``'s device, so nothing is decompressed twice. While layer
``i`` is applied, layer ``i-1``'s sectors are committed, compressed and stored
on another thread, and layer ``i+1`` is fetched and decompressed on a third.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import BinaryIO

from ..blockdev import OverlayDevice
from ..errors import ConversionError
from ..ext4 import Filesystem, apply_layer, mkfs
from ..io import ByteSource, FileSource
from ..layer import open_stack
from ..oci import mediatypes as mt
from ..oci.config import rewrite_config
from ..oci.descriptor import Descriptor
from ..oci.digest import layer_uuids
from ..oci.image import ImageSource, ImageTarget
from ..oci.layers import open_layer
from ..oci.manifest import Manifest
from ..oci.resolve import ResolvedImage
from .baselayer import extract_base_layer, wrap_base_layer
from .blob import store_layer_blob, write_layer_zfile
from .feed import LayerFeed, drain
from .options import ConvertOptions
from .progress import Progress, ProgressEvent
from .report import ImageReport, LayerReport
from .sizing import auto_vsize, measure_layers

log = logging.getLogger(__name__)


class _CountingStream:
    """A blob stream that reports how many bytes have been read from it."""

    def __init__(self, stream: BinaryIO, report: Callable[[int], None]) -> None:
        self._stream = stream
        self._report = report

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._report(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._report(n)
        return n

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _CountingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CountingOpener:
    """Opens blobs of ``source`` as streams that report the bytes read from them."""

    def __init__(self, source: ImageSource, report: Callable[[int], None]) -> None:
        self._source = source
        self._report = report

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return _CountingStream(self._source.open_blob(descriptor), self._report)  # type: ignore[return-value]


class ImageConverter:
    """Converts one resolved image; blobs go to ``target``, the manifest bytes are returned."""

    def __init__(
        self,
        source: ImageSource,
        image: ResolvedImage,
        target: ImageTarget,
        options: ConvertOptions,
        workdir: str,
        progress: Progress,
    ) -> None:
        self.source = source
        self.image = image
        self.target = target
        self.options = options
        self.workdir = workdir
        self.progress = progress
        self.platform = str(image.platform)
        diff_ids = image.diff_ids
        if len(diff_ids) != len(image.layers):
            raise ConversionError(
                f"{self.platform}: config has {len(diff_ids)} diff_ids but the manifest has "
                f"{len(image.layers)} layers"
            )
        converted = [d.digest for d in image.layers if mt.ANNOTATION_BLOB_DIGEST in d.annotations]
        if converted:
            raise ConversionError(
                f"{self.platform} image {image.descriptor.digest}: already an OverlayBD image "
                f"(layer {converted[0]} carries {mt.ANNOTATION_BLOB_DIGEST}); convert its source"
            )
        if not image.layers:
            raise ConversionError(
                f"{self.platform} image {image.descriptor.digest}: has no layers to convert"
            )
        self.layer_type = mt.OCI_LAYER_TAR if options.oci else mt.DOCKER_LAYER_TAR
        self.report = ImageReport(self.platform, image.descriptor.digest)
        for position, ((uuid, parent), layer) in enumerate(
            zip(layer_uuids(diff_ids), image.layers, strict=True)
        ):
            self.report.layers.append(
                LayerReport(position, layer.digest, diff_ids[position], uuid, parent)
            )

    # -- the source side ---------------------------------------------------------

    def _open_layer(self, position: int) -> BinaryIO:
        """Layer ``position`` as a checked tar stream; bytes read are reported as progress."""
        total = self.image.layers[position].size

        def counted(n: int) -> None:
            self._emit("layer-bytes", position, amount=n, total=total)

        return open_layer(_CountingOpener(self.source, counted), self.image, position)

    def _emit(self, kind: str, layer: int = -1, amount: int = 0, total: int = 0) -> None:
        self.progress(
            ProgressEvent(kind, self.platform, layer, len(self.image.layers), amount, total)
        )

    # -- the conversion ----------------------------------------------------------

    def run(self) -> tuple[bytes, str]:
        """Convert every layer, store config and layer blobs; returns manifest bytes and type."""
        self._emit("image")
        layers: list[Descriptor] = []
        with ExitStack() as stack:
            lower, vsize = self._base(stack, layers)
            self.report.vsize = vsize
            devices: list[OverlayDevice] = []
            stack.callback(_close_all, devices)  # after the commit thread has stopped
            feed = stack.enter_context(LayerFeed(self._open_layer, len(self.image.layers)))
            committer = stack.enter_context(ThreadPoolExecutor(1, "obd-commit"))
            pending: Future[Descriptor] | None = None
            for position in range(len(self.image.layers)):
                device = OverlayDevice(lower, size=vsize, spool_dir=self.workdir)
                devices.append(device)
                self._apply(position, device, feed.stream(position))
                if pending is not None:
                    layers.append(pending.result())
                pending = committer.submit(self._commit, position, device)
                lower = device
            if pending is not None:
                layers.append(pending.result())
        return self._finish(layers)

    def _base(self, stack: ExitStack, layers: list[Descriptor]) -> tuple[ByteSource | None, int]:
        """The lower of layer 0 and the disk size; with ``--no-mkfs`` also stores the base layer."""
        if self.options.mkfs:
            vsize = self.options.vsize
            if vsize is None:
                data, entries = measure_layers(self._open_layer, len(self.image.layers))
                vsize = auto_vsize(data, entries)
                log.info("%s: --vsize auto chose %d GiB", self.platform, vsize >> 30)
            return None, vsize
        path = extract_base_layer(self.workdir)
        base = open_stack([stack.enter_context(FileSource(path))], name="base layer")
        wrapped = os.path.join(self.workdir, "base-layer.tar")
        wrap_base_layer(path, wrapped)
        descriptor = self.target.put_blob(wrapped, self.layer_type)
        layers.append(self._annotated(descriptor))
        self.report.layers.insert(
            0,
            LayerReport(
                -1,
                "",
                descriptor.digest,
                "",
                "",
                descriptor.digest,
                descriptor.size,
                base_layer=True,
            ),
        )
        return base, base.size

    def _apply(self, position: int, device: OverlayDevice, stream: BinaryIO) -> None:
        layer = self._layer_report(position)
        self._emit("layer-start", position, total=self.image.layers[position].size)
        started = time.monotonic()
        if position == 0 and self.options.mkfs:
            fs = mkfs(device)
        else:
            fs = Filesystem(device, writable=True)
        stats = apply_layer(fs, stream, name=f"layer {position} ({layer.source_digest})")
        drain(stream)
        fs.close()
        layer.entries = stats.entries
        layer.tar_bytes = stats.bytes
        layer.apply_seconds = time.monotonic() - started
        self._emit("layer-applied", position)

    def _commit(self, position: int, device: OverlayDevice) -> Descriptor:
        """Commit, compress and store one layer (runs on the commit thread)."""
        layer = self._layer_report(position)
        started = time.monotonic()
        committed = write_layer_zfile(
            device,
            os.path.join(self.workdir, f"layer-{position}.zfile"),
            uuid=layer.uuid,
            parent_uuid=layer.parent_uuid,
            algorithm=self.options.algorithm,
            block_size=self.options.block_size,
            threads=self.options.threads,
        )
        try:
            descriptor = store_layer_blob(self.target, committed, self.layer_type)
        finally:
            os.unlink(committed.path)
        layer.blob_digest, layer.blob_size = descriptor.digest, descriptor.size
        layer.data_bytes = committed.commit.data_sectors * 512
        layer.commit_seconds = time.monotonic() - started
        self._emit("layer-done", position, amount=descriptor.size)
        return self._annotated(descriptor)

    def _annotated(self, descriptor: Descriptor) -> Descriptor:
        return descriptor.with_annotations(
            {
                mt.ANNOTATION_BLOB_DIGEST: descriptor.digest,
                mt.ANNOTATION_BLOB_SIZE: str(descriptor.size),
                mt.ANNOTATION_VERSION: mt.OVERLAYBD_VERSION,
            }
        )

    def _layer_report(self, position: int) -> LayerReport:
        return next(r for r in self.report.layers if r.position == position)

    def _finish(self, layers: list[Descriptor]) -> tuple[bytes, str]:
        diff_ids = [layer.digest for layer in layers]
        config_bytes = rewrite_config(
            self.image.config_bytes,
            diff_ids,
            f"config {self.image.manifest.config.digest}",
            upstream=True,
        )
        config_type = mt.OCI_CONFIG if self.options.oci else mt.DOCKER_CONFIG
        config = self.target.put_blob(config_bytes, config_type)
        manifest_type = mt.OCI_MANIFEST if self.options.oci else mt.DOCKER_MANIFEST
        manifest = Manifest(config=config.plain(), layers=tuple(layers), media_type=manifest_type)
        data = manifest.to_bytes()
        self.report.config = config.digest
        return data, manifest_type


def _close_all(devices: list[OverlayDevice]) -> None:
    for device in devices:
        device.close()
