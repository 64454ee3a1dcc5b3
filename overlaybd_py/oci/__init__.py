"""OCI and Docker images on the image side: names, layouts, archives, manifests, configs.

The convert pipeline needs only ``open_source``/``open_target`` and the objects they
return; the modules below are public for finer use:

- ``mediatypes``: every media type, annotation key and artifact type (spec §5, §8).
- ``digest``: ``sha256:<hex>`` helpers, chain IDs, layer UUIDs (spec §5.1).
- ``descriptor``, ``manifest``, ``config``: parse and serialise as Go does (spec §5.4).
- ``reference``: skopeo-style image names.
- ``platform``, ``resolve``: index walking and ``--platform`` selection.
- ``layout``, ``layout_writer``, ``archive``, ``docker_archive``: local transports.
- ``image``: the ``ImageSource``/``ImageTarget`` protocols and transport registry.
- ``layers``: decompressed, digest- and diff-ID-checked layer tar streams.
"""

from __future__ import annotations

from .descriptor import Descriptor
from .image import ImageSource, ImageTarget, open_source, open_target, register_transport
from .layers import open_layer
from .manifest import Index, Manifest
from .platform import Platform, host_platform, parse_platform
from .reference import parse_reference
from .resolve import ResolvedImage

__all__ = [
    "Descriptor",
    "ImageSource",
    "ImageTarget",
    "Index",
    "Manifest",
    "Platform",
    "ResolvedImage",
    "host_platform",
    "open_layer",
    "open_source",
    "open_target",
    "parse_platform",
    "parse_reference",
    "register_transport",
]
