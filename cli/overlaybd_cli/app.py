"""The ``obd`` command: parses arguments, calls the library, renders results.

Every library error becomes one line on stderr and exit status 1; usage
errors exit 2 (click's convention). Signals and broken pipes are handled by
:mod:`.entry`, the console entry point.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from overlaybd_py.errors import OverlayBDError

from . import (
    check_cmd,
    convert_cmd,
    image_cmd,
    layer_cmd,
    mount_cmd,
    streaming_cmd,
    zfile_cmd,
)

app = typer.Typer(
    name="obd",
    help="Convert OCI images to OverlayBD and read them back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(zfile_cmd.app, name="zfile")
app.add_typer(layer_cmd.app, name="layer")
app.command("convert")(convert_cmd.convert_command)
app.command()(image_cmd.export)
app.command()(image_cmd.ls)
app.command()(image_cmd.cat)
app.command()(image_cmd.stat)
streaming_cmd.register(app)
app.command("check")(check_cmd.check)
app.command()(mount_cmd.mount)


def _configure_logging() -> None:
    level = os.environ.get("OBD_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="obd: %(levelname)s: %(message)s", stream=sys.stderr)


def main() -> None:
    _configure_logging()
    try:
        app(prog_name="obd")
    except OverlayBDError as exc:
        _fail(str(exc))
    except BrokenPipeError:
        raise
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}")


def _fail(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"obd: error: {one_line}", file=sys.stderr)
    sys.exit(1)
