"""``obd layer``: inspect and export OverlayBD layer blobs."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from overlaybd_py.errors import FormatError
from overlaybd_py.export import export_raw
from overlaybd_py.io import FileSource
from overlaybd_py.layer import LayerBlob, open_layer_blob
from overlaybd_py.lsmt.stack import LayerStack, parent_chain_problems

from .render import emit_fields, emit_json

app = typer.Typer(
    help="Inspect and export OverlayBD layer blobs.", no_args_is_help=True, rich_markup_mode=None
)


def describe(blob: LayerBlob) -> dict[str, Any]:
    """Everything ``layer info`` reports, as plain data."""
    result: dict[str, Any] = {"size": blob.source.size}
    if blob.tar is not None:
        result["tar"] = {
            "payload_offset": blob.tar.offset,
            "payload_size": blob.tar.size,
            "pax": blob.tar.pax,
        }
    if blob.zfile is not None:
        z = blob.zfile
        result["zfile"] = {
            "algorithm": z.info.algorithm_name,
            "block_size": z.block_size,
            "blocks": z.num_blocks,
            "checksum": z.info.verify,
            "header_flags": f"{z.header.flags:#x}",
            "header_overwritten": z.header.header_overwritten,
            "original_size": z.size,
            "index_offset": z.info.index_offset,
        }
    layer = blob.lsmt
    stats = layer.stats
    result["lsmt"] = {
        "uuid": layer.uuid,
        "parent_uuid": layer.parent_uuid,
        "virtual_size": layer.virtual_size,
        "sealed": layer.sealed,
        "header_flags": f"{layer.header.flags:#x}",
        "user_tag": layer.user_tag.rstrip(b"\0").decode("utf-8", "replace"),
        "index_entries": stats.entries,
        "mappings": stats.real,
        "padding_entries": stats.padding,
        "zeroed_mappings": stats.zeroed,
        "mapped_bytes": stats.mapped_bytes,
        "zeroed_bytes": stats.zeroed_bytes,
    }
    return result


@app.command()
def info(
    blob: Annotated[Path, typer.Argument(help="Layer blob (tar/ZFile/LSMT, any combination).")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the wrapper, ZFile and LSMT headers and mapping statistics of BLOB."""
    with FileSource(blob) as source:
        result = describe(open_layer_blob(source))
    if json:
        emit_json(result)
        return
    typer.echo(f"{blob}: {result['size']} bytes")
    for section in ("tar", "zfile", "lsmt"):
        if section in result:
            emit_fields(section, result[section])


@app.command()
def export(
    blobs: Annotated[list[Path], typer.Argument(help="Layer blobs, bottom layer first.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Raw disk image to write.")],
    any_order: Annotated[
        bool,
        typer.Option("--any-order", help="Stack the layers even if their parent UUIDs disagree."),
    ] = False,
) -> None:
    """Write the merged virtual disk of BLOBS as a sparse raw file."""
    with ExitStack() as stack:
        layers = [open_layer_blob(stack.enter_context(FileSource(b))).lsmt for b in blobs]
        problems = parent_chain_problems(layers)
        if problems and not any_order:
            raise FormatError(f"{problems[0]}; give the layers bottom first, or --any-order")
        summary = export_raw(LayerStack(layers, name=str(blobs[-1])), output)
    typer.echo(f"{output}: {summary.size} bytes virtual, {summary.data_bytes} bytes of data")
