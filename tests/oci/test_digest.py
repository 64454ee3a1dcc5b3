"""Digests, chain IDs and layer UUIDs (spec §5.1) on real diff IDs."""

from __future__ import annotations

import hashlib
import io

import pytest

from overlaybd_py.errors import ImageError
from overlaybd_py.oci.config import diff_ids, parse_config
from overlaybd_py.oci.digest import (
    NULL_UUID,
    chain_ids,
    check_digest,
    is_digest,
    layer_uuids,
    sha256_digest,
    sha256_stream,
    uuid_from_chain_id,
)

from .conftest import AMD64_CONFIG, AMD64_DIFF_ID, HELLO, UCONV, blob_path


def test_uuid_of_hello_world_matches_upstream_vector() -> None:
    config = parse_config(blob_path(HELLO, AMD64_CONFIG).read_bytes(), "config")
    ids = diff_ids(config, "config")
    assert ids == [AMD64_DIFF_ID]
    assert chain_ids(ids) == ids
    assert uuid_from_chain_id(chain_ids(ids)[0]) == "01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"
    assert layer_uuids(ids) == [("01BB4FCE-3EB1-B56B-05AD-F99504DAFD31", NULL_UUID)]


def test_chain_ids_of_a_real_multi_layer_config() -> None:
    ids = diff_ids(parse_config((UCONV / "wordpress" / "config.json").read_bytes(), "c"), "c")
    assert len(ids) > 5
    chains = chain_ids(ids)
    # OCI config spec: ChainID(L0|..|Ln) = sha256(ChainID(L0|..|Ln-1) + " " + DiffID(Ln)).
    expected = [ids[0]]
    for diff_id in ids[1:]:
        expected.append(
            "sha256:" + hashlib.sha256(f"{expected[-1]} {diff_id}".encode()).hexdigest()
        )
    assert chains == expected
    uuids = layer_uuids(ids)
    assert [u for u, _ in uuids] == [uuid_from_chain_id(c) for c in chains]
    assert [p for _, p in uuids] == [NULL_UUID] + [u for u, _ in uuids[:-1]]
    for uuid, _ in uuids:
        assert len(uuid) == 36 and uuid == uuid.upper()
        assert [len(part) for part in uuid.split("-")] == [8, 4, 4, 4, 12]


def test_digest_helpers() -> None:
    assert sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert sha256_stream(io.BytesIO(b"x" * 3_000_000)) == (
        sha256_digest(b"x" * 3_000_000),
        3_000_000,
    )
    assert is_digest(AMD64_DIFF_ID)
    for bad in ("sha256:ABC", "sha256:" + "a" * 63, "md5:" + "a" * 32, "sha256" + "a" * 64, 5):
        assert not is_digest(bad)
    with pytest.raises(ImageError, match=r"diff_ids\[1\]: expected a digest"):
        chain_ids([AMD64_DIFF_ID, "sha256:nothex"])
    with pytest.raises(ImageError, match="found 'x'"):
        check_digest("x", "here")
