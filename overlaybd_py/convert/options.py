"""What a conversion is asked to produce."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConversionError
from ..oci.platform import Platform, parse_platform
from ..zfile import ALGORITHMS, BLOCK_SIZES

GIB = 1 << 30
DEFAULT_VSIZE = 64 * GIB
"""Upstream's default virtual disk size (spec §5.1)."""
MIN_VSIZE = GIB // 8
MAX_VSIZE = 1024 * GIB
"""The ext4 builder keeps per-group metadata in memory: ~100 MB at 1 TiB."""


@dataclass(frozen=True)
class ConvertOptions:
    """Options of ``obd convert``; the defaults reproduce the upstream converter's choices."""

    algorithm: str = "lz4"
    block_size: int = 4096
    vsize: int | None = DEFAULT_VSIZE
    """Virtual disk size in bytes; None sizes it from the image content. Text such as
    ``"256G"`` or ``"auto"`` is accepted too and parsed with :func:`parse_size`."""
    mkfs: bool = True
    """False puts the upstream empty base layer under the image as layer 0."""
    oci: bool = True
    """OCI media types for the output (False: Docker v2 types)."""
    platforms: tuple[Platform, ...] | None = None
    """Platforms to convert from a multi-platform source (None: all). Text such as
    ``"linux/arm64"`` is accepted too and parsed with :func:`parse_platform`."""
    threads: int = 2
    """Native threads for zstd compression."""
    workdir: str | None = None
    """Where temporary layer files go (default: the system temp directory)."""

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConversionError(
                f"compression algorithm must be lz4 or zstd, found {self.algorithm!r}"
            )
        if self.block_size not in BLOCK_SIZES:
            sizes = ", ".join(map(str, BLOCK_SIZES))
            raise ConversionError(
                f"ZFile block size must be one of {sizes}, found {self.block_size}"
            )
        if self.platforms is not None:
            object.__setattr__(self, "platforms", check_platforms(self.platforms))
        if isinstance(self.vsize, str):
            object.__setattr__(self, "vsize", parse_size(self.vsize))
        if self.vsize is not None:
            check_vsize(self.vsize)
        if self.threads < 1:
            raise ConversionError(f"compression threads must be at least 1, found {self.threads}")


def check_platforms(platforms: object) -> tuple[Platform, ...]:
    """Platforms as a tuple of :class:`Platform`, ``OS/ARCH[/VARIANT]`` strings parsed."""
    if isinstance(platforms, str | bytes) or not isinstance(platforms, list | tuple):
        raise ConversionError(
            f"platforms must be a list of platforms like ['linux/amd64'], found {platforms!r}"
        )
    checked = []
    for position, value in enumerate(platforms):
        if isinstance(value, str):
            value = parse_platform(value)
        if not isinstance(value, Platform):
            raise ConversionError(
                f"platforms[{position}]: expected a Platform or text like 'linux/amd64', "
                f"found {value!r}"
            )
        checked.append(value)
    return tuple(checked)


def check_vsize(vsize: int) -> None:
    """A virtual disk size the ext4 builder can format."""
    if not MIN_VSIZE <= vsize <= MAX_VSIZE or vsize % 4096:
        raise ConversionError(
            f"virtual disk size must be a multiple of 4096 from 128 MiB to 1 TiB, found {vsize}"
        )


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int | None:
    """``64G``, ``512MiB``, ``1073741824`` → bytes (binary units); ``auto`` → None."""
    value = text.strip().lower()
    if value == "auto":
        return None
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ConversionError(
            f"size must be a number with an optional K/M/G/T suffix or 'auto', found {text!r}"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])
