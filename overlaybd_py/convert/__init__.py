"""The image pipeline: source image → per-layer apply → commit → target image (spec §5)."""

from __future__ import annotations

from .options import DEFAULT_VSIZE, ConvertOptions, parse_size
from .pipeline import convert
from .progress import ProgressEvent
from .report import ConvertReport, ImageReport, LayerReport

__all__ = [
    "DEFAULT_VSIZE",
    "ConvertOptions",
    "ConvertReport",
    "ImageReport",
    "LayerReport",
    "ProgressEvent",
    "convert",
    "parse_size",
]
