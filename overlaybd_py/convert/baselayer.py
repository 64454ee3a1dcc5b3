"""The upstream empty base layer used by ``--no-mkfs`` (spec §5.5).

A bare ZFile of an LSMT commit holding an empty 64 GiB ext4 made by mke2fs in
2021, shipped gzip-tarred as upstream ships it. Converters that do not format
their own disk stack the image on it and push it tar-wrapped as layer 0.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from importlib import resources

from .. import tarwrap
from ..errors import ConversionError

BASE_LAYER_SHA256 = "c3a417552a6cf9ffa959b541850bab7d7f08f4255425bf8b48c85f7b36b378d9"
BASE_LAYER_SIZE = 4737695
BASE_LAYER_MEMBER = "overlaybd.commit"
BASE_LAYER_MODE = 0o444


def extract_base_layer(directory: str) -> str:
    """Write the bare base layer file ``ext4_64`` into ``directory``; returns its path."""
    packed = resources.files("overlaybd_py.data").joinpath("baselayer-ext4_64.tar.gz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(packed))) as archive:
        member = archive.extractfile("ext4_64")
        if member is None:
            raise ConversionError("bundled base layer archive has no ext4_64 member")
        data = member.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != BASE_LAYER_SHA256:
        raise ConversionError(
            f"bundled base layer: expected sha256 {BASE_LAYER_SHA256}, found {digest}"
        )
    path = os.path.join(directory, "ext4_64")
    with open(path, "wb") as out:
        out.write(data)
    return path


def wrap_base_layer(path: str, out_path: str) -> None:
    """Wrap the base layer as upstream pushes it: one ustar member, mode 0444, no pax header.

    Written by hand rather than through ``tarfile.open`` so the archive ends with
    the two zero blocks only, without padding to a 10 KiB record.
    """
    info = tarfile.TarInfo(BASE_LAYER_MEMBER)
    info.size = os.path.getsize(path)
    info.mode = BASE_LAYER_MODE
    info.mtime = 0
    with open(path, "rb") as data, open(out_path, "wb") as out:
        out.write(info.tobuf(format=tarfile.USTAR_FORMAT))
        while chunk := data.read(1 << 20):
            out.write(chunk)
        out.write(tarwrap.suffix(info.size))
