"""``obd convert --referrer`` end to end on an OCI layout: attach, verify, no duplicates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.helpers import obd
from tests.conftest import HELLO_LAYOUT

STREAMING = "application/vnd.azure.artifact.streaming.v1"


def _layout(tmp_path: Path) -> Path:
    layout = tmp_path / "layout"
    shutil.copytree(HELLO_LAYOUT, layout)
    for path in [layout, *layout.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return layout


def _streaming_referrers(image: str) -> list[dict[str, object]]:
    listing = json.loads(obd("referrers", image, "--json").stdout)
    return [r for entry in listing for r in entry["referrers"] if r["artifactType"] == STREAMING]


def test_referrer_without_target_is_attached_once(tmp_path: Path) -> None:
    image = f"oci:{_layout(tmp_path)}:amd64"
    first = obd("convert", image, "--referrer", "-q")
    assert "referrer pushed linux/amd64" in first.stdout
    assert f"referrers of {image}" in first.stdout
    (referrer,) = _streaming_referrers(image)
    assert referrer["annotations"] == {
        "streaming.format": "overlaybd",
        "streaming.platform.arch": "amd64",
        "streaming.platform.os": "linux",
        "streaming.version": "v1",
    }
    verify = obd("verify", image, "--deep")
    assert verify.stdout.strip().splitlines()[-1].startswith("PASS:")
    again = obd("convert", image, "--referrer", "-q")
    assert "referrer exists linux/amd64" in again.stdout
    assert len(_streaming_referrers(image)) == 1


def test_target_is_required_without_referrer(tmp_path: Path) -> None:
    result = obd("convert", f"oci:{_layout(tmp_path)}:amd64", check=False)
    assert result.returncode == 2
    assert "TARGET is required unless --referrer" in result.stderr
