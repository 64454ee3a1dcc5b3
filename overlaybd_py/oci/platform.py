"""Platforms (``OS/ARCH[/VARIANT]``): parsing, normalisation, matching, the host default.

Matching normalises the usual aliases the way container runtimes do, so that
``linux/arm64`` selects an index entry written as ``arm64/v8`` and ``linux/arm``
means ``arm/v7``.
"""

from __future__ import annotations

import platform as _host
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ImageError
from .gojson import type_name

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "386": "386",
    "armhf": "arm",
    "armel": "arm",
    "armv7l": "arm",
    "armv7": "arm",
    "armv6l": "arm",
    "armv6": "arm",
    "armv5tel": "arm",
    "arm": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64le",
    "mips64le": "mips64le",
    "loongarch64": "loong64",
}
_MACHINE_VARIANTS = {
    "armv7l": "v7",
    "armv7": "v7",
    "armhf": "v7",
    "armv6l": "v6",
    "armv6": "v6",
    "armel": "v6",
    "armv5tel": "v5",
}
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Platform:
    """An image platform as written in index descriptors and configs."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)

    def normalized(self) -> Platform:
        """The same platform with architecture aliases and default variants resolved."""
        arch = _ARCH_ALIASES.get(self.architecture.lower(), self.architecture.lower())
        variant = self.variant.lower() or _MACHINE_VARIANTS.get(self.architecture.lower(), "")
        if arch == "amd64" and variant == "v1":
            variant = ""
        variant = variant or _DEFAULT_VARIANTS.get(arch, "")
        return Platform(self.os.lower(), arch, variant, self.os_version, self.os_features)

    def matches(self, other: Platform) -> bool:
        """True when both name the same OS, architecture and variant after normalisation."""
        mine, theirs = self.normalized(), other.normalized()
        return (mine.os, mine.architecture, mine.variant) == (
            theirs.os,
            theirs.architecture,
            theirs.variant,
        )

    def is_unknown(self) -> bool:
        """True for the ``unknown/unknown`` platform BuildKit gives attestation manifests."""
        return self.os == UNKNOWN and self.architecture == UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, fields in Go ``ocispec.Platform`` order."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_dict(cls, obj: object, where: str) -> Platform:
        """Parse a descriptor's ``platform`` object (unknown keys are ignored, as Go does)."""
        if not isinstance(obj, dict):
            raise ImageError(f"{where}: expected a platform object, found {type_name(obj)}")
        values = {}
        for key in ("architecture", "os", "variant", "os.version"):
            value = obj.get(key, "")
            if not isinstance(value, str):
                raise ImageError(f"{where}.{key}: expected a string, found {type_name(value)}")
            values[key] = value
        features = obj.get("os.features") or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ImageError(f"{where}.os.features: expected an array of strings")
        return cls(
            os=values["os"],
            architecture=values["architecture"],
            variant=values["variant"],
            os_version=values["os.version"],
            os_features=tuple(features),
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Platform:
        """The platform an image config declares (``os``, ``architecture``, ``variant``)."""

        def text(key: str) -> str:
            value = config.get(key)
            return value if isinstance(value, str) else ""

        return cls(text("os"), text("architecture"), text("variant"), text("os.version"))


def parse_platform(text: str) -> Platform:
    """Parse ``OS/ARCH[/VARIANT]`` as given to ``--platform``."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(
            f"--platform: expected OS/ARCH[/VARIANT] like 'linux/arm64', found {text!r}"
        )
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def host_platform(machine: str | None = None) -> Platform:
    """The platform to pick from an index by default: Linux on this machine's architecture."""
    machine = (machine if machine is not None else _host.machine()).lower()
    arch = _ARCH_ALIASES.get(machine, machine)
    variant = _MACHINE_VARIANTS.get(machine, _DEFAULT_VARIANTS.get(arch, ""))
    return Platform("linux", arch, variant)


def matches_any(candidate: Platform, wanted: Iterable[Platform]) -> bool:
    """True when ``candidate`` matches one of ``wanted``."""
    return any(candidate.matches(w) for w in wanted)
