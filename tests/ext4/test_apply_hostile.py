"""Hostile layer tars: nothing lands outside the image tree, or the apply fails clearly."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from overlaybd_py.errors import ConversionError
from overlaybd_py.ext4 import Filesystem, apply_layer
from tests.layertar import LayerTar

from .helpers import Expect, apply_tars, check_tree, fresh_stack


def _apply(tmp_path: Path, layer: LayerTar, expected: dict[str, Expect]) -> Filesystem:
    stack = fresh_stack()
    apply_tars(stack, layer.bytes())
    return check_tree(stack, stack.export(tmp_path / "disk.img"), expected, tmp_path)


def test_dotdot_members_stay_inside_the_root(tmp_path: Path) -> None:
    layer = LayerTar().file("../../etc/evil", b"1").file("a/../../b", b"2").file("./c/./d", b"3")
    _apply(
        tmp_path,
        layer,
        {
            "/etc": Expect("dir", 0o755),
            "/etc/evil": Expect("file", data=b"1"),
            "/b": Expect("file", data=b"2"),
            "/c": Expect("dir", 0o755),
            "/c/d": Expect("file", data=b"3"),
        },
    )


def test_absolute_and_doubled_slashes(tmp_path: Path) -> None:
    layer = LayerTar().file("/abs//path", b"x").dir("/").dir("./")
    _apply(tmp_path, layer, {"/abs": Expect("dir", 0o755), "/abs/path": Expect("file", data=b"x")})


def test_symlink_to_root_then_member_through_it(tmp_path: Path) -> None:
    layer = LayerTar().symlink("escape", "/").file("escape/etc/shadow", b"s")
    _apply(
        tmp_path,
        layer,
        {
            "/escape": Expect("symlink", target="/"),
            "/etc": Expect("dir", 0o755),
            "/etc/shadow": Expect("file", data=b"s"),
        },
    )


def test_symlink_climbing_out_then_member_through_it(tmp_path: Path) -> None:
    layer = LayerTar().dir("x").symlink("x/up", "../../..").file("x/up/tmp/owned", b"o")
    layer.symlink("rel", "x").file("rel/inside", b"i")
    _apply(
        tmp_path,
        layer,
        {
            "/x": Expect("dir"),
            "/x/up": Expect("symlink", target="../../.."),
            "/x/inside": Expect("file", data=b"i"),
            "/rel": Expect("symlink", target="x"),
            "/tmp": Expect("dir", 0o755),
            "/tmp/owned": Expect("file", data=b"o"),
        },
    )


def test_symlink_loop_in_a_parent_is_an_error() -> None:
    layer = LayerTar().symlink("a", "b").symlink("b", "a").file("a/f", b"x")
    stack = fresh_stack()
    with pytest.raises(ConversionError, match="too many symlinks"):
        apply_tars(stack, layer.bytes())


def test_member_under_a_regular_file_is_an_error() -> None:
    layer = LayerTar().file("f", b"x").file("f/g", b"y")
    with pytest.raises(ConversionError, match=r"member 1 'f/g'.*not a directory"):
        apply_tars(fresh_stack(), layer.bytes())


def test_hardlink_to_missing_target_names_the_member() -> None:
    layer = LayerTar().file("ok", b"x").hardlink("bad", "nowhere")
    with pytest.raises(ConversionError, match=r"member 1 'bad'.*'nowhere' does not exist"):
        apply_tars(fresh_stack(), layer.bytes())


def test_hardlink_target_climbing_above_the_root_is_clamped_to_it(tmp_path: Path) -> None:
    # containerd resolves link targets inside the root: "../../etc/passwd" is /etc/passwd
    layer = (
        LayerTar()
        .file("etc/passwd", b"x")
        .hardlink("pw", "../../etc/passwd")
        .hardlink("sub/pw2", "/../sub/../../etc/./passwd")
    )
    fs = _apply(
        tmp_path,
        layer,
        {
            "/etc": Expect("dir", 0o755),
            "/etc/passwd": Expect("file", data=b"x"),
            "/pw": Expect("file", data=b"x"),
            "/sub": Expect("dir", 0o755),
            "/sub/pw2": Expect("file", data=b"x"),
        },
    )
    inode = fs.stat("/etc/passwd").st_ino
    assert fs.stat("/pw").st_ino == fs.stat("/sub/pw2").st_ino == inode
    assert fs.stat("/pw").st_nlink == 3


def test_hardlink_clamped_to_a_missing_target_is_still_an_error() -> None:
    layer = LayerTar().file("passwd", b"x").hardlink("pw", "../../etc/passwd")
    with pytest.raises(ConversionError, match=r"'\.\./\.\./etc/passwd' does not exist"):
        apply_tars(fresh_stack(), layer.bytes())


def test_hardlink_to_a_directory_is_an_error() -> None:
    layer = LayerTar().dir("d").hardlink("h", "d")
    with pytest.raises(ConversionError, match="is a directory"):
        apply_tars(fresh_stack(), layer.bytes())


def test_truncated_tar_is_a_clear_error() -> None:
    raw = LayerTar().file("big", b"q" * 100_000).bytes()
    stack = fresh_stack()
    fs = Filesystem(stack.top, writable=True)
    with pytest.raises(ConversionError, match="big"):
        apply_layer(fs, io.BytesIO(raw[:50_000]))


def test_garbage_is_not_a_tar() -> None:
    fs = Filesystem(fresh_stack().top, writable=True)
    with pytest.raises(ConversionError):
        apply_layer(fs, io.BytesIO(b"\x01" * 4096))


def test_unsupported_member_type_is_named() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("sock")
        info.type = b"Z"
        tar.addfile(info)
    fs = Filesystem(fresh_stack().top, writable=True)
    with pytest.raises(ConversionError, match="sock"):
        apply_layer(fs, io.BytesIO(buf.getvalue()))


def test_read_only_filesystem_refuses_apply() -> None:
    fs = Filesystem(fresh_stack().top, writable=False)
    with pytest.raises(ConversionError, match="read-only"):
        apply_layer(fs, io.BytesIO(LayerTar().bytes()))
