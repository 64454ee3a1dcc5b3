"""The digests the docs show are the ones a conversion gives (it is deterministic).

They had drifted once: docs/streaming.md showed a referrer digest from an older
build. These checks re-run the documented hello-world commands.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import HELLO_LAYOUT

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _obd(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "overlaybd_cli.entry", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _digests(text: str) -> set[str]:
    return set(re.findall(r"sha256:[0-9a-f]{64}", text))


def test_documented_hello_world_digests(tmp_path: Path) -> None:
    shutil.copytree(HELLO_LAYOUT, tmp_path / "hello")
    converted = _obd("convert", "oci:hello:amd64", "oci:hello-obd:latest", "--json", cwd=tmp_path)
    manifest = json.loads(converted)["images"][0]["manifest"]
    assert manifest in _digests((DOCS / "convert.md").read_text())

    _obd("convert", "oci:hello:amd64", "--referrer", "-q", cwd=tmp_path)
    listed = json.loads(_obd("referrers", "oci:hello:amd64", "--json", cwd=tmp_path))
    referrer = listed[0]["referrers"][0]["digest"]
    streaming = (DOCS / "streaming.md").read_text()
    assert referrer in _digests(streaming)
    body = json.loads((tmp_path / "hello/blobs/sha256" / referrer.split(":")[1]).read_bytes())
    shown = {body["config"]["digest"], body["layers"][0]["digest"], body["subject"]["digest"]}
    assert shown <= _digests(streaming)


def test_documented_multi_platform_referrers(tmp_path: Path) -> None:
    shutil.copytree(HELLO_LAYOUT, tmp_path / "hello")
    printed = _obd("convert", "oci:hello:docker-list", "--referrer", "-q", cwd=tmp_path)
    assert _digests(printed) and _digests(printed) <= _digests((DOCS / "lazy.md").read_text())
