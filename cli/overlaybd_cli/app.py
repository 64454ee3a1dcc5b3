"""The ``obd`` command: parses arguments, calls the library, renders results.

Every library error becomes one line on stderr and exit status 1; usage
errors are one line too and exit 2 (click's convention). Signals and broken pipes are handled by
:mod:`.entry`, the console entry point.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

# typer 0.29 vendors click and does not re-export its UsageError; the pin keeps it here.
from typer._click import exceptions as click_errors

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
from .entry import INTERRUPTED

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
        # Not standalone: click would print usage errors over three lines and turn a
        # broken pipe into exit 1; both are ours to report.
        code = app(prog_name="obd", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _fail(f"{exc.format_message()}{hint}", exc.exit_code)
    except click_errors.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except typer.Abort:
        _fail("aborted")
    except OverlayBDError as exc:
        _fail(str(exc))
    except BrokenPipeError:
        raise
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}")
    if code == INTERRUPTED:  # typer turns Ctrl-C inside a command into this exit code
        print("obd: interrupted", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)


def _fail(message: str, status: int = 1) -> None:
    one_line = " ".join(message.split())
    print(f"obd: error: {one_line}", file=sys.stderr)
    sys.exit(status)
