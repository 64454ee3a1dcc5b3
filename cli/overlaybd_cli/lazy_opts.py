"""Options for commands that read images lazily: the block cache, referrers, statistics.

Registry connection flags come from :mod:`.registry_opts`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from overlaybd_py.lazy import LazyOptions, OverlayImage

CacheDirOption = Annotated[
    str | None,
    typer.Option("--cache-dir", help="Block cache directory (default ~/.cache/overlaybd-py/lazy)."),
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Keep fetched blocks in memory only.")
]
ReferrerOption = Annotated[
    str,
    typer.Option(
        "--referrer",
        help="auto: read the streaming referrer when IMAGE is not OverlayBD; always; never.",
    ),
]
StatsOption = Annotated[
    bool,
    typer.Option("--stats", help="Report bytes and requests fetched vs blob sizes on stderr."),
]


def lazy_options(
    cache_dir: str | None = None, no_cache: bool = False, referrer: str = "auto"
) -> LazyOptions:
    """LazyOptions from the command-line flags."""
    if no_cache and cache_dir is not None:
        raise typer.BadParameter("--no-cache and --cache-dir exclude each other")
    return LazyOptions(use_cache=not no_cache, cache_dir=cache_dir, referrer=referrer)


def report_stats(image: OverlayImage) -> None:
    """The ``--stats`` line on stderr (stdout may carry file content)."""
    typer.echo(f"stats: {image.stats.summary()}", err=True)
