"""OCI 1.1 referrers: discovery through the API or the tag schema, and attaching.

Discovery asks ``GET /v2/<name>/referrers/<digest>`` (following ``Link`` pages and
filtering by ``artifactType`` itself unless ``OCI-Filters-Applied`` says the registry
did); a 404 means the registry has no such API, and the referrers tag schema is read
instead: an OCI index tagged ``<alg>-<hex>`` listing every referrer of the subject.

Attaching pushes the referrer manifest; when the registry does not answer with
``OCI-Subject`` it has not indexed it, so we maintain the tag-schema index ourselves.
Several clients may do so at once and the distribution API has no compare-and-swap,
so an update re-reads the index just before writing (``If-Match`` when the registry
gave an ETag), then reads it back after a settling delay and redoes the update if
another writer's stale index replaced ours.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ImageError, NotFoundError, OverlayBDError, RegistryError
from ..oci.digest import check_digest, sha256_digest
from ..oci.manifest import subject_digest
from ..oci.mediatypes import OCI_INDEX, is_manifest
from .model import MANIFEST_ACCEPT, Manifest, ManifestPush, pull_scope, repo_path
from .neterrors import safe_url
from .transport import RegistryHTTPError

if TYPE_CHECKING:
    from .client import RegistryClient

log = logging.getLogger(__name__)

TAG_LENGTH_LIMIT = 128
FILTERS_HEADER = "OCI-Filters-Applied"
SUBJECT_HEADER = "OCI-Subject"
ARTIFACT_TYPE_FILTER = "artifactType"
INDEX_UPDATE_ATTEMPTS = 12
MIN_SETTLE_SECONDS = 0.05
SETTLE_FACTOR = 3.0
PRECONDITION_FAILED = 412


def referrers_tag(digest: str) -> str:
    """The tag-schema tag for a subject: ``<alg>-<hex>``, at most 128 characters."""
    algorithm, _, encoded = check_digest(digest, "referrers subject").partition(":")
    return f"{algorithm}-{encoded}"[:TAG_LENGTH_LIMIT]


def referrer_descriptor(data: bytes, media_type: str) -> dict[str, Any]:
    """The index entry for a referrer manifest (artifactType falls back to config type)."""
    manifest = Manifest(data, media_type, sha256_digest(data))
    body = manifest.json()
    descriptor = manifest.descriptor()
    artifact_type = body.get("artifactType")
    if not artifact_type and is_manifest(media_type):
        artifact_type = (body.get("config") or {}).get("mediaType")
    if artifact_type:
        descriptor["artifactType"] = artifact_type
    if body.get("annotations"):
        descriptor["annotations"] = body["annotations"]
    return descriptor


def _subject_of(data: bytes, media_type: str) -> str:
    body = Manifest(data, media_type, sha256_digest(data)).json()
    subject = body.get("subject")
    if not isinstance(subject, dict) or "digest" not in subject:
        raise ImageError(
            f"referrer manifest {sha256_digest(data)}: expected a 'subject' descriptor, found none"
        )
    return check_digest(subject["digest"], "referrer subject.digest")


def list_referrers(
    client: RegistryClient, repository: str, digest: str, artifact_type: str | None = None
) -> list[dict[str, Any]]:
    """Referrer descriptors of ``digest`` (API first, tag schema when the API is absent)."""
    check_digest(digest, f"referrers of {repository}")
    found = _from_api(client, repository, digest, artifact_type)
    if found is None:
        found = _from_tag_schema(client, repository, digest)
        if artifact_type:
            found = [d for d in found if d.get("artifactType") == artifact_type]
    return found


def _from_api(
    client: RegistryClient, repository: str, digest: str, artifact_type: str | None
) -> list[dict[str, Any]] | None:
    from .client import next_link

    url: str | None = repo_path(repository, "referrers", digest)
    params = {ARTIFACT_TYPE_FILTER: artifact_type} if artifact_type else None
    found: list[dict[str, Any]] = []
    filtered = True
    first = True
    while url:
        response = client.transport.request(
            "GET",
            url,
            scopes=[pull_scope(repository)],
            params=params,
            headers={"Accept": OCI_INDEX},
            expect=(200, 404),
            what=f"referrers of {repository}@{digest}",
        )
        if response.status_code == 404:
            if first:
                return None
            raise NotFoundError(
                f"referrers of {repository}@{digest}: page {safe_url(url)} vanished (404)"
            )
        try:
            page = response.json()
            found += list(page.get("manifests") or [])
        except (ValueError, AttributeError):
            raise RegistryError(
                f"GET {safe_url(response.url)}: expected an OCI index of referrers, "
                "found other content"
            ) from None
        applied = response.headers.get(FILTERS_HEADER, "")
        filtered &= ARTIFACT_TYPE_FILTER in [part.strip() for part in applied.split(",")]
        url, params, first = next_link(response), None, False
    if artifact_type and not filtered:
        found = [d for d in found if d.get("artifactType") == artifact_type]
    return found


def _read_index(
    client: RegistryClient, repository: str, tag: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The tag-schema index (parsed) and its digest, or (None, None) when untagged.

    Every manifest type is accepted: asked for an index only, distribution falls back
    to converting whatever the tag holds into schema 1, whose digest then changes on
    every request. A tag holding anything but an OCI index is refused by name.
    """
    try:
        manifest = client.get_manifest(repository, tag, accept=MANIFEST_ACCEPT)
    except NotFoundError:
        return None, None
    index = manifest.json()
    if manifest.media_type != OCI_INDEX:
        raise ImageError(
            f"tag {repository}:{tag} holds {manifest.media_type or 'a manifest'}, not the OCI "
            "image index of the referrers tag schema; it was pushed by something else (remove "
            "or move that tag to list referrers here)"
        )
    if not isinstance(index.get("manifests", []), list):
        raise ImageError(f"referrers index {repository}:{tag}: 'manifests' is not a list")
    return index, manifest.digest


