"""Shared test helpers: where the bundled fixtures live."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UPSTREAM = FIXTURES / "upstream"
REFERENCE = FIXTURES / "reference"
HELLO_LAYOUT = UPSTREAM / "aci-hello-world"
HELLO_LAYER_DIGEST = "022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d"
HELLO_LAYER = HELLO_LAYOUT / "blobs" / "sha256" / HELLO_LAYER_DIGEST


@pytest.fixture(scope="session")
def base_layer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The legacy upstream base layer ``ext4_64`` (a bare ZFile), extracted once."""
    out = tmp_path_factory.mktemp("baselayer") / "ext4_64"
    with tarfile.open(
        fileobj=io.BytesIO(gzip.decompress((UPSTREAM / "baselayer-ext4_64.tar.gz").read_bytes()))
    ) as tar:
        member = tar.extractfile("ext4_64")
        assert member is not None
        out.write_bytes(member.read())
    return out
