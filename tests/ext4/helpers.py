"""Test helpers for ext4: building layer tars, stacking devices, e2fsck and debugfs."""

from __future__ import annotations

import hashlib
import io
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from overlaybd_py.blockdev import OverlayDevice
from overlaybd_py.ext4 import Filesystem, apply_layer, mkfs
from overlaybd_py.ext4.apply import ApplyStats

SMALL_DEVICE = 512 << 20
CHUNK = 4 << 20


# --- devices and images ----------------------------------------------------------------------
@dataclass
class Stack:
    """Layers applied one above the other, each in its own OverlayDevice."""

    devices: list[OverlayDevice] = field(default_factory=list)

    @property
    def top(self) -> OverlayDevice:
        return self.devices[-1]

    def export(self, path: Path) -> Path:
        """The merged device as a sparse raw image (only written ranges are copied)."""
        ranges: set[tuple[int, int]] = set()
        for dev in self.devices:
            ranges.update(dev.written_extents())
        with open(path, "wb") as out:
            out.truncate(self.top.size)
            for offset, length in sorted(ranges):
                for at in range(offset, offset + length, CHUNK):
                    n = min(CHUNK, offset + length - at)
                    out.seek(at)
                    out.write(self.top.pread(at, n))
        return path


def fresh_stack(size: int = SMALL_DEVICE) -> Stack:
    dev = OverlayDevice(None, size)
    mkfs(dev).close()
    return Stack([dev])


def apply_tars(stack: Stack, *tars: bytes) -> list[ApplyStats]:
    """Apply each tar as a new layer on top of ``stack``."""
    results = []
    for data in tars:
        dev = OverlayDevice(stack.top)
        fs = Filesystem(dev, writable=True)
        results.append(apply_layer(fs, io.BytesIO(data)))
        fs.close()
        stack.devices.append(dev)
    return results


def e2fsck(image: Path) -> str:
    """Run ``e2fsck -fn`` and fail with its output unless it exits 0."""
    proc = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    assert proc.returncode == 0, f"e2fsck exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def debugfs(image: Path, *commands: str) -> str:
    script = "\n".join(commands) + "\n"
    proc = subprocess.run(
        ["debugfs", "-f", "-", str(image)], input=script, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@dataclass
class DebugStat:
    ino: int
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    links: int
    mtime_ns: int
    flags: int
    device: tuple[int, int] | None
    fast_link: str | None
    xattrs: dict[str, str]


_STAT_RE = {
    "ino": re.compile(r"Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+(\d+)\s+Flags: (0x[0-9a-f]+)"),
    "owner": re.compile(r"User:\s+(-?\d+)\s+Group:\s+(-?\d+).*Size: (\d+)"),
    "links": re.compile(r"Links: (\d+)"),
    "mtime": re.compile(r"mtime: 0x([0-9a-f]+):([0-9a-f]+)"),
    "device": re.compile(r"Device major/minor number: (\d+):(\d+)"),
    "fast": re.compile(r'Fast link dest: "(.*)"'),
}


def debugfs_stat(image: Path, path: str) -> DebugStat:
    """Parse ``debugfs -R 'stat PATH'`` into the fields the tests compare."""
    out = debugfs(image, f'stat "{path}"')
    ino_m = _STAT_RE["ino"].search(out)
    assert ino_m, f"debugfs stat {path}: {out}"
    owner = _STAT_RE["owner"].search(out)
    assert owner
    mtime = _STAT_RE["mtime"].search(out)
    assert mtime
    low, extra = int(mtime.group(1), 16), int(mtime.group(2), 16)
    seconds = (low - (1 << 32) if low & 0x80000000 else low) + ((extra & 3) << 32)
    dev = _STAT_RE["device"].search(out)
    fast = _STAT_RE["fast"].search(out)
    xattrs: dict[str, str] = {}
    if "Extended attributes:" in out:
        for line in out.split("Extended attributes:")[1].splitlines()[1:]:
            m = re.match(r"\s+(\S+) \((\d+)\)", line)
            if not m:
                break
            xattrs[m.group(1)] = m.group(2)
    return DebugStat(
        ino=int(ino_m.group(1)),
        kind=ino_m.group(2),
        mode=int(ino_m.group(3), 8),
        uid=int(owner.group(1)) & 0xFFFFFFFF,
        gid=int(owner.group(2)) & 0xFFFFFFFF,
        size=int(owner.group(3)),
        links=int(_STAT_RE["links"].search(out).group(1)),  # type: ignore[union-attr]
        mtime_ns=seconds * 1_000_000_000 + (extra >> 2),
        flags=int(ino_m.group(4), 16),
        device=(int(dev.group(1)), int(dev.group(2))) if dev else None,
        fast_link=fast.group(1) if fast else None,
        xattrs=xattrs,
    )


def debugfs_cat(image: Path, path: str, tmp: Path) -> bytes:
    out = tmp / "dumped"
    debugfs(image, f'dump "{path}" {out}')
    data = out.read_bytes()
    out.unlink()
    return data


def debugfs_listdir(image: Path, path: str) -> list[str]:
    out = debugfs(image, f'ls -p "{path}"')
    names = []
    for line in out.splitlines():
        parts = line.split("/")
        if len(parts) >= 7 and parts[5] not in (".", ".."):
            names.append(parts[5])
    return sorted(names)


# --- expected trees ------------------------------------------------------------------------------
@dataclass
class Expect:
    """What a path should look like after the layers are applied."""

    kind: str  # 'file' 'dir' 'symlink' 'char' 'block' 'fifo'
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    data: bytes | None = None
    target: str | None = None
    device: tuple[int, int] | None = None
    mtime_ns: int | None = None
    xattrs: dict[str, bytes] | None = None


_KIND_BITS = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "char": stat.S_IFCHR,
    "block": stat.S_IFBLK,
    "fifo": stat.S_IFIFO,
}


