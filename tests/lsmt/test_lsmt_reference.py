"""Layers made by the upstream tools: decoded, re-created byte for byte, and read as stacks."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from overlaybd_py.io import BytesSource, FileSource
from overlaybd_py.lsmt.reader import LayerFile
from overlaybd_py.lsmt.records import NULL_UUID, Mapping
from overlaybd_py.lsmt.stack import LayerStack
from overlaybd_py.lsmt.writable import AppendLayer
from tests.conftest import HELLO_LAYER

from .conftest import (
    APPLY_JSON,
    LSMT_JSON,
    device_sha256,
    fixture_path,
    open_any_layer,
    open_fixture_layer,
    payload,
)

UUIDS = LSMT_JSON["uuids"]
PARENTS = {"l0": None, "l1": UUIDS["1"], "l2": UUIDS["2"]}
OWN = {"l0": UUIDS["1"], "l1": UUIDS["2"], "l2": UUIDS["3"]}
GIB = 1 << 30

# What the upstream commits hold (read with an independent decoder while writing these tests:
# offsets, lengths and moffsets in sectors).
EXPECTED_MAPPINGS = {
    "l0": [
        Mapping(0, 512, 8),
        Mapping(512, 128, 520, zeroed=True),
        Mapping(640, 1408, 520),
        Mapping(204800, 600, 1928),
        Mapping(2097024, 128, 2528),
    ],
    "l1": [
        Mapping(1024, 256, 8),
        Mapping(204808, 8, 264),
        Mapping(204928, 16, 272, zeroed=True),
        Mapping(1024000, 128, 272),
    ],
    "l2": [Mapping(0, 8, 8), Mapping(2047, 3, 16), Mapping(1024008, 8, 19)],
}


@pytest.mark.parametrize("name", ["l0", "l1", "l2"])
def test_reference_commit_decodes(name: str) -> None:
    layer = LayerFile(FileSource(fixture_path(f"lsmt/{name}.commit")))
    assert layer.mappings == EXPECTED_MAPPINGS[name]
    assert layer.uuid == OWN[name]
    assert layer.parent_uuid == (PARENTS[name] or NULL_UUID)
    assert layer.virtual_size == LSMT_JSON["virtual_size"] == GIB
    assert layer.user_tag == b""
    assert (layer.flags, layer.trailer.flags, layer.sealed) == (0x07, 0x06, False)
    assert (layer.header.index_offset, layer.header.index_size) == (0, 0)
    stats = layer.stats
    assert stats.entries == 256
    assert stats.real + stats.padding == 256
    assert stats.real == len(EXPECTED_MAPPINGS[name])
    data_sectors = sum(m.length for m in EXPECTED_MAPPINGS[name] if not m.zeroed)
    assert stats.mapped_bytes == data_sectors * 512
    assert layer.trailer.index_offset == (8 + data_sectors) * 512
    assert layer.source.size == layer.trailer.index_offset + 4096 + 4096


def replay(name: str) -> AppendLayer:
    layer = AppendLayer(LSMT_JSON["virtual_size"])
    for op in LSMT_JSON["writes"][name]:
        if op[0] == "w":
            layer.write(op[2], payload(op[1]))
        else:
            layer.discard(op[2], op[1])
    return layer


@pytest.mark.parametrize("name", ["l0", "l1", "l2"])
def test_replayed_writes_reproduce_commit_byte_for_byte(name: str) -> None:
    out = io.BytesIO()
    with replay(name) as layer:
        info = layer.commit(out, uuid=OWN[name].lower(), parent_uuid=PARENTS[name])
    data = out.getvalue()
    expected = LSMT_JSON["files"][f"lsmt/{name}.commit"]
    assert len(data) == info.size == expected["size"]
    assert hashlib.sha256(data).hexdigest() == expected["sha256"]
    assert info.entries == len(EXPECTED_MAPPINGS[name])


def test_tar_commit_holds_the_same_layer() -> None:
    """``overlaybd-commit -t`` without ``-z`` writes the bare commit (same sha256 as l2)."""
    plain = fixture_path("lsmt/l2.commit").read_bytes()
    assert fixture_path("lsmt/l2.tar.commit").read_bytes() == plain


PLAIN_STACKS = ["l0", "l01", "l012", "l1_alone", "l2_alone"]
ZFILE_STACKS = ["l0_lz4", "l0_zstd64", "l012_tar", "l012_tarcommit"]


@pytest.mark.parametrize("stack_name", PLAIN_STACKS + ZFILE_STACKS)
def test_reference_stack_reads_back(stack_name: str) -> None:
    spec = LSMT_JSON["stacks"][stack_name]
    stack = LayerStack([open_fixture_layer(p) for p in spec["layers_bottom_first"]])
    assert stack.size == spec["virtual_size"]
    first_8m = stack.pread(0, 8 << 20)
    assert hashlib.sha256(first_8m[: 1 << 20]).hexdigest() == spec["sha256_first_1MiB"]
    assert hashlib.sha256(first_8m).hexdigest() == spec["sha256_first_8MiB"]
    assert device_sha256(stack) == spec["sha256_full"]


def test_stack_reads_match_single_layer_reads_where_top_maps() -> None:
    """Where the top layer maps data, the stack returns exactly the top layer's bytes."""
    layers = [open_fixture_layer(f"lsmt/{n}.commit") for n in ("l0", "l1", "l2")]
    stack = LayerStack(layers)
    for m in layers[-1].mappings:
        at, size = m.offset * 512, m.length * 512
        assert stack.pread(at, size) == layers[-1].pread(at, size)


