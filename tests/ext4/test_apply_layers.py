"""Several layers stacked: whiteouts, opaque directories, replacement rules, small diffs."""

from __future__ import annotations

from pathlib import Path

from overlaybd_py.ext4 import Filesystem
from tests.layertar import LayerTar

from .helpers import Expect, Stack, apply_tars, check_tree, fresh_stack


def _stack(tmp_path: Path, *layers: LayerTar) -> tuple[Stack, Path]:
    stack = fresh_stack()
    apply_tars(stack, *(layer.bytes() for layer in layers))
    return stack, stack.export(tmp_path / "disk.img")


def _base() -> LayerTar:
    return (
        LayerTar()
        .dir("etc")
        .file("etc/keep", b"keep")
        .file("etc/gone", b"gone")
        .dir("opt")
        .dir("opt/tree")
        .file("opt/tree/a", b"a")
        .dir("opt/tree/sub")
        .file("opt/tree/sub/b", b"b")
        .file("bin", b"bin")
        .hardlink("bin2", "bin")
        .hardlink("etc/bin3", "bin")
    )


def test_whiteout_of_a_file(tmp_path: Path) -> None:
    stack, image = _stack(tmp_path, _base(), LayerTar().whiteout("etc/gone"))
    fs = check_tree(stack, image, {"/etc/keep": Expect("file", data=b"keep")}, tmp_path, False)
    assert fs.listdir("/etc") == ["bin3", "keep"]


def test_whiteout_of_a_directory_tree_frees_everything(tmp_path: Path) -> None:
    stack = fresh_stack()
    apply_tars(stack, _base().bytes())
    before = Filesystem(stack.top).sb
    free_blocks, free_inodes = before.free_blocks_count, before.s_free_inodes_count
    apply_tars(stack, LayerTar().whiteout("opt/tree").bytes())
    image = stack.export(tmp_path / "disk.img")
    fs = check_tree(stack, image, {"/opt": Expect("dir")}, tmp_path, exact=False)
    assert fs.listdir("/opt") == []
    assert fs.sb.s_free_inodes_count == free_inodes + 4
    assert fs.sb.free_blocks_count == free_blocks + 4  # a, b, and two directory blocks
    assert fs.stat("/opt").st_nlink == 2


def test_whiteout_of_one_hardlink_name(tmp_path: Path) -> None:
    stack, image = _stack(tmp_path, _base(), LayerTar().whiteout("bin2"))
    fs = check_tree(
        stack,
        image,
        {"/bin": Expect("file", data=b"bin"), "/etc/bin3": Expect("file", data=b"bin")},
        tmp_path,
        exact=False,
    )
    assert fs.stat("/bin").st_nlink == 2
    assert "bin2" not in fs.listdir("/")


def test_opaque_directory_keeps_only_this_layers_content(tmp_path: Path) -> None:
    upper = LayerTar().dir("opt/tree").opaque("opt/tree").file("opt/tree/new", b"n")
    stack, image = _stack(tmp_path, _base(), upper)
    fs = check_tree(
        stack, image, {"/opt/tree/new": Expect("file", data=b"n")}, tmp_path, exact=False
    )
    assert fs.listdir("/opt/tree") == ["new"]
    assert fs.stat("/opt/tree").st_nlink == 2


def test_opaque_marker_before_new_children_in_the_same_layer(tmp_path: Path) -> None:
    upper = LayerTar().file("opt/tree/new", b"n").opaque("opt/tree")
    stack, _ = _stack(tmp_path, _base(), upper)
    assert Filesystem(stack.top).listdir("/opt/tree") == ["new"]


