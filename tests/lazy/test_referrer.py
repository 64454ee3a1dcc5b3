"""Opening a source image through its streaming referrer (spec §8)."""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import pytest

from overlaybd_py.errors import ImageError, NotFoundError
from overlaybd_py.lazy import LazyOptions, open_image
from overlaybd_py.lazy.image import OverlayImage
from overlaybd_py.lazy.referrer import CREATED_ANNOTATION, pick_referrer
from overlaybd_py.oci import mediatypes as mt
from overlaybd_py.oci.descriptor import Descriptor
from overlaybd_py.oci.digest import sha256_digest
from overlaybd_py.oci.layout import OCILayout
from overlaybd_py.registry.client import RegistryClient
from overlaybd_py.registry.referrers import update_tag_index
from tests.registry.registry_server import RegistryServer

from .conftest import CONVERTED_TAG, PLAIN, SOURCE_TAG, Layouts, Pushed, push_all
from .images import attach_as_referrer


def test_source_reference_reads_the_referrer(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    with open_image(pushed.source, options=options) as image:
        assert image.image.descriptor.digest == pushed.referrer_digest
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content


def test_never_mode_refuses_a_plain_image(pushed: Pushed, options: LazyOptions) -> None:
    with pytest.raises(ImageError, match="is not a readable OverlayBD layer"):
        open_image(pushed.source, options=replace(options, referrer="never"))


def test_always_mode_needs_a_referrer(pushed: Pushed, options: LazyOptions) -> None:
    with pytest.raises(NotFoundError, match="no referrer with artifactType"):
        open_image(pushed.converted, options=replace(options, referrer="always"))


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ImageError, match="expected one of auto, always, never"):
        LazyOptions(referrer="sometimes")


def test_streaming_type_preferred_then_newest() -> None:
    def entry(digest: str, kind: str, created: str) -> dict[str, object]:
        annotations = {"org.opencontainers.image.created": created}
        return {"digest": digest, "artifactType": kind, "annotations": annotations}

    found = [
        entry("a", mt.ARTIFACT_OVERLAYBD_NATIVE, "2026-01-03"),
        entry("b", mt.ARTIFACT_AZURE_STREAMING, "2026-01-01"),
        entry("c", mt.ARTIFACT_AZURE_STREAMING, "2026-01-02"),
        entry("d", "application/other", "2026-01-09"),
    ]
    assert pick_referrer(found)["digest"] == "c"  # type: ignore[index]
    assert pick_referrer(found[:1])["digest"] == "a"  # type: ignore[index]
    assert pick_referrer(found[3:]) is None


# -- listings that lie or are stale: each listed referrer is checked, the next one tried --

NEWER = "2099-01-01T00:00:00Z"


def _converted_body(layouts: Layouts) -> dict[str, Any]:
    layout = OCILayout.open_dir(layouts.converted)
    try:
        return json.loads(layout.fetch(layout.resolve(CONVERTED_TAG)))  # type: ignore[no-any-return]
    finally:
        layout.close()


def _source_descriptor(layouts: Layouts) -> Descriptor:
    layout = OCILayout.open_dir(layouts.source)
    try:
        return layout.resolve(SOURCE_TAG).plain()
    finally:
        layout.close()


def _attach(client: RegistryClient, repo: str, body: dict[str, Any], subject: Descriptor) -> str:
    """Attach ``body`` as a referrer of ``subject``, newer than every other one."""
    body = {**body, "annotations": {**body.get("annotations", {}), CREATED_ANNOTATION: NEWER}}
    return attach_as_referrer(
        client, repo, json.dumps(body).encode(), subject, mt.ARTIFACT_AZURE_STREAMING
    )


def _open_source(
    registry: RegistryServer, repo: str, options: LazyOptions
) -> AbstractContextManager[OverlayImage]:
    return open_image(f"docker://{registry.host}/{repo}:{SOURCE_TAG}", options=options)


def test_a_deleted_referrer_still_listed_is_skipped(
    registry: RegistryServer,
    layouts: Layouts,
    options: LazyOptions,
    files: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = "lazy/dangling"
    with RegistryClient(registry.host, PLAIN) as client:
        good = push_all(client, layouts, repo)
        stale = _attach(client, repo, _converted_body(layouts), _source_descriptor(layouts))
        client.delete_manifest(repo, stale)
    with caplog.at_level(logging.WARNING), _open_source(registry, repo, options) as image:
        assert image.image.descriptor.digest == good
        path, content = next(iter(files.items()))
        assert image.filesystem().read_file(path) == content
    assert f"skipped streaming referrer {stale}" in caplog.text
    assert "MANIFEST_UNKNOWN" in caplog.text


def test_a_referrer_of_another_platform_is_skipped(
    registry: RegistryServer,
    layouts: Layouts,
    options: LazyOptions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = "lazy/otherarch"
    with RegistryClient(registry.host, PLAIN) as client:
        good = push_all(client, layouts, repo)
        body = _converted_body(layouts)
        config = json.loads(client.get_blob(repo, body["config"]["digest"]))
        config["architecture"] = "arm64" if config["architecture"] != "arm64" else "amd64"
        data = json.dumps(config).encode()
        client.push_blob(repo, data)
        body["config"] = {**body["config"], "digest": sha256_digest(data), "size": len(data)}
        wrong = _attach(client, repo, body, _source_descriptor(layouts))
    with caplog.at_level(logging.WARNING), _open_source(registry, repo, options) as image:
        assert image.image.descriptor.digest == good
    assert f"skipped streaming referrer {wrong}: its image is linux/" in caplog.text


def test_a_referrer_listed_under_the_wrong_subject_is_skipped(
    registry: RegistryServer,
    layouts: Layouts,
    options: LazyOptions,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = "lazy/wrongsubject"
    subject = _source_descriptor(layouts)
    with RegistryClient(registry.host, PLAIN) as client:
        good = push_all(client, layouts, repo)
        elsewhere = Descriptor(mt.OCI_MANIFEST, sha256_digest(b"another image"), 13)
        lying = _attach(client, repo, _converted_body(layouts), elsewhere)
        entry = client.referrers(repo, elsewhere.digest, mt.ARTIFACT_AZURE_STREAMING)[0]
        update_tag_index(
            client,
            repo,
            subject.digest,
            lambda entries: [*entries, entry],
            lambda entries: any(e.get("digest") == lying for e in entries),
        )
    with caplog.at_level(logging.WARNING), _open_source(registry, repo, options) as image:
        assert image.image.descriptor.digest == good
    assert f"but its subject is {elsewhere.digest}" in caplog.text


def test_no_usable_referrer_names_each_problem(
    registry: RegistryServer, layouts: Layouts, options: LazyOptions
) -> None:
    repo = "lazy/allgone"
    with RegistryClient(registry.host, PLAIN) as client:
        only = push_all(client, layouts, repo)
        client.delete_manifest(repo, only)
    with pytest.raises(ImageError, match=f"no usable streaming referrer .*1 listed.*{only}"):
        _open_source(registry, repo, options)
