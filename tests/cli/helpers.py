"""Run the real ``obd`` entry point in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def obd(
    *args: str, check: bool = True, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "overlaybd_cli.entry", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=cwd,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"obd {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A failure is one line on stderr, no traceback, non-zero exit."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("obd: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
