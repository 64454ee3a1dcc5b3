"""Fixtures for the LSMT tests: the upstream reference layers and ways to open them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from overlaybd_py import tarwrap
from overlaybd_py.io import ByteSource, FileSource
from overlaybd_py.lsmt.reader import LayerFile
from overlaybd_py.zfile import ZFileReader, has_magic

LSMT_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reference"
LSMT_JSON: dict[str, Any] = json.loads((LSMT_FIXTURES / "lsmt.json").read_text())
APPLY_JSON: dict[str, Any] = json.loads((LSMT_FIXTURES / "apply.json").read_text())
ZERO_CHUNK = bytes(8 << 20)


def fixture_path(relative: str) -> Path:
    """A file named as in lsmt.json/apply.json such as ``lsmt/l0.commit``."""
    return LSMT_FIXTURES / relative


def payload(name: str) -> bytes:
    return (LSMT_FIXTURES / "lsmt" / "payloads" / f"{name}.bin").read_bytes()


def open_any_layer(source: ByteSource) -> LayerFile:
    """Peel a tar wrapper and a ZFile when present, then open the LSMT layer inside."""
    payload_source = tarwrap.unwrap(source)
    if has_magic(payload_source.pread(0, 512)):
        payload_source = ZFileReader(payload_source)
    return LayerFile(payload_source)


def open_fixture_layer(relative: str) -> LayerFile:
    return open_any_layer(FileSource(fixture_path(relative)))


def device_sha256(device: Any, limit: int | None = None) -> str:
    """sha256 of a stack's device: data extents read in 8 MiB pieces, zeros hashed in bulk."""
    end = device.size if limit is None else min(limit, device.size)
    digest = hashlib.sha256()
    zeros = memoryview(ZERO_CHUNK)
    position = 0

    def add_zeros(count: int) -> None:
        while count > 0:
            step = min(count, len(zeros))
            digest.update(zeros[:step])
            count -= step

    for offset, length in device.data_extents():
        if offset >= end:
            break
        stop = min(offset + length, end)
        add_zeros(offset - position)
        for at in range(offset, stop, len(zeros)):
            digest.update(device.pread(at, min(len(zeros), stop - at)))
        position = stop
    add_zeros(end - position)
    return digest.hexdigest()


@pytest.fixture
def reference_commit_bytes() -> dict[str, bytes]:
    return {name: fixture_path(f"lsmt/{name}.commit").read_bytes() for name in ("l0", "l1", "l2")}
