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
OnePlatformOption = Annotated[
    list[str] | None,
    typer.Option(
        "--platform",
        help="OS/ARCH[/VARIANT] to read from a multi-platform image "
        "(default: linux on this machine's architecture).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def platforms(values: list[str] | None) -> tuple[Platform, ...] | None:
    return tuple(parse_platform(v) for v in values) if values else None


def one_platform(values: list[str] | None) -> tuple[Platform, ...] | None:
    """The ``--platform`` of a command that reads one image: given at most once."""
    if values and len(values) > 1:
        raise typer.BadParameter(
            f"one image is read, so give one platform, found {len(values)}: {', '.join(values)}",
            param_hint="'--platform'",
        )
    return platforms(values)
