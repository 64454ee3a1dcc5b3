"""Turn the sectors one layer wrote into its registry blob: tar ∘ ZFile ∘ LSMT commit (§5.1).

The LSMT commit streams straight into the ZFile writer, which streams into the
blob file; the tar prefix needs the ZFile's size, so 1536 placeholder bytes are
written first and replaced at the end, as upstream does.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from .. import tarwrap
from ..blockdev import OverlayDevice
from ..lsmt.writer import CommitInfo, commit_device
from ..zfile import ZFileSummary, ZFileWriter

_HASH_CHUNK = 4 << 20


@dataclass(frozen=True)
class LayerBlobFile:
    """A finished layer blob on local disk."""

    path: str
    digest: str
    size: int
    commit: CommitInfo
    zfile: ZFileSummary


def write_layer_blob(
    device: OverlayDevice,
    path: str,
    *,
    uuid: str,
    parent_uuid: str,
    algorithm: str = "lz4",
    block_size: int = 4096,
    threads: int = 1,
) -> LayerBlobFile:
    """Commit ``device``'s written sectors into the blob file ``path``."""
    with open(path, "w+b") as out:
        out.write(bytes(tarwrap.PREFIX_SIZE))
        zfile = ZFileWriter(out, algorithm=algorithm, block_size=block_size, threads=threads)
        commit = commit_device(device, zfile, uuid=uuid, parent_uuid=parent_uuid)
        summary = zfile.close()
        out.write(tarwrap.suffix(summary.compressed_size))
        out.seek(0)
        out.write(tarwrap.prefix(summary.compressed_size))
        out.flush()
        os.fsync(out.fileno())
        out.seek(0)
        digest = hashlib.sha256()
        size = 0
        while chunk := out.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return LayerBlobFile(path, f"sha256:{digest.hexdigest()}", size, commit, summary)
