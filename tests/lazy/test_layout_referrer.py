"""Opening a source image in an OCI layout through its streaming referrer (spec §8).

The upstream hello-world layout (a Docker manifest list of nine platforms) is
converted with ``obd convert --referrer``, which stores one referrer per platform
manifest in the same layout, as a user would do it.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlaybd_py.errors import ImageError, NotFoundError, UnsupportedError
from overlaybd_py.lazy import LazyOptions, open_image
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci import parse_platform
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.manifest import parse_manifest

HELLO = Path(__file__).resolve().parents[2] / "fixtures" / "upstream" / "aci-hello-world"
ALWAYS = LazyOptions(referrer="always")
NEVER = LazyOptions(referrer="never")


@dataclass(frozen=True)
class Layouts:
    with_referrers: Path
    """The hello-world layout after ``obd convert oci:DIR:docker-list --referrer``."""
    plain: Path
    """An untouched copy: no referrers at all."""


def obd(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["obd", *args], capture_output=True, timeout=300, check=False)


def writable_copy(target: Path) -> Path:
    shutil.copytree(HELLO, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def hello_in_layer(layout_dir: Path, tag: str) -> bytes:
    """``/hello`` as the source image's (gzip) layer holds it, read with tarfile."""
    layout = OCILayout.open_dir(layout_dir)
    try:
        manifest = parse_manifest(layout.fetch(layout.resolve(tag)), tag)
        blob = layout_dir / "blobs" / "sha256" / manifest.layers[0].digest.split(":", 1)[1]
    finally:
        layout.close()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as tar:
        member = tar.extractfile("hello")
        assert member is not None
        return member.read()


def referrer_of(layout_dir: Path, tag: str) -> str:
    """The digest of the one streaming referrer of the manifest tagged ``tag``."""
    layout = OCILayout.open_dir(layout_dir)
    try:
        subject = layout.resolve(tag).digest
        (found,) = layout.referrers(subject, mt.ARTIFACT_AZURE_STREAMING)
        return found.digest
    finally:
        layout.close()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Layouts:
    root = tmp_path_factory.mktemp("layout-referrers")
    with_referrers = writable_copy(root / "with-referrers")
    done = obd("convert", f"oci:{with_referrers}:docker-list", "--referrer", "-q")
    assert done.returncode == 0, done.stderr
    return Layouts(with_referrers, writable_copy(root / "plain"))


@pytest.mark.parametrize(
    "options", [None, LazyOptions(), ALWAYS], ids=["default", "auto", "always"]
)
def test_source_in_a_layout_is_read_through_its_referrer(
    layouts: Layouts, options: LazyOptions | None
) -> None:
    expected = hello_in_layer(layouts.with_referrers, "amd64")
    with open_image(f"oci:{layouts.with_referrers}:amd64", options=options) as image:
        assert image.image.descriptor.digest == referrer_of(layouts.with_referrers, "amd64")
        assert image.filesystem().read_file("/hello") == expected
        assert image.platform == parse_platform("linux/amd64")


def test_platform_of_an_index_picks_that_platforms_referrer(layouts: Layouts) -> None:
    arm64 = parse_platform("linux/arm64/v8")
    with open_image(f"oci:{layouts.with_referrers}:docker-list", [arm64]) as image:
        assert image.image.descriptor.digest == referrer_of(layouts.with_referrers, "arm64")
        assert image.platform.matches(arm64)
        content = image.filesystem().read_file("/hello")
    assert content == hello_in_layer(layouts.with_referrers, "arm64")
    assert content != hello_in_layer(layouts.with_referrers, "amd64")


def test_never_opens_the_source_as_it_is(layouts: Layouts) -> None:
    with pytest.raises(ImageError, match="is not a readable OverlayBD layer"):
        open_image(f"oci:{layouts.with_referrers}:amd64", options=NEVER)


def test_always_without_a_referrer_is_refused(layouts: Layouts) -> None:
    with pytest.raises(NotFoundError, match="not an OverlayBD image and no referrer with"):
        open_image(f"oci:{layouts.plain}:amd64", options=ALWAYS)
    referrer = referrer_of(layouts.with_referrers, "amd64")
    converted = f"oci:{layouts.with_referrers}@{referrer}"
    with open_image(converted) as image:  # an OverlayBD image opens as it is
        assert image.image.descriptor.digest == referrer
    with pytest.raises(NotFoundError, match=f"@{referrer}: no referrer with artifactType"):
        open_image(converted, options=ALWAYS)


def test_auto_without_a_referrer_opens_the_image_as_it_is(layouts: Layouts) -> None:
    with pytest.raises(ImageError, match="layer 0 .* is not a readable OverlayBD layer"):
        open_image(f"oci:{layouts.plain}:amd64")


def test_always_on_an_archive_is_unsupported(layouts: Layouts, tmp_path: Path) -> None:
    archive = tmp_path / "hello.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(layouts.plain, arcname=".")
    with pytest.raises(UnsupportedError, match="needs an oci: layout directory or a registry"):
        open_image(f"oci-archive:{archive}:amd64", options=ALWAYS)


def test_cli_ls_cat_stat_follow_the_referrer(layouts: Layouts) -> None:
    name = f"oci:{layouts.with_referrers}:amd64"
    listing = obd("ls", name, "/", "--referrer", "always")
    assert listing.returncode == 0, listing.stderr
    assert b"hello" in listing.stdout and b"lost+found" in listing.stdout
    expected = hello_in_layer(layouts.with_referrers, "amd64")
    shown = obd("cat", name, "/hello")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == expected
    info = obd("stat", "--json", name, "/hello")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["size"] == len(expected)


def test_cli_always_without_a_referrer_is_one_line(layouts: Layouts) -> None:
    done = obd("ls", f"oci:{layouts.plain}:amd64", "/", "--referrer", "always")
    assert done.returncode == 1
    error = done.stderr.decode()
    assert error.startswith("obd: error: ") and error.count("\n") == 1, error
    assert "no referrer with artifactType" in error
