"""Progress events a conversion reports; the CLI renders them, the library never prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProgressEvent:
    kind: str
    """``image``, ``layer-start``, ``layer-bytes``, ``layer-applied``, ``layer-done``."""
    platform: str
    layer: int = -1
    layers: int = 0
    amount: int = 0
    """Bytes read from the source blob (for ``layer-bytes``: the increment)."""
    total: int = 0
    """Size of the source blob."""


class Progress(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


def no_progress(event: ProgressEvent) -> None:
    """The default: report nothing."""
