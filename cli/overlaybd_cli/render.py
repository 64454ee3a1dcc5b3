"""Output helpers shared by the commands: JSON or aligned key/value text."""

from __future__ import annotations

import json
from typing import Any

import typer


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False))


def emit_fields(title: str, fields: dict[str, Any]) -> None:
    typer.echo(f"{title}:")
    width = max((len(k) for k in fields), default=0)
    for key, value in fields.items():
        typer.echo(f"  {key.ljust(width)}  {value}")
