"""Layer blob checks of one streaming referrer, with range reads only (spec §4, §3, §2, §11).

The shallow checks stat every blob and open each layer's tar wrapper, ZFile header,
jump table and LSMT header/trailer/index through positional reads, so a registry
serves a few small ranges per layer. The deep checks read every byte once: the blob
digest, every ZFile block CRC, and the ext4 superblock of the merged disk.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass

from ..errors import OverlayBDError
from ..ext4 import Filesystem
from ..io import FileSource
from ..layer import LayerBlob, open_layer_blob
from ..lsmt.reader import LayerFile
from ..lsmt.stack import LayerStack
from ..oci.descriptor import Descriptor
from ..oci.manifest import Manifest
from .checks import Checker
from .location import ImageLocation

log = logging.getLogger(__name__)

MAX_LISTED_PROBLEMS = 3


@dataclass(frozen=True)
class LayerOutcome:
    """A layer whose headers opened (``None`` when they did not)."""

    position: int
    blob: LayerBlob | None


def check_blobs_present(checker: Checker, location: ImageLocation, manifest: Manifest) -> bool:
    """Every blob is stored with its declared size (HEAD, or the layout file's size)."""
    ok = True
    named = [("config.blob", manifest.config)]
    named += [(f"layer[{i}].blob", layer) for i, layer in enumerate(manifest.layers)]
    for name, blob in named:
        try:
            size = location.blob_size(blob.digest)
        except OverlayBDError as error:
            ok &= checker.error(name, error)
            continue
        if size is None:
            problems = [f"blob {blob.digest} is missing from {location.name}"]
        elif size != blob.size:
            problems = [f"blob {blob.digest}: expected {blob.size} bytes, found {size}"]
        else:
            problems = []
        ok &= checker.add(name, problems, f"{blob.size} B present")
    return ok


def check_layer_headers(
    checker: Checker, location: ImageLocation, layer: Descriptor, position: int
) -> LayerBlob | None:
    """Tar wrapper, ZFile header/jump table and LSMT header/trailer/index, by range reads."""
    name = f"layer[{position}].format"
    try:
        source = location.blob_source(layer)
        blob = open_layer_blob(source)
    except OverlayBDError as error:
        checker.error(name, error)
        return None
    problems = []
    if blob.tar is None:
        problems.append("expected a tar wrapper around the ZFile (spec §4.1), found none")
    if blob.zfile is None:
        problems.append("expected a ZFile-compressed LSMT file, found a bare LSMT file")
    fetched = getattr(source, "bytes_fetched", None)
    read = f"; read {fetched} of {layer.size} B" if fetched is not None else ""
    checker.add(name, problems, describe_blob(blob) + read)
    return blob


def describe_blob(blob: LayerBlob) -> str:
    """A one-line summary of a layer's wrappers."""
    parts = []
    if blob.tar is not None:
        parts.append(f"tar payload at {blob.tar.offset} ({blob.tar.size} B)")
    if blob.zfile is not None:
        z = blob.zfile
        parts.append(f"ZFile {z.info.algorithm_name} {z.block_size} B x {z.num_blocks} blocks")
    layer = blob.lsmt
    parts.append(f"LSMT uuid {layer.uuid} vsize {layer.virtual_size}")
    return ", ".join(parts)


def check_deep(
    checker: Checker,
    location: ImageLocation,
    manifest: Manifest,
    opened: list[LayerBlob | None],
    workdir: str | None = None,
) -> None:
    """Blob digests, every ZFile block CRC, and the merged disk's ext4 superblock."""
    with ExitStack() as stack:
        scratch = stack.enter_context(
            tempfile.TemporaryDirectory(dir=workdir, prefix="obd-verify-")
        )
        layers: list[LayerFile | None] = []
        for position, layer in enumerate(manifest.layers):
            layers.append(_deep_layer(checker, location, layer, position, scratch, stack))
        _check_disk(checker, layers, opened)


def _deep_layer(
    checker: Checker,
    location: ImageLocation,
    layer: Descriptor,
    position: int,
    scratch: str,
    stack: ExitStack,
) -> LayerFile | None:
    try:
        path, digest = location.materialize(layer, scratch)
    except OverlayBDError as error:
        checker.error(f"layer[{position}].digest", error)
        return None
    problems = [] if digest == layer.digest else [f"blob content hashes to {digest}"]
    checker.add(f"layer[{position}].digest", problems, layer.digest)
    try:
        source = stack.enter_context(FileSource(path))
        source.name = f"{location.name}@{layer.digest}"  # not the temporary copy's path
        blob = open_layer_blob(source)
    except OverlayBDError as error:
        checker.error(f"layer[{position}].crc", error)
        return None
    if blob.zfile is None:
        checker.add(f"layer[{position}].crc", [], "no ZFile: nothing to check")
        return blob.lsmt
    bad = blob.zfile.verify()
    total = blob.zfile.num_blocks
    problems = []
    if bad:
        shown = ", ".join(
            f"block {p.block} at offset {p.offset} (stored {p.expected:#010x}, "
            f"computed {p.computed:#010x})"
            for p in bad[:MAX_LISTED_PROBLEMS]
        )
        problems.append(f"{len(bad)} of {total} block CRCs wrong: {shown}")
    checker.add(f"layer[{position}].crc", problems, f"{total} block CRCs match")
    return blob.lsmt


def _check_disk(
    checker: Checker, layers: list[LayerFile | None], opened: list[LayerBlob | None]
) -> None:
    """Open the merged disk as ext4: superblock magic, geometry, group descriptors, root."""
    missing = [
        i for i, (a, b) in enumerate(zip(layers, opened, strict=True)) if a is None or b is None
    ]
    if missing:
        checker.add("disk.ext4", [f"not checked: layer(s) {missing} could not be opened"])
        return
    try:
        stack = LayerStack([layer for layer in layers if layer is not None], name="merged disk")
        fs = Filesystem(stack, writable=False)
        entries = fs.listdir("/")
        detail = (
            f"ext4 magic 0xEF53, {fs.sb.blocks_count} blocks of {fs.block_size} B, "
            f"{len(entries)} entries in /"
        )
        fs.close()
    except OverlayBDError as error:
        checker.error("disk.ext4", error)
        return
    checker.add("disk.ext4", [], detail)
