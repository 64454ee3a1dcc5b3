"""The upstream empty base layer (spec §5.5, §6.3): journal, uninit_bg, flex_bg of 16.

Upstream's ``overlaybd-apply`` applied ``fixtures/reference/tars/layer{1,2}.tar`` onto this
base layer; ``fixtures/reference/apply`` holds the resulting commits, trees and e2fsck
summaries. We apply the same tars with our applier and compare against all of them.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.convert.baselayer import BASE_LAYER_SHA256, extract_base_layer
from overlaybd_py.export import export_raw
from overlaybd_py.ext4 import Filesystem, apply_layer
from overlaybd_py.ext4.allocator import count_used, desc_free_blocks, desc_itable_unused
from overlaybd_py.ext4.checksum import crc16, group_desc_checksum, uuid_seed
from overlaybd_py.ext4.constants import BG_BLOCK_UNINIT, BG_INODE_UNINIT
from overlaybd_py.io import FileSource
from overlaybd_py.layer import open_layer_blob, open_stack
from overlaybd_py.lsmt.stack import LayerStack
from tests.conftest import HELLO_LAYOUT, REFERENCE

from .reference import (
    by_link_group,
    e2fsck_counts,
    export,
    parse_tree_file,
    read_tree,
    summary_counts,
)
from .test_debian import _reader_model, _tar_model

APPLY = REFERENCE / "apply"
TARS = REFERENCE / "tars"
STACKS = ("base+l1", "base+l1+l2")


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base layer as ``--no-mkfs`` uses it: extracted from the package data."""
    return Path(extract_base_layer(str(tmp_path_factory.mktemp("base"))))


@pytest.fixture(scope="module")
def base(base_path: Path) -> LayerStack:
    return open_stack([FileSource(base_path)], name="base layer")


@dataclass
class Applied:
    devices: list[OverlayDevice]
    images: dict[str, Path]


