"""``obd layer``: inspect and export OverlayBD layer blobs."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect and export OverlayBD layer blobs.", no_args_is_help=True)
