"""``obd convert``: parse options, run the pipeline, render progress and the result."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from overlaybd_py.convert import (
    ConvertOptions,
    ConvertReport,
    ProgressEvent,
    convert,
    parse_size,
)
from overlaybd_py.oci.reference import DOCKER, OCI, parse_reference
from overlaybd_py.streaming.publish import parse_existing

from . import streaming_cmd
from .options import JsonOption, PlatformOption, platforms
from .registry_opts import RegistryFlags, registry_command, use_registries
from .render import emit_json


class _Bars:
    """One rich bar per layer: source bytes read while the layer is applied."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[tuple[str, int], TaskID] = {}

    def __enter__(self) -> _Bars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.platform, event.layer)
        if event.kind == "layer-start":
            label = f"{event.platform} layer {event.layer + 1}/{event.layers}"
            self._tasks[key] = self._progress.add_task(label, total=event.total or None)
        elif event.kind == "layer-bytes" and key in self._tasks:
            self._progress.advance(self._tasks[key], event.amount)
        elif event.kind == "layer-applied" and key in self._tasks:
            task = self._tasks[key]
            self._progress.update(task, description=f"{self._label(task)} (committing)")
        elif event.kind == "layer-done" and key in self._tasks:
            task = self._tasks[key]
            label = self._label(task).replace(" (committing)", "")
            self._progress.update(task, description=f"{label} done", completed=self._total(task))

    def _label(self, task: TaskID) -> str:
        return str(self._progress.tasks[task].description)

    def _total(self, task: TaskID) -> float:
        return self._progress.tasks[task].total or self._progress.tasks[task].completed


def _show_progress(quiet: bool, json: bool) -> bool:
    return not (quiet or json or os.environ.get("CI")) and sys.stderr.isatty()


def _convert(
    source: str, target: str, options: ConvertOptions, quiet: bool, json: bool
) -> ConvertReport:
    if _show_progress(quiet, json):
        with _Bars(Console(stderr=True)) as bars:
            return convert(source, target, options, progress=bars)
    return convert(source, target, options)


def _check_referrer_locations(source: str, target: str | None) -> None:
    """--referrer publishes into SOURCE from TARGET: refuse before converting anything."""
    for role, name in (("SOURCE", source), ("TARGET", target)):
        if name is not None and parse_reference(name).transport not in (OCI, DOCKER):
            raise typer.BadParameter(
                f"--referrer needs {role} to be an oci: layout or a docker:// image, found {name}"
            )


@registry_command
def convert_command(
    source: Annotated[
        str, typer.Argument(help="Source image: oci:DIR[:TAG], docker://HOST/REPO:TAG, ...")
    ],
    target: Annotated[
        str | None,
        typer.Argument(
            help="Target image: oci:DIR[:TAG], docker://HOST/REPO:TAG, ... Optional with "
            "--referrer: the result is then stored only as a referrer of SOURCE."
        ),
    ] = None,
    algorithm: Annotated[str, typer.Option(help="ZFile compression: lz4 or zstd.")] = "lz4",
    block_size: Annotated[int, typer.Option(help="ZFile block size in bytes.")] = 4096,
    vsize: Annotated[
        str, typer.Option(help="Virtual disk size (64G, 512M, ...) or 'auto'.")
    ] = "64G",
    no_mkfs: Annotated[
        bool, typer.Option("--no-mkfs", help="Stack on the upstream empty base layer.")
    ] = False,
    docker: Annotated[bool, typer.Option("--docker", help="Docker v2 media types.")] = False,
    oci: Annotated[bool, typer.Option("--oci", help="OCI media types (the default).")] = False,
    threads: Annotated[int, typer.Option(help="zstd compression threads.", min=1)] = 2,
    platform: PlatformOption = None,
    src_creds: Annotated[str | None, typer.Option(help="USER:PASSWORD for the source.")] = None,
    dest_creds: Annotated[str | None, typer.Option(help="USER:PASSWORD for the target.")] = None,
    src_plain_http: Annotated[
        bool, typer.Option("--src-plain-http", help="HTTP for the source registry.")
    ] = False,
    dest_plain_http: Annotated[
        bool, typer.Option("--dest-plain-http", help="HTTP for the target registry.")
    ] = False,
    src_insecure: Annotated[
        bool, typer.Option("--src-insecure", help="No TLS verification, source.")
    ] = False,
    dest_insecure: Annotated[
        bool, typer.Option("--dest-insecure", help="No TLS verification, target.")
    ] = False,
    src_ca_file: Annotated[str | None, typer.Option(help="CA file for the source.")] = None,
    dest_ca_file: Annotated[str | None, typer.Option(help="CA file for the target.")] = None,
    referrer: streaming_cmd.ReferrerOption = False,
    artifact_type: streaming_cmd.ArtifactTypeOpt = None,
    existing: streaming_cmd.ExistingOption = "skip",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    json: JsonOption = False,
    registry_flags: RegistryFlags = RegistryFlags(),  # noqa: B008  (filled by registry_command)
) -> None:
    """Convert SOURCE into an OverlayBD image at TARGET (and/or as a referrer of SOURCE)."""
    if target is None and not referrer:
        raise typer.BadParameter("TARGET is required unless --referrer is given")
    if docker and oci:
        raise typer.BadParameter("--oci and --docker exclude each other")
    if docker and referrer:
        raise typer.BadParameter("--referrer writes OCI manifests; it excludes --docker")
    parse_existing(existing)
    if referrer:
        _check_referrer_locations(source, target)
    sides = {source: RegistryFlags(src_creds, src_plain_http, src_insecure, src_ca_file)}
    if target is not None:
        sides[target] = RegistryFlags(dest_creds, dest_plain_http, dest_insecure, dest_ca_file)
    use_registries(registry_flags, sides)
    options = ConvertOptions(
        algorithm=algorithm,
        block_size=block_size,
        vsize=parse_size(vsize),
        mkfs=not no_mkfs,
        oci=not docker,
        platforms=platforms(platform),
        threads=threads,
    )
    with tempfile.TemporaryDirectory(prefix="obd-referrer-") as scratch:
        report = _convert(source, target or f"oci:{scratch}:converted", options, quiet, json)
        if referrer:
            streaming_cmd.attach_after_convert(
                report, artifact_type, existing, quiet=json, stored=target is not None
            )
    if target is None:
        report.target = f"referrers of {source}"
    if json:
        emit_json(report.to_dict())
        return
    layers = sum(len(i.layers) for i in report.images)
    size = sum(layer.blob_size for i in report.images for layer in i.layers)
    typer.echo(
        f"{report.target}: {report.digest} ({len(report.images)} image(s), {layers} layer(s), "
        f"{size} bytes) in {report.seconds:.1f}s"
    )