@pytest.fixture(scope="module")
def applied(base: LayerStack, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """Both reference tars applied by us, one overlay each, each stack exported once."""
    out = tmp_path_factory.mktemp("applied")
    devices: list[OverlayDevice] = []
    images: dict[str, Path] = {}
    lower: LayerStack | OverlayDevice = base
    for name, tar in zip(STACKS, ("layer1.tar", "layer2.tar"), strict=True):
        device = OverlayDevice(lower)
        fs = Filesystem(device, writable=True)
        with open(TARS / tar, "rb") as stream:
            apply_layer(fs, stream, name=tar)
        fs.close()
        devices.append(device)
        ranges = list(base.data_extents())
        for dev in devices:
            ranges += dev.written_extents()
        images[name] = export(device, ranges, out / f"{name}.img")
        lower = device
    return Applied(devices, images)


def _reference_counts(stack: str) -> tuple[int, int]:
    record = json.loads((REFERENCE / "apply.json").read_text())["stacks"][stack]
    assert record["e2fsck_rc"] == 0
    return summary_counts(record["e2fsck_tail"])


# --- the base layer as found -----------------------------------------------------------------
def test_crc16_is_the_ext4_variant() -> None:
    # reflected 0x8005, register from 0xFFFF, no final xor: the "MODBUS" check value
    assert crc16(0xFFFF, b"123456789") == 0x4B37


def test_base_layer_is_the_one_of_spec_6_3(base: LayerStack) -> None:
    fs = Filesystem(base)
    sb = fs.sb
    assert (sb.s_feature_compat, sb.s_feature_incompat, sb.s_feature_ro_compat) == (
        0x3C,
        0x2C2,
        0x7B,
    )
    assert (sb.s_log_groups_per_flex, sb.s_journal_inum, sb.s_inodes_count) == (4, 8, 4194304)
    seed = uuid_seed(sb.s_uuid)
    raw = b"".join(d.pack() for d in fs.descs)
    for group, desc in enumerate(fs.descs):
        assert group_desc_checksum(seed, group, raw[group * 64 : group * 64 + 64]) == (
            desc.bg_checksum
        ), group
    flags = [d.bg_flags for d in fs.descs]
    assert sum(1 for f in flags if f & BG_BLOCK_UNINIT) > 400  # most groups never written
    assert all(f & BG_INODE_UNINIT for f in flags[1:])
    assert fs.listdir("/") == ["lost+found"]
    assert by_link_group(read_tree(fs)) == by_link_group(parse_tree_file(APPLY / "tree-base.txt"))


def test_computed_block_bitmaps_agree_with_the_free_counts(base: LayerStack) -> None:
    fs = Filesystem(OverlayDevice(base), writable=True)
    uninit = [g for g, d in enumerate(fs.descs) if d.bg_flags & BG_BLOCK_UNINIT]
    for group in uninit:
        bitmap = fs.alloc.block_bitmap(group)
        free = fs.geo.blocks_per_group - count_used(bitmap, fs.geo.blocks_per_group)
        assert free == desc_free_blocks(fs.descs[group]), group


def test_base_layer_opens_writable_and_an_idle_close_writes_nothing(base: LayerStack) -> None:
    device = OverlayDevice(base)
    Filesystem(device, writable=True).close()
    assert device.written_extents() == []


# --- our applier on the base layer -----------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_reference_layers_applied_by_us_match_upstream(applied: Applied, stack: str) -> None:
    image = applied.images[stack]
    assert e2fsck_counts(image) == _reference_counts(stack)
    device = applied.devices[STACKS.index(stack)]
    ours = by_link_group(read_tree(Filesystem(device)))
    assert ours == by_link_group(parse_tree_file(APPLY / f"tree-{stack}.txt"))


@pytest.mark.parametrize("stack", STACKS)
def test_superblock_and_descriptors_equal_upstreams_bytes(
    base_path: Path, applied: Applied, stack: str
) -> None:
    """Block 0 and the 8 descriptor blocks: counts, flags, itable_unused, checksums, s_wtime 0."""
    count = STACKS.index(stack) + 1
    commits = [APPLY / f"layer{i}.overlaybd.commit" for i in range(1, count + 1)]
    theirs = open_stack([FileSource(base_path), *(FileSource(c) for c in commits)])
    ours = applied.devices[count - 1]
    assert ours.pread(0, 9 * 4096) == theirs.pread(0, 9 * 4096)


def test_applied_groups_keep_uninit_bookkeeping(applied: Applied) -> None:
    fs = Filesystem(applied.devices[-1])  # reading verifies every descriptor checksum
    group0 = fs.descs[0]
    highest = max(int(rec["ino"]) for rec in read_tree(fs).values())
    assert desc_itable_unused(group0) == fs.geo.inodes_per_group - highest
    assert all(d.bg_flags & BG_INODE_UNINIT for d in fs.descs[1:])


def test_upstream_commits_read_back_like_ours(base_path: Path, applied: Applied) -> None:
    commits = [APPLY / "layer1.overlaybd.commit", APPLY / "layer2.overlaybd.commit"]
    for count, stack in enumerate(STACKS, start=1):
        sources = [FileSource(base_path), *(FileSource(c) for c in commits[:count])]
        theirs = read_tree(Filesystem(open_stack(sources, name=stack)))
        assert by_link_group(theirs) == by_link_group(parse_tree_file(APPLY / f"tree-{stack}.txt"))
        ours = read_tree(Filesystem(applied.devices[count - 1]))
        assert by_link_group(ours) == by_link_group(theirs)


def test_a_layer_on_the_base_writes_few_blocks(applied: Applied) -> None:
    written = sum(length for _, length in applied.devices[1].written_extents())
    assert written < 64 * 4096, written  # layer 2 touches a handful of files and directories


# --- obd convert --no-mkfs -------------------------------------------------------------------
def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def test_convert_without_mkfs_stacks_on_the_base_layer(tmp_path: Path) -> None:
    out = tmp_path / "layout"
    convert(f"oci:{HELLO_LAYOUT}:amd64", f"oci:{out}:x", ConvertOptions(mkfs=False))
    index = json.loads((out / "index.json").read_text())
    (descriptor,) = index["manifests"]
    manifest = json.loads(_blob(out, descriptor["digest"]).read_bytes())
    layers = manifest["layers"]
    assert len(layers) == 2
    config = json.loads(_blob(out, manifest["config"]["digest"]).read_bytes())
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in layers]

    with tarfile.open(_blob(out, layers[0]["digest"])) as wrapper:
        (member,) = wrapper.getmembers()
        assert (member.name, member.mode) == ("overlaybd.commit", 0o444)
        data = wrapper.extractfile(member)
        assert data is not None
        assert hashlib.sha256(data.read()).hexdigest() == BASE_LAYER_SHA256

    sources = [FileSource(_blob(out, layer["digest"])) for layer in layers]
    assert open_layer_blob(sources[0]).lsmt.size == 64 << 30
    stack = open_stack(sources, name="converted")
    image = tmp_path / "disk.img"
    export_raw(stack, image)
    inodes, _ = e2fsck_counts(image)
    assert inodes == 12  # the base's 11 reserved/root/lost+found inodes plus /hello
    fs = Filesystem(stack)
    assert fs.listdir("/") == ["hello", "lost+found"]
    st = fs.stat("/hello")
    assert (st.st_mode, st.st_size) == (0o100775, 13256)
    assert b"Hello from Docker!" in fs.open("/hello").read()
    assert fs.sb.s_feature_ro_compat == 0x7B and fs.sb.s_journal_inum == 8


def test_a_layer_on_the_base_leaves_the_journal_untouched(base: LayerStack) -> None:
    device = OverlayDevice(base)
    fs = Filesystem(device, writable=True)
    apply_layer(fs, io.BytesIO(_small_layer()))
    fs.close()
    journal, _ = fs.extents(fs.read_node(8))
    assert sum(e.length for e in journal) == (512 << 20) // 4096
    written = device.written_extents()
    assert written
    for extent in journal:
        start, end = extent.physical * 4096, (extent.physical + extent.length) * 4096
        assert not [(o, n) for o, n in written if o < end and o + n > start], extent


def _small_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(50):
            info = tarfile.TarInfo(f"d{i % 5}/f{i}")
            info.size = 5000
            tar.addfile(info, io.BytesIO(bytes([i]) * 5000))
    return buf.getvalue()


# --- a real root filesystem on the base layer (slow) ------------------------------------------
@pytest.mark.slow
def test_debian_minbase_on_the_base_layer(
    base: LayerStack, debian_layer: tuple[Path, Path], tmp_path: Path
) -> None:
    layer, _ = debian_layer
    device = OverlayDevice(base, spool_dir=str(tmp_path))
    fs = Filesystem(device, writable=True)
    with open(layer, "rb") as stream:
        apply_layer(fs, stream)
    fs.close()
    image = export(device, [*base.data_extents(), *device.written_extents()], tmp_path / "disk.img")
    e2fsck_counts(image)
    assert _reader_model(Filesystem(device)) == _tar_model(layer)
