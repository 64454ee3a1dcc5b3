"""One layer, one feature per test: entry types, header forms, xattrs, large dirs and files."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.ext4 import Filesystem, apply_layer
from overlaybd_py.ext4.constants import INODE_FL_INDEX
from tests.layertar import LayerTar

from .helpers import (
    Expect,
    apply_tars,
    check_tree,
    debugfs,
    debugfs_listdir,
    debugfs_stat,
    fresh_stack,
)


def _apply_one(tmp_path: Path, data: bytes, expected: dict[str, Expect]) -> Filesystem:
    stack = fresh_stack()
    apply_tars(stack, data)
    return check_tree(stack, stack.export(tmp_path / "disk.img"), expected, tmp_path)


def test_regular_files_of_many_sizes(tmp_path: Path) -> None:
    sizes = [0, 1, 4095, 4096, 4097, 1 << 20, 3 * (1 << 20) + 12345]
    layer = LayerTar()
    expected = {}
    for size in sizes:
        data = os.urandom(size)
        layer.file(f"f{size}", data, mode=0o640)
        expected[f"/f{size}"] = Expect("file", 0o640, data=data)
    fs = _apply_one(tmp_path, layer.bytes(), expected)
    assert fs.stat("/f0").st_blocks == 0
    handle = fs.open(f"/f{sizes[-1]}")
    data = handle.read()
    assert handle.pread(4000, 200) == data[4000:4200]
    handle.seek(-10, io.SEEK_END)
    assert handle.read() == data[-10:]


def test_modes_including_setuid_setgid_sticky(tmp_path: Path) -> None:
    layer = LayerTar().file("suid", b"x", mode=0o4755).file("sgid", b"y", mode=0o2711)
    layer.dir("sticky", mode=0o1777).file("none", mode=0o000)
    _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/suid": Expect("file", 0o4755, data=b"x"),
            "/sgid": Expect("file", 0o2711, data=b"y"),
            "/sticky": Expect("dir", 0o1777),
            "/none": Expect("file", 0o000, data=b""),
        },
    )


def test_owners_above_65535_and_base256(tmp_path: Path) -> None:
    # uid 3_000_000 does not fit the 7 octal digits of ustar: GNU writes base-256.
    layer = LayerTar(fmt=tarfile.GNU_FORMAT).file("big", b"z", uid=3_000_000, gid=70_000)
    layer.file("small", b"w", uid=1000, gid=1000)
    raw = layer.bytes()
    assert raw[108] & 0x80, "the uid field should be base-256 encoded"
    _apply_one(
        tmp_path,
        raw,
        {
            "/big": Expect("file", uid=3_000_000, gid=70_000, data=b"z"),
            "/small": Expect("file", uid=1000, gid=1000, data=b"w"),
        },
    )


def test_pax_uid_gid_and_nanosecond_times(tmp_path: Path) -> None:
    pax = {
        "uid": "4000000000",
        "gid": "123456",
        "mtime": "1683221800.123456789",
        "atime": "1683221801.5",
        "ctime": "1683221802.000000007",
    }
    layer = LayerTar().file("t", b"abc", pax=pax).dir("d", pax={"mtime": "99.000000001"})
    fs = _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/t": Expect(
                "file", uid=4_000_000_000, gid=123456, data=b"abc", mtime_ns=1683221800_123456789
            ),
            "/d": Expect("dir", mtime_ns=99_000000001),
        },
    )
    st = fs.stat("/t")
    assert st.st_atime_ns == 1683221801_500000000
    assert st.st_ctime_ns == 1683221802_000000007


def test_times_before_1970_and_after_2038(tmp_path: Path) -> None:
    layer = LayerTar().file("old", pax={"mtime": "-1000.25"})
    layer.file("new", pax={"mtime": "4102444800"})
    _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/old": Expect("file", data=b"", mtime_ns=-1_000_250_000_000),
            "/new": Expect("file", data=b"", mtime_ns=4102444800 * 10**9),
        },
    )


def test_symlinks_inline_and_in_a_block(tmp_path: Path) -> None:
    long_target = "/" + "/".join(["component"] * 400)
    long_target = long_target[:4095]
    layer = LayerTar().file("target", b"t").symlink("short", "target")
    layer.symlink("long", long_target).symlink("edge59", "y" * 59).symlink("edge60", "z" * 60)
    fs = _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/target": Expect("file", data=b"t"),
            "/short": Expect("symlink", 0o777, target="target"),
            "/long": Expect("symlink", 0o777, target=long_target),
            "/edge59": Expect("symlink", 0o777, target="y" * 59),
            "/edge60": Expect("symlink", 0o777, target="z" * 60),
        },
    )
    assert fs.stat("/edge59").st_blocks == 0
    assert fs.stat("/edge60").st_blocks == 8


def test_gnu_long_names_and_long_link_targets(tmp_path: Path) -> None:
    deep = "/".join(f"dir{i:03d}" for i in range(40)) + "/file"
    target = "../" * 3 + "x" * 150
    layer = LayerTar(fmt=tarfile.GNU_FORMAT).file(deep, b"deep").symlink("ln", target)
    raw = layer.bytes()
    assert b"././@LongLink" in raw
    _apply_one(
        tmp_path,
        raw,
        {
            **{"/" + "/".join(deep.split("/")[: i + 1]): Expect("dir", 0o755) for i in range(40)},
            "/" + deep: Expect("file", data=b"deep"),
            "/ln": Expect("symlink", target=target),
        },
    )


def test_pax_path_linkpath_and_size(tmp_path: Path) -> None:
    name = "p" * 200
    layer = LayerTar().file(name, b"paxdata").symlink("s", "q" * 200)
    raw = layer.bytes()
    assert b" path=" in raw and b" linkpath=" in raw
    _apply_one(
        tmp_path,
        raw,
        {"/" + name: Expect("file", data=b"paxdata"), "/s": Expect("symlink", target="q" * 200)},
    )


def test_hardlinks_share_one_inode(tmp_path: Path) -> None:
    # Link members carry the file's metadata, as tar writes them; it applies to the inode.
    layer = LayerTar().file("a", b"shared", mode=0o600).hardlink("b", "a", mode=0o600).dir("sub")
    layer.hardlink("sub/c", "./a", mode=0o600)
    fs = _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/a": Expect("file", 0o600, data=b"shared"),
            "/b": Expect("file", 0o600, data=b"shared"),
            "/sub": Expect("dir"),
            "/sub/c": Expect("file", 0o600, data=b"shared"),
        },
    )
    inodes = {fs.stat(p).st_ino for p in ("/a", "/b", "/sub/c")}
    assert len(inodes) == 1
    assert fs.stat("/a").st_nlink == 3


def test_devices_and_fifos(tmp_path: Path) -> None:
    layer = LayerTar().add("null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
    layer.add("sda", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0)
    layer.add("big", tarfile.CHRTYPE, mode=0o600, devmajor=300, devminor=70000)
    layer.add("pipe", tarfile.FIFOTYPE, mode=0o644)
    _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/null": Expect("char", 0o666, device=(1, 3)),
            "/sda": Expect("block", 0o660, device=(8, 0)),
            "/big": Expect("char", 0o600, device=(300, 70000)),
            "/pipe": Expect("fifo", 0o644),
        },
    )


def test_binary_xattrs_inline_and_in_a_block(tmp_path: Path) -> None:
    cap = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_bind_service
    raw_value = bytes(range(256))
    pax_small = {"SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape")}
    pax_big = {
        "SCHILY.xattr.user.binary": raw_value.decode("utf-8", "surrogateescape"),
        "SCHILY.xattr.trusted.t": "v",
        "SCHILY.xattr.security.selinux": "system_u:object_r:bin_t:s0\0",
    }
    layer = LayerTar().file("ping", b"elf", pax=pax_small).file("many", b"m", pax=pax_big)
    layer.dir("dir", pax={"SCHILY.xattr.user.d": "dirattr"})
    fs = _apply_one(
        tmp_path,
        layer.bytes(),
        {
            "/ping": Expect("file", data=b"elf", xattrs={"security.capability": cap}),
            "/many": Expect(
                "file",
                data=b"m",
                xattrs={
                    "user.binary": raw_value,
                    "trusted.t": b"v",
                    "security.selinux": b"system_u:object_r:bin_t:s0\0",
                },
            ),
            "/dir": Expect("dir", xattrs={"user.d": b"dirattr"}),
        },
    )
    assert fs.read_node(fs.resolve("/ping")).file_acl == 0, "small attrs stay in the inode"
    assert fs.read_node(fs.resolve("/many")).file_acl != 0, "big attrs spill to a block"


def test_large_directory_is_hash_indexed(tmp_path: Path) -> None:
    layer = LayerTar().dir("big")
    names = [f"entry-{i:06d}-{'n' * (i % 40)}" for i in range(6000)]
    for name in names:
        layer.file(f"big/{name}", name.encode())
    stack = fresh_stack()
    apply_tars(stack, layer.bytes())
    image = stack.export(tmp_path / "disk.img")
    check_tree(stack, image, {"/big": Expect("dir")}, tmp_path, exact=False)
    fs = Filesystem(stack.top)
    assert fs.read_node(fs.resolve("/big")).rec.i_flags & INODE_FL_INDEX
    assert sorted(fs.listdir("/big")) == sorted(names)
    assert debugfs_listdir(image, "/big") == sorted(names)
    assert "Number of entries (count)" in debugfs(image, "htree /big")
    sample = names[4321]
    assert fs.open(f"/big/{sample}").read() == sample.encode()
    assert debugfs_stat(image, f"/big/{sample}").size == len(sample)


def test_directory_with_two_index_levels(tmp_path: Path) -> None:
    # Over 508 leaf blocks forces a dx node level under the root.
    layer = LayerTar().dir("huge")
    count = 40000
    for i in range(count):
        layer.add(f"huge/{'x' * 80}{i:07d}", tarfile.FIFOTYPE)
    stack = fresh_stack(1 << 30)
    apply_tars(stack, layer.bytes())
    image = stack.export(tmp_path / "disk.img")
    check_tree(stack, image, {"/huge": Expect("dir")}, tmp_path, exact=False)
    assert "Indirect levels: 1" in debugfs(image, "htree /huge")
    assert len(Filesystem(stack.top).listdir("/huge")) == count


def test_fragmented_file_gets_a_deep_extent_tree(tmp_path: Path) -> None:
    # Many small files, every other one deleted, leave one-block holes; a big file
    # written next fills them with hundreds of extents (more than the inode's 4).
    first = LayerTar()
    for i in range(1200):
        first.file(f"small/{i:05d}", b"s" * 4096)
    second = LayerTar()
    for i in range(0, 1200, 2):
        second.whiteout(f"small/{i:05d}")
    big = os.urandom(2000 * 4096)
    second.file("big", big)
    stack = fresh_stack()
    apply_tars(stack, first.bytes(), second.bytes())
    image = stack.export(tmp_path / "disk.img")
    fs = check_tree(stack, image, {"/big": Expect("file", data=big)}, tmp_path, exact=False)
    extents, tree = fs.extents(fs.read_node(fs.resolve("/big")))
    assert len(extents) > 4 and tree, "the extent tree should need index blocks"
    assert "(ETB0)" in debugfs(image, "stat /big") or "ETB" in debugfs(image, "ex /big")


@pytest.mark.parametrize("compress", ["gzip", "zstd", "none"])
def test_compressed_layers_detected_from_bytes(tmp_path: Path, compress: str) -> None:
    raw = LayerTar().file("hello", b"world").bytes()
    codecs: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "zstd": zstandard.compress,
        "none": lambda b: b,
    }
    data = codecs[compress](raw)
    _apply_one(tmp_path, data, {"/hello": Expect("file", data=b"world")})


def test_stats_count_entries_and_bytes(tmp_path: Path) -> None:
    layer = LayerTar().dir("d").file("d/a", b"12345").symlink("l", "d").hardlink("h", "d/a")
    stack = fresh_stack()
    (stats,) = apply_tars(stack, layer.bytes())
    assert stats.entries == 4 and stats.bytes == 5  # type: ignore[attr-defined]
    assert (
        hashlib.sha256(Filesystem(stack.top).open("/h").read()).digest()
        == hashlib.sha256(b"12345").digest()
    )


class _HugeZeroTar(io.RawIOBase):
    """A one-member tar of ``size`` zero bytes, generated on the fly (no memory, no disk)."""

    def __init__(self, name: str, size: int) -> None:
        info = tarfile.TarInfo(name)
        info.size = size
        self._head = info.tobuf(tarfile.PAX_FORMAT)
        self._tail = bytes(-size % 512) + bytes(1024)
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        head, body = len(self._head), self._size
        total = head + body + len(self._tail)
        n = min(len(view), total - self._pos)
        if n <= 0:
            return 0
        start, end = self._pos, self._pos + n
        view[:n] = bytes(n)
        if start < head:
            k = min(end, head)
            view[: k - start] = self._head[start:k]
        self._pos = end
        return n


@pytest.mark.slow
def test_file_beyond_8_gib(tmp_path: Path) -> None:
    size = (8 << 30) + 12345
    stack = fresh_stack(16 << 30)
    dev = OverlayDevice(stack.top)
    fs = Filesystem(dev, writable=True)
    apply_layer(fs, io.BufferedReader(_HugeZeroTar("huge", size), 1 << 20))
    fs.close()
    stack.devices.append(dev)
    image = stack.export(tmp_path / "disk.img")
    back = check_tree(stack, image, {"/huge": Expect("file")}, tmp_path)
    assert back.stat("/huge").st_size == size
    handle = back.open("/huge")
    assert handle.pread(size - 100, 200) == bytes(100)
    extents, _ = back.extents(back.read_node(back.resolve("/huge")))
    assert sum(e.length for e in extents) == -(-size // 4096)
