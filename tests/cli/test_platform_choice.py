"""Which image one-image commands read: ``--platform`` once, else the host's from an index."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from overlaybd_py.oci.platform import host_platform
from tests.cli.helpers import assert_one_line_error, obd
from tests.conftest import HELLO_LAYOUT

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
HOST = host_platform()
FOREIGN = "linux/s390x" if HOST.architecture != "s390x" else "linux/riscv64"
OTHER_TAG = "arm64" if HOST.architecture != "arm64" else "amd64"
"""A single-platform source in the hello-world layout that is not for this host."""


def _tag_index(layout: Path, tag: str, platforms: list[str]) -> str:
    """Tag an index whose entries all name the layout's converted image, one per platform."""
    index_json = layout / "index.json"
    top = json.loads(index_json.read_text())
    (image,) = (m for m in top["manifests"] if m["annotations"][REF_NAME] == "obd")
    entries = []
    for text in platforms:
        os, arch, *variant = text.split("/")
        platform = {"architecture": arch, "os": os} | ({"variant": variant[0]} if variant else {})
        entries.append(
            {k: image[k] for k in ("mediaType", "digest", "size")} | {"platform": platform}
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    digest = hashlib.sha256(body).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(body)
    descriptor = {"mediaType": OCI_INDEX, "digest": f"sha256:{digest}", "size": len(body)}
    top["manifests"].append(descriptor | {"annotations": {REF_NAME: tag}})
    index_json.write_text(json.dumps(top))
    return f"oci:{layout}:{tag}"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("platforms") / "layout"
    obd("convert", f"oci:{HELLO_LAYOUT}:amd64", f"oci:{out}:obd", "--vsize", "256M", "-q")
    obd("convert", f"oci:{HELLO_LAYOUT}:{OTHER_TAG}", f"oci:{out}:other", "--vsize", "256M", "-q")
    return out


@pytest.mark.parametrize("command", ["ls", "stat", "cat", "export", "check", "mount"])
def test_one_image_commands_take_one_platform(command: str, layout: Path, tmp_path: Path) -> None:
    image = f"oci:{layout}:obd"
    arguments = {
        "ls": [image],
        "stat": [image, "/hello"],
        "cat": [image, "/hello"],
        "export": [image, str(tmp_path / "disk.img")],
        "check": [image, "--against", f"oci:{HELLO_LAYOUT}:amd64"],
        "mount": [image, str(tmp_path)],
    }[command]
    twice = ["--platform", "linux/arm64", "--platform", "linux/amd64"]
    result = obd(command, *arguments, *twice, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "one image is read, so give one platform, found 2: linux/arm64, linux/amd64" in (
        " ".join(result.stderr.split())
    )
    assert not (tmp_path / "disk.img").exists()


def test_index_without_the_host_platform_is_refused(layout: Path) -> None:
    windows_only = _tag_index(layout, "winonly", ["windows/amd64"])
    result = obd("ls", windows_only, check=False)
    assert_one_line_error(result, f"no image for the host platform {HOST}", ": windows/amd64")
    chosen = obd("ls", windows_only, "--platform", "windows/amd64")
    assert "hello" in chosen.stdout


def test_single_platform_index_of_another_architecture_is_refused(layout: Path) -> None:
    foreign = _tag_index(layout, "foreign", [FOREIGN])
    for command in (["ls", foreign], ["cat", foreign, "/hello"], ["stat", foreign, "/hello"]):
        result = obd(*command, check=False)
        assert_one_line_error(result, f"no image for the host platform {HOST}", f": {FOREIGN}")
    assert "hello" in obd("ls", foreign, "--platform", FOREIGN).stdout


def test_index_gives_the_host_image(layout: Path) -> None:
    both = _tag_index(layout, "both", ["windows/amd64", str(HOST)])
    result = obd("ls", both)
    assert "hello" in result.stdout and result.stderr == ""


def test_single_manifest_is_read_whatever_its_platform(layout: Path) -> None:
    """A manifest named directly offers no choice: read silently unless another was asked."""
    image = f"oci:{layout}:other"
    silent = obd("ls", image)
    assert "hello" in silent.stdout and silent.stderr == ""
    asked = obd("ls", image, "--platform", FOREIGN)
    assert "hello" in asked.stdout
    assert f"image; using it although {FOREIGN} was asked for" in asked.stderr