def test_file_replaced_by_directory_and_back(tmp_path: Path) -> None:
    layer2 = LayerTar().dir("bin", mode=0o700).file("bin/inside", b"i")
    layer3 = LayerTar().file("bin", b"file again", mode=0o755)
    stack, image = _stack(tmp_path, _base(), layer2)
    fs = check_tree(
        stack,
        image,
        {"/bin": Expect("dir", 0o700), "/bin/inside": Expect("file", data=b"i")},
        tmp_path,
        exact=False,
    )
    assert fs.stat("/bin2").st_nlink == 2  # the old inode lives on under its other names
    apply_tars(stack, layer3.bytes())
    image = stack.export(tmp_path / "disk3.img")
    check_tree(stack, image, {"/bin": Expect("file", 0o755, data=b"file again")}, tmp_path, False)


def test_directory_over_directory_keeps_children_and_takes_metadata(tmp_path: Path) -> None:
    upper = LayerTar().dir("opt/tree", mode=0o750, uid=5, gid=6, mtime=12345)
    stack, image = _stack(tmp_path, _base(), upper)
    check_tree(
        stack,
        image,
        {
            "/opt/tree": Expect("dir", 0o750, uid=5, gid=6, mtime_ns=12345 * 10**9),
            "/opt/tree/a": Expect("file", data=b"a"),
            "/opt/tree/sub/b": Expect("file", data=b"b"),
        },
        tmp_path,
        exact=False,
    )


def test_delete_and_recreate_in_one_layer(tmp_path: Path) -> None:
    upper = LayerTar().whiteout("etc/keep").file("etc/keep", b"recreated").file("x", b"1")
    upper.whiteout("x")  # a whiteout never hides what its own layer wrote
    stack, image = _stack(tmp_path, _base(), upper)
    check_tree(
        stack,
        image,
        {"/etc/keep": Expect("file", data=b"recreated"), "/x": Expect("file", data=b"1")},
        tmp_path,
        exact=False,
    )


def test_later_entry_for_the_same_path_wins(tmp_path: Path) -> None:
    layer = LayerTar().file("f", b"first").file("f", b"second", mode=0o600).dir("d").file("d", b"f")
    stack, image = _stack(tmp_path, layer)
    check_tree(
        stack,
        image,
        {"/f": Expect("file", 0o600, data=b"second"), "/d": Expect("file", data=b"f")},
        tmp_path,
    )


def test_layer_that_only_deletes(tmp_path: Path) -> None:
    upper = LayerTar().whiteout("etc").whiteout("opt").whiteout("bin").whiteout("bin2")
    stack, image = _stack(tmp_path, _base(), upper)
    check_tree(stack, image, {}, tmp_path)
    fs = Filesystem(stack.top)
    assert fs.stat("/").st_nlink == 3
    fresh = Filesystem(fresh_stack().top)
    assert fs.sb.s_free_inodes_count == fresh.sb.s_free_inodes_count


def test_empty_layer_writes_nothing(tmp_path: Path) -> None:
    stack, _ = _stack(tmp_path, _base())
    apply_tars(stack, LayerTar().bytes())
    assert stack.top.written_extents() == []


def test_changing_one_small_file_writes_a_handful_of_blocks(tmp_path: Path) -> None:
    big = LayerTar()
    for i in range(2000):
        big.file(f"usr/lib/f{i:04d}", b"x" * 5000)
    stack = fresh_stack()
    apply_tars(stack, big.bytes())
    apply_tars(stack, LayerTar().file("usr/lib/f1000", b"changed").bytes())
    written = sum(length for _, length in stack.top.written_extents())
    image = stack.export(tmp_path / "disk.img")
    check_tree(
        stack, image, {"/usr/lib/f1000": Expect("file", data=b"changed")}, tmp_path, exact=False
    )
    assert written <= 16 * 4096, f"{written} bytes written for a one-file change"


def test_hardlink_to_a_lower_layer_file(tmp_path: Path) -> None:
    upper = LayerTar().hardlink("opt/link", "etc/keep")
    stack, image = _stack(tmp_path, _base(), upper)
    fs = check_tree(
        stack, image, {"/opt/link": Expect("file", data=b"keep")}, tmp_path, exact=False
    )
    assert fs.stat("/opt/link").st_ino == fs.stat("/etc/keep").st_ino
    assert fs.stat("/etc/keep").st_nlink == 2
