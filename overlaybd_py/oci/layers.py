"""Layer tar streams: a source layer blob, decompressed by magic, checked against its diff ID.

Two checks guard every layer a conversion reads: the blob's digest (while the
compressed bytes are read) and the config's diff ID (over the decompressed tar),
both raised at the end of the stream. Compression is detected from the bytes, never
from the media type, because real layouts mislabel it.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Protocol

from ..compression import open_stream
from .blobio import CHUNK, VerifyingReader
from .descriptor import Descriptor
from .resolve import ResolvedImage


class BlobOpener(Protocol):
    """Anything with ``open_blob`` (every ``ImageSource``)."""

    def open_blob(self, descriptor: Descriptor) -> BinaryIO: ...


def open_layer(source: BlobOpener, image: ResolvedImage, position: int) -> BinaryIO:
    """The uncompressed tar stream of layer ``position``, digest- and diff-ID-checked."""
    layer = image.layers[position]
    diff_id = image.diff_ids[position]
    where = f"layer {position} ({layer.digest})"
    tar_stream = open_stream(source.open_blob(layer), where)
    expected = Descriptor(layer.media_type, diff_id, 0)
    checked = VerifyingReader(tar_stream, expected, f"{where} uncompressed", check_size=False)
    return io.BufferedReader(checked, CHUNK)  # type: ignore[return-value]
