"""Reading converted images on demand: local layouts, and registries through a cache.

- :func:`open_image` / :class:`OverlayImage`: an image as a block device and a filesystem.
- :class:`LazyOptions`: registry options, cache location and size, chunking, readahead.
- :class:`ChunkCache`: the persistent, size-bounded, multi-process block cache.
- :class:`BlockFetcher`: one layer's chunks, fetched by coalesced range requests.
- :mod:`.mount`: the FUSE face (``obd mount``).
"""

from __future__ import annotations

from .cache import ChunkCache, default_cache_dir
from .fetcher import BlockFetcher
from .filesystem import ImageFilesystem
from .image import LazyOptions, OverlayImage, open_image
from .stats import ImageStats, LayerStats

__all__ = [
    "BlockFetcher",
    "ChunkCache",
    "ImageFilesystem",
    "ImageStats",
    "LayerStats",
    "LazyOptions",
    "OverlayImage",
    "default_cache_dir",
    "open_image",
]
