"""overlaybd-py: OverlayBD images (ZFile, LSMT, ext4) in pure Python."""

from __future__ import annotations

__version__ = "0.1.0"
