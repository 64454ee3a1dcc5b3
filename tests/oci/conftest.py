"""Fixtures for the oci tests: the real upstream layouts and helpers to build images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HELLO = FIXTURES / "upstream" / "aci-hello-world"
E2E = FIXTURES / "upstream" / "aci-e2e-store"
UCONV = FIXTURES / "oci" / "uconv_reproduce"

CONVERTED_MANIFEST = "sha256:42caa56a19e082b872d43f645bb392e25c9e78bce429755bd709fac598265f88"
CONVERTED_CONFIG = "sha256:b67b1f1224de620e9a932ab7ff0e819d7dd9d236605dd8027e5ecf2df650e65e"
CONVERTED_LAYER = "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d"
AMD64_MANIFEST = "sha256:7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3"
AMD64_CONFIG = "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d"
AMD64_LAYER = "sha256:719385e32844401d57ecfd3eacab360bf551a1491c05b85806ed8f1b08d792f6"
AMD64_DIFF_ID = "sha256:01bb4fce3eb1b56b05adf99504dafd31907a5aadac736e36b27595c8b92f07f1"


def blob_path(layout: Path, digest: str) -> Path:
    """Where a digest's blob lives in a layout directory."""
    algorithm, encoded = digest.split(":")
    return layout / "blobs" / algorithm / encoded


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to compare a directory before and after."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def hello_copy(tmp_path: Path) -> Path:
    """A writable copy of the upstream hello-world layout."""
    target = tmp_path / "hello"
    shutil.copytree(HELLO, target)
    return target
