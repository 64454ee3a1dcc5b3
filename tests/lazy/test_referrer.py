"""Opening a source image through its streaming referrer (spec §8)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from overlaybd_py.errors import ImageError, NotFoundError
from overlaybd_py.lazy import LazyOptions, open_image
from overlaybd_py.lazy.referrer import pick_referrer
from overlaybd_py.oci import mediatypes as mt

from .conftest import Pushed


def test_source_reference_reads_the_referrer(
    pushed: Pushed, options: LazyOptions, files: dict[str, bytes]
) -> None:
    with open_image(pushed.source, options=options) as image:
        assert image.image.descriptor.digest == pushed.referrer_digest
        for path, content in files.items():
            assert image.filesystem().read_file(path) == content


def test_never_mode_refuses_a_plain_image(pushed: Pushed, options: LazyOptions) -> None:
    with pytest.raises(ImageError, match="is not an OverlayBD layer"):
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