def reader_tree(fs: Filesystem) -> set[str]:
    paths = set()
    for top, dirs, files in fs.walk():
        for name in dirs + files:
            paths.add(f"{top.rstrip('/')}/{name}")
    return paths


def check_tree(
    stack: Stack, image: Path, expected: dict[str, Expect], tmp: Path, exact: bool = True
) -> Filesystem:
    """e2fsck, then compare every expected path with our reader and with debugfs."""
    e2fsck(image)
    fs = Filesystem(stack.top)
    if exact:
        have = reader_tree(fs) - {"/lost+found"}
        assert have == set(expected), (
            f"extra {sorted(have - set(expected))}, missing {sorted(set(expected) - have)}"
        )
    for path, want in expected.items():
        st = fs.stat(path)
        dbg = debugfs_stat(image, path)
        assert dbg.ino == st.st_ino, path
        assert stat.S_IFMT(st.st_mode) == _KIND_BITS[want.kind], (path, oct(st.st_mode))
        assert dbg.mode == stat.S_IMODE(st.st_mode), path
        if want.mode is not None:
            assert stat.S_IMODE(st.st_mode) == want.mode, (path, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (want.uid, want.gid) == (dbg.uid, dbg.gid), path
        assert dbg.links == st.st_nlink and dbg.size == st.st_size, path
        assert dbg.mtime_ns == st.st_mtime_ns, path
        if want.mtime_ns is not None:
            assert st.st_mtime_ns == want.mtime_ns, path
        if want.data is not None:
            digest = hashlib.sha256(want.data).hexdigest()
            assert hashlib.sha256(fs.open(path).read()).hexdigest() == digest, path
            assert hashlib.sha256(debugfs_cat(image, path, tmp)).hexdigest() == digest, path
        if want.target is not None:
            assert fs.readlink(path) == want.target, path
            if dbg.fast_link is not None:
                assert dbg.fast_link == want.target, path
        if want.device is not None:
            assert (st.st_rdev_major, st.st_rdev_minor) == want.device == dbg.device, path
        if want.xattrs is not None:
            assert fs.xattrs(path) == want.xattrs, path
            assert {k: int(v) for k, v in dbg.xattrs.items()} == {
                k: len(v) for k, v in want.xattrs.items()
            }, path
    return fs