def _from_tag_schema(client: RegistryClient, repository: str, digest: str) -> list[dict[str, Any]]:
    index, _ = _read_index(client, repository, referrers_tag(digest))
    return list(index.get("manifests") or []) if index else []


def attach_referrer(
    client: RegistryClient,
    repository: str,
    data: bytes,
    media_type: str,
    reference: str | None = None,
) -> ManifestPush:
    """Push a referrer manifest (by digest unless ``reference`` names a tag) and index it."""
    subject = _subject_of(data, media_type)
    push = client.put_manifest(repository, reference or sha256_digest(data), data, media_type)
    if push.subject == subject:
        log.debug("registry indexed referrer %s of %s itself", push.digest, subject)
        return push
    descriptor = referrer_descriptor(data, media_type)
    update_tag_index(
        client,
        repository,
        subject,
        lambda entries: _with(entries, descriptor),
        lambda entries: any(e.get("digest") == push.digest for e in entries),
    )
    return push


def detach_referrer(
    client: RegistryClient, repository: str, subject: str, digest: str, delete: bool = True
) -> None:
    """Drop ``digest`` from the subject's tag-schema index, then (``delete``) delete the
    manifest, but only when its own ``subject`` is ``subject``."""
    tag = referrers_tag(subject)
    index, _ = _read_index(client, repository, tag)
    if index is not None:
        update_tag_index(
            client,
            repository,
            subject,
            lambda entries: [e for e in entries if e.get("digest") != digest],
            lambda entries: all(e.get("digest") != digest for e in entries),
        )
    if delete and referrer_subject(client, repository, digest) == subject:
        with contextlib.suppress(NotFoundError):
            client.delete_manifest(repository, digest)


def referrer_subject(client: RegistryClient, repository: str, digest: str) -> str | None:
    """The ``subject`` digest the stored manifest ``digest`` names (None when it names none
    or cannot be read): only a manifest naming the subject is that subject's to delete."""
    try:
        manifest = client.get_manifest(repository, digest, accept=MANIFEST_ACCEPT)
        return subject_digest(manifest.json())
    except OverlayBDError as error:
        log.info("%s@%s: not read as a referrer: %s", repository, digest, error)
        return None


def _with(entries: list[dict[str, Any]], descriptor: dict[str, Any]) -> list[dict[str, Any]]:
    kept = [e for e in entries if e.get("digest") != descriptor["digest"]]
    return [*kept, descriptor]


def _index_bytes(index: dict[str, Any] | None, entries: list[dict[str, Any]]) -> bytes:
    body = dict(index) if index else {"schemaVersion": 2, "mediaType": OCI_INDEX}
    body["manifests"] = entries
    return json.dumps(body, separators=(",", ":")).encode()


def update_tag_index(
    client: RegistryClient,
    repository: str,
    subject: str,
    change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    done: Callable[[list[dict[str, Any]]], bool],
) -> None:
    """Apply ``change`` to the subject's tag-schema index until ``done`` holds when read back."""
    tag = referrers_tag(subject)
    for attempt in range(1, INDEX_UPDATE_ATTEMPTS + 1):
        index, seen = _read_index(client, repository, tag)
        entries = list(index.get("manifests") or []) if index else []
        if done(entries):
            return
        data = _index_bytes(index, change(entries))
        started = time.monotonic()
        _, current = _read_index(client, repository, tag)
        if current != seen:
            _pause(attempt)
            continue
        headers = {"If-Match": f'"{seen}"'} if seen else {}
        try:
            client.put_manifest(repository, tag, data, OCI_INDEX, headers=headers)
        except RegistryHTTPError as error:
            if error.status != PRECONDITION_FAILED:
                raise
            _pause(attempt)
            continue
        # A writer that read before our PUT may still overwrite it within about one
        # round trip; wait a few of those before trusting the read-back.
        time.sleep(max(MIN_SETTLE_SECONDS, SETTLE_FACTOR * (time.monotonic() - started)))
        index, _ = _read_index(client, repository, tag)
        if index is not None and done(list(index.get("manifests") or [])):
            return
        log.info("referrers index %s:%s changed under us; retry %d", repository, tag, attempt)
        _pause(attempt)
    raise RegistryError(
        f"referrers index {repository}:{tag}: could not apply the update in "
        f"{INDEX_UPDATE_ATTEMPTS} attempts (other clients kept changing it)"
    )


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, MIN_SETTLE_SECONDS * attempt))
