"""Open an OverlayBD layer blob from any byte source (spec §4.2, §11).

A blob may be the tar-wrapped ZFile the converters push, a tar around a bare
LSMT file, a bare ZFile (the legacy base layer) or a bare LSMT file; the first
bytes decide.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from . import tarwrap
from .errors import FormatError
from .io import ByteSource, FileSource, source_name
from .lsmt.reader import LayerFile
from .lsmt.records import MAGIC0 as LSMT_MAGIC0
from .lsmt.stack import LayerStack
from .zfile import ZFileReader, has_magic


@dataclass(frozen=True)
class LayerBlob:
    """The three wrappings of one layer; ``lsmt`` is the random-access view."""

    source: ByteSource
    tar: tarwrap.TarPrefix | None
    zfile: ZFileReader | None
    lsmt: LayerFile

    @property
    def size(self) -> int:
        return self.lsmt.size

    def pread(self, offset: int, length: int) -> bytes:
        return self.lsmt.pread(offset, length)


def open_layer_blob(
    source: ByteSource | str | os.PathLike[str], *, check_crc: bool = True
) -> LayerBlob:
    """Peel the tar wrapper and the ZFile, whichever are present, and open the LSMT file.

    ``source`` is any byte source, or a local file path.
    """
    if isinstance(source, str | os.PathLike):
        source = FileSource(source)
    name = source_name(source)
    found = tarwrap.find_payload(source)
    payload = tarwrap.unwrap(source) if found else source
    head = payload.pread(0, 24)
    zfile = None
    if has_magic(head):
        zfile = ZFileReader(payload, check_crc=check_crc)
        payload = zfile
        head = payload.pread(0, 24)
    if head[: len(LSMT_MAGIC0)] != LSMT_MAGIC0:
        where = f"offset {found.offset}" if found else "offset 0"
        inner = "the ZFile content" if zfile else f"{where}"
        raise FormatError(
            f"{name}: expected a ZFile or LSMT magic at {inner}, found {head[:8].hex()}"
        )
    return LayerBlob(source, found, zfile, LayerFile(payload, name=name))


def open_stack(sources_bottom_first: Sequence[ByteSource], name: str = "<stack>") -> LayerStack:
    """Open layer blobs given bottom-first and merge them into one virtual device."""
    return LayerStack([open_layer_blob(s).lsmt for s in sources_bottom_first], name=name)
