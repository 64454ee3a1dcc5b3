"""JSON bytes exactly as Go's ``encoding/json`` writes them, and strict JSON loading.

Upstream converters marshal manifests and configs with Go; producing the same bytes
(compact separators, raw UTF-8, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as
``\\u003c`` ...) keeps digests identical to upstream output (spec §5.4).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ImageError

# Go's HTML-safe escaping; these characters can only appear inside JSON strings, so a
# plain replace on the encoded text never touches structure.
_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` compactly with Go's escaping rules; keys keep their dict order."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for raw, escaped in _GO_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Go writes U+FFFD for unpaired surrogates that JSON escapes can smuggle in.
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def loads(data: bytes | str, where: str) -> Any:
    """Parse JSON or raise a one-line ImageError naming ``where`` and the position."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise ImageError(
            f"{where}: expected UTF-8 JSON, found an invalid byte at offset {exc.start}"
        ) from None
    except json.JSONDecodeError as exc:
        raise ImageError(
            f"{where}: expected JSON, found a syntax error at offset {exc.pos}: {exc.msg}"
        ) from None


def load_object(data: bytes | str, where: str) -> dict[str, Any]:
    """Parse JSON that must be an object."""
    value = loads(data, where)
    if not isinstance(value, dict):
        raise ImageError(f"{where}: expected a JSON object, found {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
