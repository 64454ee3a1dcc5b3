"""``obd export``, ``ls``, ``cat`` and ``stat`` on converted images."""

from __future__ import annotations

import stat as stat_module
import sys
import time
from typing import Annotated, Any

import typer

from overlaybd_py.export import export_raw
from overlaybd_py.ext4 import Stat
from overlaybd_py.lazy import open_image

from .lazy_opts import (
    CacheDirOption,
    NoCacheOption,
    ReferrerOption,
    StatsOption,
    lazy_options,
    report_stats,
)
from .options import JsonOption, OnePlatformOption, one_platform
from .registry_opts import registry_command
from .render import emit_json

_CHUNK = 1 << 20


@registry_command
def export(
    image: Annotated[str, typer.Argument(help="Converted image, e.g. oci:DIR:TAG.")],
    output: Annotated[str, typer.Argument(help="Raw disk image to write (sparse).")],
    platform: OnePlatformOption = None,
    stats: StatsOption = False,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    referrer: ReferrerOption = "auto",
) -> None:
    """Write the merged virtual disk of IMAGE as a sparse raw file."""
    if output == "-":
        # The disk is mostly holes (64 GiB virtual by default); only a file can keep them.
        raise typer.BadParameter(
            "expected a file name, found '-': a sparse disk cannot be written to a pipe "
            "(write ./- for a file named '-')",
            param_hint="'OUTPUT'",
        )
    options = lazy_options(cache_dir, no_cache, referrer)
    with open_image(image, one_platform(platform), options) as opened:
        summary = export_raw(opened.device, output)
        if stats:
            report_stats(opened)
    typer.echo(f"{output}: {summary.size} bytes virtual, {summary.data_bytes} bytes of data")


@registry_command
def ls(
    image: Annotated[str, typer.Argument(help="Converted image, e.g. oci:DIR:TAG.")],
    path: Annotated[str, typer.Argument(help="Directory or file in the image.")] = "/",
    platform: OnePlatformOption = None,
    json: JsonOption = False,
    stats: StatsOption = False,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    referrer: ReferrerOption = "auto",
) -> None:
    """List a directory of IMAGE like ``ls -l``."""
    options = lazy_options(cache_dir, no_cache, referrer)
    with open_image(image, one_platform(platform), options) as opened:
        fs = opened.filesystem()
        info = fs.stat(path)
        names = fs.listdir(path) if stat_module.S_ISDIR(info.st_mode) else [None]
        rows = []
        for name in names:
            full = path if name is None else f"{path.rstrip('/')}/{name}"
            entry = fs.stat(full)
            target = fs.readlink(full) if stat_module.S_ISLNK(entry.st_mode) else None
            rows.append((name or path, entry, target))
        if stats:
            report_stats(opened)
    if json:
        emit_json([{"name": n, **_stat_dict(s), "target": t} for n, s, t in rows])
        return
    for name, entry, target in rows:
        typer.echo(_ls_line(name, entry, target))


@registry_command
def cat(
    image: Annotated[str, typer.Argument(help="Converted image, e.g. oci:DIR:TAG.")],
    path: Annotated[str, typer.Argument(help="File in the image.")],
    platform: OnePlatformOption = None,
    stats: StatsOption = False,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    referrer: ReferrerOption = "auto",
) -> None:
    """Write a file of IMAGE to standard output."""
    options = lazy_options(cache_dir, no_cache, referrer)
    with open_image(image, one_platform(platform), options) as opened:
        handle = opened.filesystem().open(path)
        out = sys.stdout.buffer
        for offset in range(0, handle.size, _CHUNK):
            out.write(handle.pread(offset, _CHUNK))
        out.flush()
        if stats:
            report_stats(opened)


@registry_command
def stat(
    image: Annotated[str, typer.Argument(help="Converted image, e.g. oci:DIR:TAG.")],
    path: Annotated[str, typer.Argument(help="Path in the image.")],
    platform: OnePlatformOption = None,
    json: JsonOption = False,
    stats: StatsOption = False,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    referrer: ReferrerOption = "auto",
) -> None:
    """Show the inode of a path in IMAGE."""
    options = lazy_options(cache_dir, no_cache, referrer)
    with open_image(image, one_platform(platform), options) as opened:
        fs = opened.filesystem()
        info = fs.stat(path)
        result = {"path": path, **_stat_dict(info)}
        if stat_module.S_ISLNK(info.st_mode):
            result["target"] = fs.readlink(path)
        result["xattrs"] = {k: v.hex() for k, v in fs.xattrs(path).items()}
        if stats:
            report_stats(opened)
    if json:
        emit_json(result)
        return
    for key, value in result.items():
        typer.echo(f"{key:>10}: {value}")


def _stat_dict(info: Stat) -> dict[str, Any]:
    return {
        "type": _kind(info.st_mode),
        "mode": f"{stat_module.S_IMODE(info.st_mode):04o}",
        "inode": info.st_ino,
        "links": info.st_nlink,
        "uid": info.st_uid,
        "gid": info.st_gid,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "rdev": f"{info.st_rdev_major},{info.st_rdev_minor}",
    }


def _kind(mode: int) -> str:
    for test, name in (
        (stat_module.S_ISREG, "file"),
        (stat_module.S_ISDIR, "directory"),
        (stat_module.S_ISLNK, "symlink"),
        (stat_module.S_ISCHR, "char-device"),
        (stat_module.S_ISBLK, "block-device"),
        (stat_module.S_ISFIFO, "fifo"),
        (stat_module.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "unknown"


def _ls_line(name: str, info: Stat, target: str | None) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(info.st_mtime_ns // 10**9))
    size = (
        f"{info.st_rdev_major},{info.st_rdev_minor}"
        if stat_module.S_ISCHR(info.st_mode) or stat_module.S_ISBLK(info.st_mode)
        else str(info.st_size)
    )
    line = (
        f"{stat_module.filemode(info.st_mode)} {info.st_nlink:>3} {info.st_uid:>5} "
        f"{info.st_gid:>5} {size:>10} {when} {name}"
    )
    return f"{line} -> {target}" if target is not None else line
