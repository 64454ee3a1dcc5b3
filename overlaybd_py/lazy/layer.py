"""Open a remote layer blob for lazy reading (spec §11 steps 1 to 4).

Only the tar header, the ZFile header (and trailer when the header was not
overwritten), the jump table and the LSMT header, trailer and index are read
here; each goes through the persistent cache. The LSMT file then reads its data
through a :class:`~.fetcher.BlockFetcher`.
"""

from __future__ import annotations

from .. import tarwrap
from ..errors import FormatError
from ..io import ByteSource, source_name
from ..layer import LayerBlob
from ..lsmt.reader import LayerFile
from ..lsmt.records import MAGIC0 as LSMT_MAGIC0
from ..zfile import ZFileReader, has_magic
from .cache import ChunkCache
from .chunks import DEFAULT_CHUNK_SIZE, ChunkLayout, PlainChunks, ZFileChunks
from .fetcher import DEFAULT_MEMORY_CHUNKS, DEFAULT_READAHEAD, BlockFetcher, CachedRangeSource
from .stats import CountingSource, LayerStats

MAGIC_PROBE = 24


def open_lazy_layer(
    blob: ByteSource,
    digest: str,
    stats: LayerStats,
    cache: ChunkCache | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    readahead: int = DEFAULT_READAHEAD,
    memory_chunks: int = DEFAULT_MEMORY_CHUNKS,
) -> LayerBlob:
    """A layer whose LSMT file reads chunks of ``blob`` on demand, through ``cache``."""
    name = source_name(blob)
    counted = CountingSource(blob, stats)
    raw = CachedRangeSource(counted, digest, cache)
    found = tarwrap.find_payload(raw)
    payload = tarwrap.unwrap(raw) if found else raw
    offset = found.offset if found else 0
    zfile = None
    layout: ChunkLayout
    if has_magic(payload.pread(0, MAGIC_PROBE)):
        zfile = ZFileReader(payload)
        layout = ZFileChunks(zfile, offset, chunk_size)
    else:
        layout = PlainChunks(offset, payload.size, chunk_size)
    fetcher = BlockFetcher(
        layout,
        counted,
        digest,
        stats,
        cache,
        readahead=readahead,
        memory_chunks=memory_chunks,
    )
    head = fetcher.pread(0, MAGIC_PROBE)
    if head[: len(LSMT_MAGIC0)] != LSMT_MAGIC0:
        inner = "the ZFile content" if zfile else f"offset {offset}"
        raise FormatError(
            f"{name}: expected a ZFile or LSMT magic at {inner}, found {head[:8].hex()}"
        )
    return LayerBlob(raw, found, zfile, LayerFile(fetcher, name=name))