def test_stack_extents_name_their_layers() -> None:
    layers = [open_fixture_layer(f"lsmt/{n}.commit") for n in ("l0", "l1", "l2")]
    stack = LayerStack(layers)
    extents = list(stack.extents())
    assert extents[0] == (0, 4096, 2, False)  # rand_4k written by l2 over l0's data
    assert (262144, 65536, 0, True) in extents  # l0's discard
    assert (104923136, 8192, 1, True) in extents  # l1's discard over l0's text
    assert sum(e.length for e in extents if not e.zeroed) == sum(
        length for _, length in stack.data_extents()
    )


def test_pread_edges() -> None:
    stack = LayerStack([open_fixture_layer("lsmt/l0.commit")])
    assert stack.pread(GIB, 10) == b""
    assert stack.pread(GIB - 5, 10) == payload("rand_64k")[-5:]
    assert stack.pread(262144 - 3, 6) == payload("mix_1m")[262144 - 3 : 262144] + bytes(3)
    assert stack.pread(3, 4096) == (payload("mix_1m")[:4096] + payload("rand_8k"))[3 : 3 + 4096]


def test_upstream_hello_world_layer() -> None:
    """The converted hello-world layer: 515 real mappings, 253 padding (spec §10)."""
    layer = open_any_layer(FileSource(HELLO_LAYER))
    assert (layer.stats.real, layer.stats.padding) == (515, 253)
    assert layer.trailer.index_offset == 71512064
    assert layer.source.size == 71528448
    # The converter derives the UUID from the source layer's chain ID (a single layer: its
    # diff ID, sha256:01bb4fce3eb1b56b05adf99504dafd31...), upper-case on disk.
    assert layer.uuid == "01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"
    assert layer.parent_uuid == NULL_UUID
    assert layer.stats.zeroed == 0


@pytest.mark.parametrize("layer_info", APPLY_JSON["layers"], ids=lambda v: v["commit"])
def test_apply_commits_decode(layer_info: dict[str, object]) -> None:
    """The converter-style layers (tar-wrapped lz4 ZFiles) open and pass index validation."""
    layer = open_fixture_layer(str(layer_info["commit"]))
    assert layer.uuid == str(layer_info["uuid"]).upper()
    assert layer.source.size == layer_info["plain_commit_size"]
    assert layer.virtual_size == 64 << 30
    assert layer.stats.real > 0
    assert layer.stats.entries % 256 == 0


def test_apply_stack_over_base_layer(base_layer_path: Path) -> None:
    spec = APPLY_JSON["stacks"]["base+l1+l2"]
    base = open_any_layer(FileSource(base_layer_path))
    layers = [base] + [open_fixture_layer(str(v["commit"])) for v in APPLY_JSON["layers"]]
    stack = LayerStack(layers)
    assert stack.size == spec["vsize"]
    assert hashlib.sha256(stack.pread(0, 1 << 20)).hexdigest() == spec["sha256_first_1MiB"]
    assert device_sha256(stack, 64 << 20) == spec["sha256_first_64MiB"]


def test_bytes_source_and_file_source_agree() -> None:
    path = fixture_path("lsmt/l1.commit")
    a = LayerFile(FileSource(path))
    b = LayerFile(BytesSource(path.read_bytes()))
    assert a.mappings == b.mappings
    assert a.pread(524288, 131072) == b.pread(524288, 131072) == payload("rand_128k")
