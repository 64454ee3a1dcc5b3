"""Fixtures for the check tests: converting small synthetic sources with the real converter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from overlaybd_py.convert import ConvertOptions, convert

from .layouts import write_layout

SMALL_DISK = 512 << 20

Converter = Callable[..., tuple[str, str]]


@pytest.fixture
def converted(tmp_path: Path) -> Converter:
    """``converted(*layer_tars)`` → ``(source_ref, converted_ref)``, both OCI layouts."""
    count = 0

    def make(*layers: bytes, name: str = "image") -> tuple[str, str]:
        nonlocal count
        count += 1
        source = write_layout(tmp_path / f"{name}-{count}-src", list(layers))
        target = f"oci:{tmp_path / f'{name}-{count}-obd'}:latest"
        convert(source, target, ConvertOptions(vsize=SMALL_DISK))
        return source, target

    return make
