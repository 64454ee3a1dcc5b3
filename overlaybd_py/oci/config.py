"""Image configs: reading ``rootfs.diff_ids`` and rewriting them for a converted image.

Spec §5.4: the converted config is the source config with ``rootfs.diff_ids`` replaced
by the OverlayBD blob digests. Two faithful forms are offered: ``keep`` (every source
field, in source order) and ``upstream`` (what Go's ``ocispec.Image`` round trip keeps:
known fields only, Go struct order, omitempty, maps sorted, times in RFC 3339 nano), the
latter reproducing the upstream converter's config bytes exactly.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ImageError
from . import gojson
from .digest import check_digest
from .gojson import type_name

_TIME_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)
# ocispec.Image and its nested structs, in Go field order: (json key, kind).
_IMAGE_FIELDS = (
    ("created", "time"),
    ("author", "str"),
    ("architecture", "str!"),
    ("os", "str!"),
    ("os.version", "str"),
    ("os.features", "strs"),
    ("variant", "str"),
    ("config", "imageconfig"),
    ("rootfs", "rootfs!"),
    ("history", "history"),
)
_IMAGE_CONFIG_FIELDS = (
    ("User", "str"),
    ("ExposedPorts", "set"),
    ("Env", "strs"),
    ("Entrypoint", "strs"),
    ("Cmd", "strs"),
    ("Volumes", "set"),
    ("WorkingDir", "str"),
    ("Labels", "map"),
    ("StopSignal", "str"),
    ("ArgsEscaped", "bool"),
)
_HISTORY_FIELDS = (
    ("created", "time"),
    ("created_by", "str"),
    ("author", "str"),
    ("comment", "str"),
    ("empty_layer", "bool"),
)


def parse_config(data: bytes, where: str) -> dict[str, Any]:
    """Parse a config blob into a dict that keeps the source key order."""
    config = gojson.load_object(data, where)
    diff_ids(config, where)
    return config


def diff_ids(config: dict[str, Any], where: str) -> list[str]:
    """The config's ``rootfs.diff_ids``, each checked to be a digest."""
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        raise ImageError(f"{where}.rootfs: expected an object, found {type_name(rootfs)}")
    ids = rootfs.get("diff_ids")
    if ids is None:
        return []
    if not isinstance(ids, list):
        raise ImageError(f"{where}.rootfs.diff_ids: expected an array, found {type_name(ids)}")
    return [check_digest(d, f"{where}.rootfs.diff_ids[{i}]") for i, d in enumerate(ids)]


def rewrite_config(
    data: bytes, new_diff_ids: list[str], where: str = "config", upstream: bool = False
) -> bytes:
    """The converted config bytes: ``rootfs.diff_ids`` replaced, everything else kept.

    With ``upstream=True`` the result is what the upstream Go converter writes.
    """
    config = parse_config(data, where)
    for i, digest in enumerate(new_diff_ids):
        check_digest(digest, f"new diff_ids[{i}]")
    if upstream:
        config = go_image(config, where)
    rootfs = dict(config["rootfs"])
    rootfs["diff_ids"] = list(new_diff_ids)
    config["rootfs"] = rootfs
    return gojson.dumps(config)


def go_image(config: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """The config as Go's ``ocispec.Image`` unmarshal + marshal round trip leaves it."""
    return _struct(config, _IMAGE_FIELDS, where)


def go_time(value: str, where: str) -> str:
    """An RFC 3339 time re-formatted like Go's ``time.Time`` JSON (nanoseconds, no trailing 0)."""
    match = _TIME_RE.match(value)
    if not match:
        raise ImageError(f"{where}: expected an RFC 3339 time, found {value!r}")
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:9].rstrip("0")
    zone = "Z" if zone in ("Z", "z", "+00:00", "-00:00") else zone
    return f"{date}T{clock}{'.' + fraction if fraction else ''}{zone}"


def _struct(obj: object, fields: tuple[tuple[str, str], ...], where: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ImageError(f"{where}: expected an object, found {type_name(obj)}")
    out: dict[str, Any] = {}
    for key, kind in fields:
        required = kind.endswith("!")
        value = _field(obj.get(key), kind.rstrip("!"), f"{where}.{key}")
        if value is not None or required:
            out[key] = "" if value is None and kind == "str!" else value
    return out


def _field(value: object, kind: str, where: str) -> Any:
    """One Go field after the round trip; None means omitted (omitempty)."""
    if value is None:
        # A nested struct is never omitted by Go, even when empty.
        return {} if kind == "imageconfig" else None
    if kind == "str":
        return _typed(value, str, where) or None
    if kind == "bool":
        return _typed(value, bool, where) or None
    if kind == "time":
        return go_time(_typed(value, str, where), where)
    if kind == "strs":
        items = _typed(value, list, where)
        return [_typed(v, str, f"{where}[{i}]") for i, v in enumerate(items)] or None
    if kind in ("set", "map"):
        items = _typed(value, dict, where)
        if kind == "map":
            items = {k: _typed(v, str, f"{where}.{k}") for k, v in items.items()}
        else:
            items = {k: {} for k in items}
        return dict(sorted(items.items())) or None
    if kind == "imageconfig":
        return _struct(value, _IMAGE_CONFIG_FIELDS, where)
    if kind == "rootfs":
        rootfs = _typed(value, dict, where)
        return {
            "type": _typed(rootfs.get("type", ""), str, f"{where}.type"),
            "diff_ids": rootfs.get("diff_ids"),
        }
    if kind == "history":
        entries = _typed(value, list, where)
        return [_struct(h, _HISTORY_FIELDS, f"{where}[{i}]") for i, h in enumerate(entries)] or None
    raise AssertionError(kind)


def _typed(value: object, expected: type, where: str) -> Any:
    if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
        raise ImageError(
            f"{where}: expected {expected.__name__}, found {type_name(value)} {value!r:.40}"
        )
    return value
