"""A real root filesystem: Debian bookworm minbase as one layer, then a second layer on top."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from overlaybd_py.ext4 import Filesystem
from tests.layertar import LayerTar

from .helpers import Stack, apply_tars, e2fsck, fresh_stack

pytestmark = pytest.mark.slow

DEVICE = 8 << 30


def _tar_model(layer: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """path -> (type, mode, uid, gid, sha256 of content or link target), last member wins."""
    model: dict[str, tuple[str, int, int, int, str]] = {}
    links: dict[str, str] = {}
    with tarfile.open(layer, "r|") as tar:
        for info in tar:
            path = "/" + os.path.normpath(info.name).lstrip("./")
            if path in ("/", "/."):
                continue
            if info.islnk():
                links[path] = "/" + os.path.normpath(info.linkname).lstrip("./")
                continue
            digest = ""
            if info.isreg():
                handle = tar.extractfile(info)
                assert handle is not None
                digest = hashlib.sha256(handle.read()).hexdigest()
            elif info.issym():
                digest = info.linkname
            kind = "dir" if info.isdir() else "file" if info.isreg() else "other"
            model[path] = (kind, info.mode & 0o7777, info.uid, info.gid, digest)
    for path, target in links.items():
        model[path] = model[target]
    return model


def _reader_model(fs: Filesystem) -> dict[str, tuple[str, int, int, int, str]]:
    model = {}
    for top, dirs, files in fs.walk():
        if top == "/":
            dirs[:] = [d for d in dirs if d != "lost+found"]
        for name in dirs + files:
            path = f"{top.rstrip('/')}/{name}"
            st = fs.stat(path)
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(fs.open(path).read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = fs.readlink(path)
            kind = "dir" if name in dirs else "file" if stat.S_ISREG(st.st_mode) else "other"
            model[path] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest)
    return model


def _rdump_hashes(image: Path, out: Path) -> dict[str, str]:
    out.mkdir()
    subprocess.run(["debugfs", "-R", f"rdump / {out}", str(image)], check=True, capture_output=True)
    hashes = {}
    for root, _, files in os.walk(out):
        for name in files:
            full = Path(root) / name
            if full.is_file() and not full.is_symlink():
                rel = "/" + str(full.relative_to(out))
                hashes[rel] = hashlib.sha256(full.read_bytes()).hexdigest()
    return hashes


def test_debian_minbase_layer_and_a_second_layer(
    tmp_path: Path, debian_layer: tuple[Path, Path]
) -> None:
    layer, _ = debian_layer
    stack: Stack = fresh_stack(DEVICE)
    with open(layer, "rb") as handle:
        apply_tars(stack, handle.read())
    image = stack.export(tmp_path / "one.img")
    e2fsck(image)
    fs = Filesystem(stack.top)
    expected = _tar_model(layer)
    assert _reader_model(fs) == expected
    dumped = _rdump_hashes(image, tmp_path / "rdump")
    want_files = {p: m[4] for p, m in expected.items() if m[0] == "file"}
    assert dumped == want_files

    second = (
        LayerTar()
        .whiteout("usr/share/doc")
        .whiteout("usr/share/man")
        .dir("etc/apt/apt.conf.d")
        .opaque("etc/apt/apt.conf.d")
        .file("etc/apt/apt.conf.d/99local", b"APT::Install-Recommends false;\n")
        .file("usr/bin/newtool", b"#!/bin/sh\necho new\n", mode=0o755)
        .file("etc/hostname", b"layer2\n")
        .whiteout("usr/bin/dpkg-query")
    )
    apply_tars(stack, second.bytes())
    image2 = stack.export(tmp_path / "two.img")
    e2fsck(image2)
    fs2 = Filesystem(stack.top)
    assert "doc" not in fs2.listdir("/usr/share") and "man" not in fs2.listdir("/usr/share")
    assert fs2.listdir("/etc/apt/apt.conf.d") == ["99local"]
    assert fs2.open("/etc/hostname").read() == b"layer2\n"
    assert "dpkg-query" not in fs2.listdir("/usr/bin")
    assert fs2.sb.free_blocks_count > fs.sb.free_blocks_count  # docs and man pages freed
