"""``obd zfile``: compress, decompress and verify single ZFiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from overlaybd_py import tarwrap
from overlaybd_py.atomic import atomic_output
from overlaybd_py.errors import ChecksumError, FormatError, OverlayBDError, UnsupportedError
from overlaybd_py.io import FileSource
from overlaybd_py.zfile import ZFileReader, ZFileWriter

from .render import emit_fields

app = typer.Typer(
    help="Compress, decompress and verify ZFiles.", no_args_is_help=True, rich_markup_mode=None
)

_CHUNK = 4 << 20


@app.command()
def compress(
    source: Annotated[Path, typer.Argument(help="File to compress, or - for standard input.")],
    output: Annotated[Path, typer.Argument(help="ZFile to write (a file: it is seeked).")],
    algorithm: Annotated[str, typer.Option(help="lz4 or zstd.")] = "lz4",
    block_size: Annotated[int, typer.Option(help="Block size in bytes (4096 to 65536).")] = 4096,
    no_checksum: Annotated[bool, typer.Option("--no-checksum", help="Omit block CRCs.")] = False,
    tar: Annotated[bool, typer.Option("--tar", help="Wrap the ZFile in the layer tar.")] = False,
    threads: Annotated[int, typer.Option(help="Compression threads (zstd).", min=1)] = 1,
) -> None:
    """Compress SOURCE into the ZFile OUTPUT."""
    if str(output) == "-":
        raise typer.BadParameter(
            "a ZFile cannot go to standard output: its header is rewritten at the end; "
            "give a file name",
            param_hint="OUTPUT",
        )
    if str(source) != "-":
        _refuse_same_file(source, output)
    with _input(source) as src, atomic_output(output) as out:
        if tar:
            out.write(bytes(tarwrap.PREFIX_SIZE))
        with ZFileWriter(
            out,
            algorithm=algorithm,
            block_size=block_size,
            checksum=not no_checksum,
            threads=threads,
        ) as writer:
            while chunk := src.read(_CHUNK):
                writer.write(chunk)
            summary = writer.close()
        if tar:
            out.write(tarwrap.suffix(summary.compressed_size))
            out.seek(0)
            out.write(tarwrap.prefix(summary.compressed_size))
    ratio = summary.compressed_size / summary.original_size if summary.original_size else 0.0
    size = summary.compressed_size
    written = tarwrap.wrapped_size(size) if tar else size
    typer.echo(
        f"{output}: {summary.original_size} -> {written} bytes "
        f"({ratio:.1%}), {summary.blocks} {summary.algorithm} blocks of {summary.block_size}"
    )


@app.command()
def decompress(
    source: Annotated[Path, typer.Argument(help="ZFile (bare or tar-wrapped).")],
    output: Annotated[Path, typer.Argument(help="File to write, or - for standard output.")],
) -> None:
    """Decompress the ZFile SOURCE into OUTPUT, checking every block CRC."""
    with FileSource(source) as blob:
        reader = ZFileReader(tarwrap.unwrap(blob))
        if str(output) == "-":
            _copy(reader, sys.stdout.buffer)
            return
        _refuse_same_file(source, output)
        with atomic_output(output, allow_stream=True) as out:
            _copy(reader, out)
    typer.echo(f"{output}: {reader.size} bytes")


def _input(source: Path) -> BinaryIO:
    """The file to compress; ``-`` is standard input (read front to back)."""
    if str(source) == "-":
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    return source.open("rb")


def _refuse_same_file(source: Path, output: Path) -> None:
    """Writing onto the input would replace it before it is read to the end."""
    if output.exists() and source.exists() and os.path.samefile(source, output):
        raise OverlayBDError(f"{output}: is the input file {source}; expected another output path")


def _copy(reader: ZFileReader, out: BinaryIO) -> None:
    for offset in range(0, reader.size, _CHUNK):
        out.write(reader.pread(offset, _CHUNK))
    out.flush()


@app.command()
def verify(source: Annotated[Path, typer.Argument(help="ZFile (bare or tar-wrapped).")]) -> None:
    """Check every block CRC of SOURCE without decompressing."""
    with FileSource(source) as blob:
        reader = ZFileReader(tarwrap.unwrap(blob))
        if not reader.info.verify:
            raise UnsupportedError(f"{source}: ZFile has no per-block CRCs; nothing to verify")
        problems = reader.verify()
        trailer = reader.trailer_problem()
    emit_fields(
        str(source),
        {
            "blocks": reader.num_blocks,
            "algorithm": reader.info.algorithm_name,
            "block size": reader.block_size,
            "bad blocks": len(problems),
            "trailer": "ok" if trailer is None else "bad",
        },
    )
    for problem in problems[:20]:
        typer.echo(
            f"  block {problem.block} at offset {problem.offset}: CRC expected "
            f"{problem.expected:#010x}, computed {problem.computed:#010x}",
            err=True,
        )
    if trailer is not None:
        raise FormatError(trailer)
    if problems:
        raise ChecksumError(
            f"{source}: {len(problems)} of {reader.num_blocks} blocks fail their CRC"
        )
