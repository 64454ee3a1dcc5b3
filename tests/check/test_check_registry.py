"""``obd check`` with both images in a real registry (plain HTTP), reached with ``--plain-http``.

The source images are copied into the registry byte for byte with the registry client;
the converted image is pushed there by the converter itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overlaybd_py.convert import ConvertOptions, convert
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.oci.manifest import parse_manifest
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.image import configure, registry_hosts
from overlaybd_py.registry.options import HostOptions, RegistryHosts, RetryPolicy
from tests.registry.registry_server import RegistryServer, registry_available, start_plain_registry

from .conftest import SMALL_DISK
from .run import HELLO, obd

PLAIN = HostOptions(
    plain_http=True,
    use_environment=False,
    use_docker_config=False,
    retry=RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.2),
)


@dataclass(frozen=True)
class Images:
    converted: str
    source: str
    other_source: str
    """A different platform's hello-world: its /hello differs from the converted one."""


def copy_to_registry(client: RegistryClient, tag: str, repository: str, as_tag: str) -> None:
    """Push the hello-world image tagged ``tag``: its blobs, then its exact manifest bytes."""
    layout = OCILayout.open_dir(HELLO)
    try:
        root = layout.resolve(tag)
        data = layout.fetch(root)
        manifest = parse_manifest(data, f"{HELLO}:{tag}")
        for blob in (manifest.config, *manifest.layers):
            path = HELLO / "blobs" / "sha256" / blob.digest.split(":", 1)[1]
            client.push_blob(repository, str(path), blob.digest)
        client.put_manifest(repository, as_tag, data, root.media_type)
    finally:
        layout.close()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    if not registry_available():
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    server: RegistryServer
    with start_plain_registry(tmp_path_factory.mktemp("check-registry")) as server:
        with RegistryClient(server.host, PLAIN) as client:
            copy_to_registry(client, "amd64", "src", "latest")
            copy_to_registry(client, "arm64", "src", "arm64")
        converted = f"docker://{server.host}/hello:obd"
        previous = registry_hosts()
        hosts = RegistryHosts(PLAIN)
        configure(hosts)
        try:
            convert(f"oci:{HELLO}:amd64", converted, ConvertOptions(vsize=SMALL_DISK))
        finally:
            configure(previous)
            hosts.close()
        yield Images(
            converted, f"docker://{server.host}/src:latest", f"docker://{server.host}/src:arm64"
        )


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OBD_REGISTRY_USERNAME", raising=False)


def test_check_reads_both_images_from_the_registry(images: Images) -> None:
    done = obd("check", "--plain-http", "--json", images.converted, "--against", images.source)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["differences"] == []
    assert report["image"] == images.converted and report["source"] == images.source
    assert report["platform"] == "linux/amd64"
    assert report["layers"] == 1
    assert 0 < report["expected_paths"] <= report["found_paths"]  # plus lost+found


def test_check_finds_the_difference_with_another_source(images: Images) -> None:
    done = obd("check", "--plain-http", images.converted, "--against", images.other_source)
    assert done.returncode == 1, done.stderr
    assert "/hello" in done.stdout
    assert "difference(s)" in done.stderr


def test_without_plain_http_the_failure_is_one_line(images: Images) -> None:
    done = obd("check", images.converted, "--against", images.source, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("obd: error: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "TLS" in done.stderr and "--plain-http" in done.stderr
