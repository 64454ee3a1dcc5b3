"""Output helpers shared by the commands: JSON or aligned key/value text."""

from __future__ import annotations

import json
from typing import Any

import typer


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(_printable(value), indent=2, sort_keys=False))


def _printable(value: Any) -> Any:
    """Names that are not UTF-8 (kept as surrogate escapes) become ``\\xNN`` text, since
    a lone surrogate is not valid JSON for strict readers."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def emit_fields(title: str, fields: dict[str, Any]) -> None:
    typer.echo(f"{title}:")
    width = max((len(k) for k in fields), default=0)
    for key, value in fields.items():
        typer.echo(f"  {key.ljust(width)}  {value}")
