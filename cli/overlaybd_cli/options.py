"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

from overlaybd_py.oci.platform import Platform, parse_platform

PlatformOption = Annotated[
    list[str] | None,
    typer.Option(
        "--platform", help="OS/ARCH[/VARIANT] to pick from a multi-platform image (repeatable)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def platforms(values: list[str] | None) -> tuple[Platform, ...] | None:
    return tuple(parse_platform(v) for v in values) if values else None
