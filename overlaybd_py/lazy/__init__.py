"""Reading converted images on demand: local layouts, and registries through a cache.

- :func:`open_image` / :class:`OverlayImage`: an image as a block device and a filesystem.
- :class:`LazyOptions`: registry options, cache location and size, chunking, readahead.
- :class:`ChunkCache`: the persistent, size-bounded, multi-process block cache.
- :class:`BlockFetcher`: one layer's chunks, fetched by coalesced range requests.
- :mod:`.mount`: the FUSE face (``obd mount``).
"""

from __future__ import annotations

from ..oci import image as _oci_image
from ..oci.reference import DOCKER
from .cache import ChunkCache, default_cache_dir
from .fetcher import BlockFetcher
from .filesystem import ImageFilesystem
from .image import LazyOptions, OverlayImage, open_image
from .registry_source import RegistryImageSource, register_docker_transport, set_default_hosts
from .stats import ImageStats, LayerStats

# The registry package does not plug itself into ``open_source``; until it does, we do.
if DOCKER not in _oci_image._SOURCES:
    register_docker_transport()

__all__ = [
    "BlockFetcher",
    "ChunkCache",
    "ImageFilesystem",
    "ImageStats",
    "LayerStats",
    "LazyOptions",
    "OverlayImage",
    "RegistryImageSource",
    "default_cache_dir",
    "open_image",
    "register_docker_transport",
    "set_default_hosts",
]
