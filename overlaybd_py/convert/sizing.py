"""``--vsize auto``: a disk big enough for the image, so large images never run out of space.

The upstream converter formats every image on a 64 GiB disk and fails with "no
space left" on bigger ones. Here a first pass reads every layer's tar headers
(the data is skipped, not stored) and sizes the disk for the sum of all layers
— an upper bound, since later layers may delete files — with room for metadata
and an inode for every entry (the ext4 builder gives one inode per 16 KiB).
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from typing import BinaryIO

from ..errors import ConversionError
from ..ext4.tarstream import KIND_FILE, iter_entries
from .options import MAX_VSIZE

GIB = 1 << 30
BLOCK = 4096
BYTES_PER_INODE = 16384
CHUNK = 1 << 20
HEADROOM = 1.5
"""Multiplier over the data and inode needs: ext4 metadata, the 5% reserve, slack."""


def measure_layers(open_layer: Callable[[int], BinaryIO], count: int) -> tuple[int, int]:
    """Total 4 KiB-rounded file bytes and total entries over all layers.

    File data is read (not skipped by seeking), so a header that declares more data
    than the stream holds fails at the end of the stream instead of spinning.
    """
    blocks = entries = 0
    for position in range(count):
        with open_layer(position) as stream:
            for entry in iter_entries(stream, f"layer {position}"):
                entries += 1
                blocks += -(-entry.size // BLOCK) if entry.kind == KIND_FILE else 1
                if entry.reader is not None:
                    _skip(entry.reader, f"layer {position} member {entry.index}")
    return blocks * BLOCK, entries


def _skip(reader: BinaryIO, where: str) -> None:
    try:
        while reader.read(CHUNK):
            pass
    except tarfile.TarError as exc:
        raise ConversionError(f"{where}: {exc}") from None


def auto_vsize(data_bytes: int, entries: int) -> int:
    """The disk size for an image: whole GiB, at least 1 GiB, at most what mkfs supports."""
    need = max(data_bytes, (entries + 1024) * BYTES_PER_INODE) * HEADROOM
    vsize = max(GIB, -(-int(need) // GIB) * GIB)
    if vsize > MAX_VSIZE:
        raise ConversionError(
            f"--vsize auto: the image needs about {vsize >> 30} GiB, more than the "
            f"{MAX_VSIZE >> 30} GiB this converter formats"
        )
    return vsize
