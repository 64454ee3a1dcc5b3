"""Reading converted images on demand: local layouts now, registries with a cache."""

from __future__ import annotations

from .image import OverlayImage, open_image

__all__ = ["OverlayImage", "open_image"]
