"""``check_image`` / ``obd check`` on images made by the real converter (and by upstream)."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from overlaybd_py.check import Difference, check_image
from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.oci import parse_platform
from tests.layertar import LayerTar

from .conftest import SMALL_DISK, Converter
from .run import HELLO, obd

CAP = bytes.fromhex("0100000200200000000000000000000000000000")


def every_feature() -> list[bytes]:
    """Three layers touching every rule the model knows."""
    base = (
        LayerTar()
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0\n")
        .dir("usr/bin", mtime=1_600_000_000)
        .file("usr/bin/su", b"\x7fELF" * 3000, mode=0o4755)
        .hardlink("usr/bin/su2", "usr/bin/su", mode=0o4755)
        .file("usr/bin/ping", b"ping", mode=0o2755, xattrs={"security.capability": CAP})
        .symlink("bin", "usr/bin")
        .symlink("long", "t" * 300)
        .dir("tmp", mode=0o1777)
        .device("dev/null", tarfile.CHRTYPE, (1, 3), mode=0o666)
        .device("dev/sda", tarfile.BLKTYPE, (8, 0), mode=0o660, gid=6)
        .fifo("run/fifo")
        .file("home/user/big-ids", b"x", uid=100_000, gid=70_000)
        .file("ns", b"n", pax_mtime="1700000000.123456789")
        .dir("doc")
        .file("doc/a", b"a")
        .dir("doc/sub")
        .file("doc/sub/b", b"b")
        .dir("keep")
        .file("keep/x")
        .file("keep/y")
        .file("attrs", b"u", xattrs={"user.test": b"hello", "trusted.bin": b"\xff\x00\xfe"})
        .file("./dot//slash", b"normalised")
        .bytes()
    )
    middle = (
        LayerTar()
        .whiteout("doc/sub")
        .opaque("keep")
        .file("keep/z", b"z")
        .file("bin/through-symlink", b"written in usr/bin")
        .file("etc/passwd", b"root:x:0:0\nnew:x:1:1\n")
        .dir("usr/bin", mode=0o700, mtime=1_650_000_000)
        .file("doc", b"a file over a directory")
        .whiteout("usr/bin/su2")
        .bytes()
    )
    top = LayerTar().dir("doc2").hardlink("doc2/su3", "usr/bin/su", mode=0o4755).bytes()
    return [base, middle, top]


def test_a_converted_image_matches_its_source(converted: Converter) -> None:
    source, image = converted(*every_feature())
    report = check_image(image, source)
    assert report.differences == []
    assert report.ok and report.layers == 3
    assert report.expected_paths == report.found_paths - 1  # + lost+found
    assert report.members == 23 + 8 + 2


def test_an_image_converted_from_something_else_is_caught(converted: Converter) -> None:
    layers = every_feature()
    source, _ = converted(*layers)
    changed = (
        LayerTar()
        .file("etc/passwd", b"root:x:0:0\nNEW:x:1:1\n")
        .file("ns", b"n", pax_mtime="1700000000.123456788")
        .file("usr/bin/ping", b"ping", mode=0o755, xattrs={"security.capability": b"\x01"})
        .symlink("usr/bin/su", "elsewhere")
        .file("extra", b"")
        .whiteout("keep")
        .device("dev/null", tarfile.CHRTYPE, (1, 5), mode=0o666)
        .file("attrs", b"u", uid=1, xattrs={"user.test": b"hello"})
        .bytes()
    )
    _, other = converted(*layers, changed)
    report = check_image(other, source)
    found = {(d.path, d.field): (d.expected, d.found) for d in report.differences}
    passwd = hashlib.sha256(b"root:x:0:0\nnew:x:1:1\n").hexdigest()
    tampered = hashlib.sha256(b"root:x:0:0\nNEW:x:1:1\n").hexdigest()
    assert found == {
        ("/etc/passwd", "sha256"): (passwd, tampered),
        ("/ns", "mtime"): ("1700000000123456789", "1700000000123456788"),
        ("/usr/bin/ping", "mode"): ("2755", "0755"),
        ("/usr/bin/ping", "xattr security.capability"): (f"0x{CAP.hex()}", "0x01"),
        ("/usr/bin/su", "type"): ("file", "symlink"),
        ("/doc2/su3", "hardlinks"): ("[/usr/bin/su]", "none"),
        ("/extra", "path"): ("absent", "file"),
        ("/keep", "path"): ("directory", "absent"),
        ("/keep/z", "path"): ("file", "absent"),
        ("/dev/null", "rdev"): ("1,3", "1,5"),
        ("/attrs", "uid"): ("0", "1"),
        ("/attrs", "xattr trusted.bin"): ("0xff00fe", "absent"),
    }
    assert not report.ok


def test_expected_sha256_is_of_the_source_content(converted: Converter) -> None:
    source, _ = converted(LayerTar().file("f", b"one").bytes())
    _, other = converted(LayerTar().file("f", b"two").bytes())
    (difference,) = check_image(other, source).differences
    assert difference == Difference(
        "/f", "sha256", hashlib.sha256(b"one").hexdigest(), hashlib.sha256(b"two").hexdigest()
    )


def test_upstream_converted_hello_world_matches_its_source() -> None:
    report = check_image(f"oci:{HELLO}:amd64-converted", f"oci:{HELLO}:amd64")
    assert report.ok, report.differences
    assert report.expected_paths == 2  # / and /hello


def test_upstream_converted_hello_world_is_not_the_arm64_image() -> None:
    report = check_image(
        f"oci:{HELLO}:amd64-converted", f"oci:{HELLO}:arm64", [parse_platform("linux/arm64/v8")]
    )
    assert {d.field for d in report.differences} == {"size", "sha256", "mtime"}
    assert {d.path for d in report.differences} == {"/hello"}


def test_cli_exit_status_text_and_json(converted: Converter) -> None:
    source, image = converted(LayerTar().file("f", b"one", mode=0o600).bytes())
    _, other = converted(LayerTar().file("f", b"one", mode=0o644).bytes())

    good = obd("check", image, "--against", source)
    assert good.returncode == 0, good.stderr
    assert ": OK; 2 paths expected from 1 layer(s) (1 tar members), 3 found" in good.stdout

    bad = obd("check", other, "--against", source)
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == ["/f: mode: expected 0600, found 0644"]
    assert "1 difference(s)" in bad.stderr

    as_json = obd("check", other, "--against", source, "--json")
    assert as_json.returncode == 1
    result = json.loads(as_json.stdout)
    assert result["ok"] is False
    assert result["differences"] == [
        {"path": "/f", "field": "mode", "expected": "0600", "found": "0644"}
    ]


def test_an_overlaybd_image_is_no_source_to_check_against() -> None:
    converted = f"oci:{HELLO}:amd64-converted"
    result = obd("check", converted, "--against", converted)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"obd: error: {converted}: is an OverlayBD image (its layers carry "
        "containerd.io/snapshot/overlaybd/blob-digest); --against needs the image it was "
        "converted from"
    ]


def test_a_source_of_another_platform_is_compared_with_a_warning() -> None:
    result = obd("check", f"oci:{HELLO}:amd64-converted", "--against", f"oci:{HELLO}:arm64")
    assert result.returncode == 1
    assert "is a linux/arm64/v8 image, the converted image is linux/amd64" in result.stderr
    assert "was asked for" not in result.stderr


def test_cli_bad_reference_is_one_line_error(tmp_path: Path) -> None:
    result = obd("check", f"oci:{tmp_path}/missing:x", "--against", f"oci:{HELLO}:amd64")
    assert result.returncode == 1
    assert result.stderr.startswith("obd: error: ") and "Traceback" not in result.stderr


def test_multi_platform_check_picks_the_platform(tmp_path: Path) -> None:
    target = f"oci:{tmp_path / 'multi'}:list"
    options = ConvertOptions(
        vsize=SMALL_DISK, platforms=(parse_platform("linux/amd64"), parse_platform("linux/arm64"))
    )
    convert(f"oci:{HELLO}:docker-list", target, options)
    for platform in ("linux/amd64", "linux/arm64/v8"):
        result = obd(
            "check", target, "--against", f"oci:{HELLO}:docker-list", "--platform", platform
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"({platform})" in result.stdout


# --- where the converter differs from the layer semantics --------------------------------------


def test_hardlink_header_metadata_reaches_the_inode(converted: Converter) -> None:
    layer = LayerTar().file("a", b"1", mode=0o644).hardlink("b", "a", mode=0o600, uid=7).bytes()
    source, image = converted(layer)
    assert check_image(image, source).differences == []


def test_symlink_mode_is_0777(converted: Converter) -> None:
    source, image = converted(LayerTar().symlink("l", "target", mode=0o644).bytes())
    assert check_image(image, source).differences == []


def test_user_xattrs_on_a_symlink_are_dropped(converted: Converter) -> None:
    layer = LayerTar().symlink("l", "t", xattrs={"user.x": b"1", "trusted.y": b"2"}).bytes()
    source, image = converted(layer)
    assert check_image(image, source).differences == []
