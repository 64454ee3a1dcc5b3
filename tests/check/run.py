"""The real ``obd`` entry point in a subprocess, and where the bundled fixtures live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UPSTREAM = REPO / "fixtures" / "upstream"
HELLO = UPSTREAM / "aci-hello-world"
E2E_STORE = UPSTREAM / "aci-e2e-store"


def obd(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``obd ARGS`` as a user runs it; the caller checks the exit status."""
    return subprocess.run(
        [sys.executable, "-m", "overlaybd_cli.entry", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
