"""``obd export``: the lazy-reading options of ``ls``/``cat``, and no disk on a pipe."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import assert_one_line_error, obd
from tests.conftest import HELLO_LAYOUT

CONVERTED = f"oci:{HELLO_LAYOUT}:amd64-converted"


def test_dash_is_refused_not_a_file_named_dash(tmp_path: Path) -> None:
    result = obd("export", CONVERTED, "-", check=False, cwd=tmp_path)
    assert result.returncode == 2
    assert "a sparse disk cannot be written to a pipe" in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []
    named = obd("export", CONVERTED, "./-", cwd=tmp_path)
    assert (tmp_path / "-").stat().st_size == 64 << 30, named.stderr


def test_export_takes_the_lazy_reading_options(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    result = obd(
        "export", CONVERTED, str(disk),
        "--stats", "--cache-dir", str(tmp_path / "cache"), "--referrer", "never",
    )  # fmt: skip
    assert result.stdout.startswith(f"{disk}: 68719476736 bytes virtual")
    assert result.stderr.startswith("stats: fetched ")
    assert disk.stat().st_size == 64 << 30


def test_no_cache_and_a_cache_dir_exclude_each_other(tmp_path: Path) -> None:
    both = ["--no-cache", "--cache-dir", str(tmp_path / "cache")]
    result = obd("export", CONVERTED, str(tmp_path / "disk.img"), *both, check=False)
    assert result.returncode == 2
    assert_one_line_error(result, "--no-cache and --cache-dir exclude each other")
