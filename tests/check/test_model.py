"""The expected-tree model on its own: each OCI layer rule, with concrete results."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from overlaybd_py.check import TreeModel, apply_tar
from overlaybd_py.check.record import Tree
from overlaybd_py.errors import FormatError
from tests.layertar import MTIME, LayerTar

NS = 1_000_000_000


def model(*layers: bytes) -> Tree:
    tree = TreeModel()
    for position, data in enumerate(layers):
        apply_tar(tree, io.BytesIO(data), f"layer {position}")
    return tree.records()


def paths(tree: Tree) -> list[str]:
    return sorted(tree)


def test_files_dirs_links_devices_and_metadata() -> None:
    cap = bytes.fromhex("0100000200200000000000000000000000000000")
    tree = model(
        LayerTar()
        .dir("usr/bin", mode=0o755, mtime=5)
        .file("usr/bin/su", b"binary", mode=0o4755, uid=70000, gid=70001)
        .hardlink("usr/bin/su2", "usr/bin/su", mode=0o4755, uid=70000, gid=70001)
        .symlink("bin", "usr/bin")
        .dir("tmp", mode=0o1777)
        .device("dev/null", tarfile.CHRTYPE, (1, 3), mode=0o666)
        .device("dev/sda", tarfile.BLKTYPE, (8, 0), mode=0o660)
        .fifo("run/fifo", mode=0o600)
        .file("ping", b"p", xattrs={"security.capability": cap, "user.test": b"\xff\x00"})
        .file("ns", b"", pax_mtime="1700000000.000000001")
        .bytes()
    )
    assert paths(tree) == [
        "/", "/bin", "/dev", "/dev/null", "/dev/sda", "/ns", "/ping", "/run", "/run/fifo",
        "/tmp", "/usr", "/usr/bin", "/usr/bin/su", "/usr/bin/su2",
    ]  # fmt: skip
    su = tree["/usr/bin/su"]
    assert (su.kind, su.mode, su.uid, su.gid, su.size) == ("file", 0o4755, 70000, 70001, 6)
    assert su.sha256 == hashlib.sha256(b"binary").hexdigest()
    assert tree["/usr/bin/su2"].link_id == su.link_id
    assert tree["/bin"].target == "usr/bin" and tree["/bin"].size == 7
    assert tree["/tmp"].mode == 0o1777
    assert tree["/dev/null"].rdev == (1, 3) and tree["/dev/null"].kind == "char-device"
    assert tree["/dev/sda"].rdev == (8, 0) and tree["/dev/sda"].kind == "block-device"
    assert tree["/run/fifo"].kind == "fifo"
    assert tree["/ping"].xattrs == {"security.capability": cap, "user.test": b"\xff\x00"}
    assert tree["/ns"].mtime_ns == 1_700_000_000 * NS + 1 and tree["/ns"].mtime_precise
    assert tree["/usr/bin"].mtime_ns == 5 * NS and not tree["/usr/bin"].mtime_precise
    implied = tree["/dev"]
    assert (implied.kind, implied.mode, implied.uid, implied.gid, implied.mtime_ns) == (
        "directory",
        0o755,
        0,
        0,
        0,
    )


def test_content_hash_is_sha256_of_the_data() -> None:
    data = bytes(range(256)) * 5000
    tree = model(LayerTar().file("f", data).bytes())
    assert tree["/f"].sha256 == hashlib.sha256(data).hexdigest()
    assert tree["/f"].size == len(data)


def test_names_are_cleaned_and_dotdot_stops_at_the_root() -> None:
    tree = model(
        LayerTar()
        .dir("./", mode=0o700, mtime=99)
        .file("./a//b", b"1")
        .file("/abs/c", b"2")
        .file("../../up", b"3")
        .file("x/../y/./z", b"4")
        .bytes()
    )
    assert paths(tree) == ["/", "/a", "/a/b", "/abs", "/abs/c", "/up", "/y", "/y/z"]
    assert tree["/"].mode == 0o755  # a member naming the root is skipped


def test_symlinked_parents_are_followed_inside_the_tree() -> None:
    tree = model(
        LayerTar()
        .dir("usr/lib")
        .symlink("lib", "/usr/lib")
        .file("lib/x", b"x")
        .symlink("up", "../../..")
        .file("up/y", b"y")
        .bytes()
    )
    assert "/usr/lib/x" in tree and "/y" in tree and "/lib/x" not in tree


def test_whiteouts_remove_lower_files_and_trees() -> None:
    lower = LayerTar().dir("d").file("d/a", b"a").dir("d/sub").file("d/sub/b", b"b").file("f")
    tree = model(lower.bytes(), LayerTar().whiteout("d/sub").whiteout("f").bytes())
    assert paths(tree) == ["/", "/d", "/d/a"]


def test_whiteout_of_a_missing_path_or_under_a_file_is_ignored() -> None:
    tree = model(
        LayerTar().file("a").bytes(),
        LayerTar().whiteout("nodir/x").whiteout("zz").whiteout("a/b").bytes(),
    )
    assert paths(tree) == ["/", "/a"]


def test_opaque_directory_spares_what_the_same_layer_wrote() -> None:
    tree = model(
        LayerTar().dir("d").file("d/old").dir("d/sub").file("d/sub/old2").bytes(),
        LayerTar().dir("d").file("d/new").dir("d/sub").file("d/sub/new2").opaque("d").bytes(),
    )
    assert paths(tree) == ["/", "/d", "/d/new", "/d/sub", "/d/sub/new2"]


def test_whiteout_spares_same_layer_entries() -> None:
    tree = model(
        LayerTar().file("a", b"1").bytes(), LayerTar().file("a", b"2").whiteout("a").bytes()
    )
    assert tree["/a"].size == 1


def test_replacement_rules() -> None:
    tree = model(
        LayerTar()
        .file("x", b"f")
        .dir("y", mode=0o700, xattrs={"user.a": b"1"})
        .file("y/in")
        .bytes(),
        LayerTar().dir("x").file("x/in").dir("y", mode=0o750, xattrs={"user.b": b"2"}).bytes(),
    )
    assert tree["/x"].kind == "directory" and "/x/in" in tree
    assert "/y/in" in tree and tree["/y"].mode == 0o750
    assert tree["/y"].xattrs == {"user.a": b"1", "user.b": b"2"}
    tree = model(
        LayerTar().dir("y").file("y/in").bytes(), LayerTar().file("y", b"now a file").bytes()
    )
    assert paths(tree) == ["/", "/y"] and tree["/y"].kind == "file"


def test_later_member_wins_and_directory_time_is_the_last_header() -> None:
    tree = model(
        LayerTar()
        .file("a", b"1", mode=0o600)
        .file("a", b"22", mode=0o640)
        .dir("d", mtime=1234)
        .file("d/child", mtime=99)
        .bytes()
    )
    assert (tree["/a"].size, tree["/a"].mode) == (2, 0o640)
    assert tree["/d"].mtime_ns == 1234 * NS


def test_hardlinks_share_identity_until_one_name_is_replaced() -> None:
    tree = model(
        LayerTar().file("a", b"1").hardlink("b", "a").hardlink("c", "a").bytes(),
        LayerTar().whiteout("b").file("c", b"new").bytes(),
    )
    assert paths(tree) == ["/", "/a", "/c"]
    assert tree["/a"].link_id != tree["/c"].link_id
    tree = model(LayerTar().file("a", b"1").bytes(), LayerTar().hardlink("b", "a").bytes())
    assert tree["/a"].link_id == tree["/b"].link_id


def test_hardlink_header_metadata_applies_to_the_shared_inode() -> None:
    tree = model(LayerTar().file("a", b"1", mode=0o644).hardlink("b", "a", mode=0o600).bytes())
    assert tree["/a"].mode == tree["/b"].mode == 0o600


def test_symlinks_are_0777_and_carry_no_user_xattrs() -> None:
    tree = model(
        LayerTar().symlink("l", "t", mode=0o644, xattrs={"user.x": b"1", "trusted.y": b"2"}).bytes()
    )
    assert tree["/l"].mode == 0o777 and tree["/l"].xattrs == {"trusted.y": b"2"}


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (LayerTar().hardlink("b", "missing"), "hardlink target 'missing' does not exist"),
        (LayerTar().dir("d").hardlink("b", "d"), "hardlink target 'd' is a directory"),
        (LayerTar().file("f").file("f/x"), "parent /f is a file, not a directory"),
        (LayerTar().symlink("a", "b").symlink("b", "a").file("a/x"), "more than 40 symlinks"),
    ],
)
def test_impossible_layers_are_clear_errors(layer: LayerTar, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        model(layer.bytes())


def test_whole_seconds_without_pax_time() -> None:
    tree = model(LayerTar().file("f", mtime=MTIME).bytes())
    assert tree["/f"].mtime_ns == MTIME * NS and not tree["/f"].mtime_precise


def test_hardlink_target_climbing_above_the_root_is_clamped() -> None:
    tree = model(LayerTar().file("a", b"1").hardlink("b", "../../a").bytes())
    assert tree["/b"].link_id == tree["/a"].link_id
