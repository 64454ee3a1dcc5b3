"""``obd mount``: a read-only FUSE mount of an image's files or of its virtual disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from overlaybd_py.lazy import open_image
from overlaybd_py.lazy.mount import check_mountpoint
from overlaybd_py.lazy.mount import mount as mount_image

from .lazy_opts import (
    CacheDirOption,
    NoCacheOption,
    ReferrerOption,
    StatsOption,
    lazy_options,
    report_stats,
)
from .options import OnePlatformOption, one_platform
from .registry_opts import registry_command


@registry_command
def mount(
    image: Annotated[
        str, typer.Argument(help="Converted image: oci:DIR:TAG, docker://HOST/REPO:TAG, ...")
    ],
    mountpoint: Annotated[Path, typer.Argument(help="Existing empty directory to mount on.")],
    raw: Annotated[
        bool,
        typer.Option(
            "--raw", help="Expose the virtual disk as one file, disk.img (loop-mountable)."
        ),
    ] = False,
    allow_other: Annotated[
        bool, typer.Option("--allow-other", help="Let other users see the mount.")
    ] = False,
    platform: OnePlatformOption = None,
    stats: StatsOption = False,
    cache_dir: CacheDirOption = None,
    no_cache: NoCacheOption = False,
    referrer: ReferrerOption = "auto",
) -> None:
    """Mount IMAGE read-only at MOUNTPOINT until unmounted or interrupted (Ctrl-C)."""
    wanted = one_platform(platform)
    target = check_mountpoint(mountpoint)
    options = lazy_options(cache_dir, no_cache, referrer)
    with open_image(image, wanted, options) as opened:

        def announce() -> None:
            typer.echo(f"obd: {opened.name} mounted at {target}; Ctrl-C to unmount", err=True)

        mount_image(opened, target, raw=raw, allow_other=allow_other, on_ready=announce)
        if stats:
            report_stats(opened)
