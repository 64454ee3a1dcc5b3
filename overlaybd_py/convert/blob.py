"""Turn the sectors one layer wrote into its registry blob: tar ∘ ZFile ∘ LSMT commit (§5.1).

The LSMT commit streams straight into the ZFile writer, which writes a local
file. The tar prefix needs the ZFile's size, so the blob is composed afterwards:
prefix, ZFile, suffix streamed into the target (hashed on the way), without a
second copy on disk when the target can take a stream.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .. import tarwrap
from ..blockdev import OverlayDevice
from ..lsmt.writer import CommitInfo, commit_device
from ..oci.descriptor import Descriptor
from ..oci.image import ImageTarget
from ..zfile import ZFileSummary, ZFileWriter

_CHUNK = 4 << 20


@dataclass(frozen=True)
class LayerCommit:
    """A committed layer as a bare ZFile on local disk."""

    path: str
    commit: CommitInfo
    zfile: ZFileSummary


def write_layer_zfile(
    device: OverlayDevice,
    path: str,
    *,
    uuid: str,
    parent_uuid: str,
    algorithm: str = "lz4",
    block_size: int = 4096,
    threads: int = 1,
) -> LayerCommit:
    """Commit ``device``'s written sectors as an LSMT layer compressed into the ZFile ``path``."""
    with (
        open(path, "wb") as out,
        ZFileWriter(out, algorithm=algorithm, block_size=block_size, threads=threads) as zfile,
    ):
        commit = commit_device(device, zfile, uuid=uuid, parent_uuid=parent_uuid)
        summary = zfile.close()
    return LayerCommit(path, commit, summary)


def wrapped_chunks(layer: LayerCommit) -> Iterator[bytes]:
    """The blob's bytes: tar prefix, the ZFile, padding and the end marker."""
    size = layer.zfile.compressed_size
    yield tarwrap.prefix(size)
    with open(layer.path, "rb") as zfile:
        while chunk := zfile.read(_CHUNK):
            yield chunk
    yield tarwrap.suffix(size)


def store_layer_blob(target: ImageTarget, layer: LayerCommit, media_type: str) -> Descriptor:
    """Put the tar-wrapped layer into ``target``; streamed when the target takes streams."""
    blob_writer = getattr(target, "blob_writer", None)
    if blob_writer is not None:
        writer = blob_writer()
        try:
            for chunk in wrapped_chunks(layer):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return target.finish_blob(writer, media_type)  # type: ignore[attr-defined, no-any-return]
    path = f"{layer.path}.tar"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for chunk in wrapped_chunks(layer):
            digest.update(chunk)
            out.write(chunk)
    try:
        expected = Descriptor(media_type, f"sha256:{digest.hexdigest()}", os.path.getsize(path))
        return target.put_blob(path, media_type, expected=expected)
    finally:
        os.unlink(path)
