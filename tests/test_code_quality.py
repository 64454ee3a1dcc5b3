"""The style the project holds itself to (STYLE.md): ruff lint + format, mypy on the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON_TREES = ["overlaybd_py", "cli", "tests", "benchmarks", "scripts"]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the test extras")
def test_ruff_lint_and_format() -> None:
    lint = _run("ruff", "check", *PYTHON_TREES)
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = _run("ruff", "format", "--check", *PYTHON_TREES)
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_mypy_package_and_cli() -> None:
    pytest.importorskip("mypy", reason="mypy is installed by the test extras")
    result = _run(sys.executable, "-m", "mypy", "overlaybd_py", "cli/overlaybd_cli")
    assert result.returncode == 0, result.stdout[-3000:]
