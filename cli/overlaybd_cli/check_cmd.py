"""``obd check``: compare a converted image's files with the tree its source layers define."""

from __future__ import annotations

from typing import Annotated

import typer

from overlaybd_py.check import check_image

from .options import JsonOption, OnePlatformOption, one_platform
from .registry_opts import registry_command
from .render import emit_json


@registry_command
def check(
    image: Annotated[
        str, typer.Argument(help="Converted image: oci:DIR:TAG, docker://HOST/REPO:TAG, ...")
    ],
    against: Annotated[
        str, typer.Option("--against", help="The source image it was converted from.")
    ],
    platform: OnePlatformOption = None,
    json: JsonOption = False,
) -> None:
    """Compare IMAGE's filesystem with SOURCE's layers; exit 1 if anything differs."""
    report = check_image(image, against, one_platform(platform))
    if json:
        emit_json(report.to_dict())
    else:
        for difference in report.differences:
            typer.echo(str(difference))
        verdict = "OK" if report.ok else f"{len(report.differences)} difference(s)"
        typer.echo(
            f"{report.image} ({report.platform}) against {report.source}: {verdict}; "
            f"{report.expected_paths} paths expected from {report.layers} layer(s) "
            f"({report.members} tar members), {report.found_paths} found, "
            f"{report.seconds:.1f}s",
            err=not report.ok,
        )
    if not report.ok:
        raise typer.Exit(1)
