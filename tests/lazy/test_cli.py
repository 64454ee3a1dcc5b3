"""``obd ls|cat|stat`` against the registry, with ``--stats``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from .conftest import Pushed


def obd(*args: str, cache: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "OBD_CACHE_DIR": str(cache)}
    env.pop("OBD_REGISTRY_USERNAME", None)
    return subprocess.run(["obd", *args], capture_output=True, env=env, timeout=120)


def stats_of(stderr: bytes) -> tuple[int, int, int]:
    match = re.search(rb"fetched (\d+) of (\d+) blob bytes .* in (\d+) requests", stderr)
    assert match, stderr
    fetched, total, requests = (int(x) for x in match.groups())
    return fetched, total, requests


def test_cat_reads_a_file_and_reports_what_it_fetched(
    pushed: Pushed, tmp_path: Path, files: dict[str, bytes]
) -> None:
    done = obd("cat", "--plain-http", "--stats", pushed.converted, "/usr/bin/app", cache=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == files["/usr/bin/app"]
    fetched, total, requests = stats_of(done.stderr)
    assert 0 < fetched < total and requests > 0
    assert any((tmp_path / "lazy" / "entries").rglob("z*"))  # OBD_CACHE_DIR/lazy is the cache

    again = obd("cat", "--plain-http", "--stats", pushed.converted, "/usr/bin/app", cache=tmp_path)
    assert again.stdout == files["/usr/bin/app"]
    assert stats_of(again.stderr)[0] == 0


def test_ls_and_stat_through_the_referrer(pushed: Pushed, tmp_path: Path) -> None:
    bare = pushed.source.removeprefix("docker://")
    listing = obd("ls", "--plain-http", "--json", bare, "/usr", cache=tmp_path / "a")
    assert listing.returncode == 0, listing.stderr
    assert [row["name"] for row in json.loads(listing.stdout)] == ["bin", "share"]
    memory_only = tmp_path / "b"
    shown = obd("stat", "--plain-http", "--json", "--no-cache", bare, "/bin", cache=memory_only)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["target"] == "usr/bin"
    assert (tmp_path / "a" / "lazy").is_dir()
    assert not (memory_only / "lazy").exists()


def test_missing_path_is_one_line_error(pushed: Pushed, tmp_path: Path) -> None:
    done = obd("cat", "--plain-http", pushed.converted, "/no/such", cache=tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode().count("\n") == 1
    assert "no such file or directory: /no/such" in done.stderr.decode()
