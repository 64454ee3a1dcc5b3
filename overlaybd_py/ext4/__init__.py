"""Pure-Python ext4: mkfs, applying OCI tar layers, and reading files (spec §6).

``mkfs(device)`` formats a device with the converter's parameters,
``Filesystem(device, writable=...)`` opens an existing one, and
``apply_layer(fs, stream)`` applies one OCI layer tar onto it.
"""

from __future__ import annotations

from .apply import ApplyStats, apply_layer
from .filesystem import Filesystem, Stat
from .mkfs import mkfs

__all__ = ["ApplyStats", "Filesystem", "Stat", "apply_layer", "mkfs"]
