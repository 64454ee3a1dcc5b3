"""The distribution API client: blobs (stat, stream, range reads, push), manifests, tags.

One :class:`RegistryClient` talks to one registry host and is safe to share between
threads. Uploads live in :mod:`.upload`, referrers in :mod:`.referrers`; this class
is their single entry point.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

from ..errors import ChecksumError, NotFoundError, RegistryError
from ..io import ByteSource
from ..oci.digest import check_digest, is_digest, new_hasher, sha256_digest
from .model import (
    MANIFEST_ACCEPT,
    MANIFEST_SIZE_LIMIT,
    BlobPush,
    Manifest,
    ManifestPush,
    delete_scope,
    pull_scope,
    push_scope,
    repo_path,
)
from .neterrors import root_cause, safe_url
from .options import HostOptions
from .transport import Transport

log = logging.getLogger(__name__)

STREAM_CHUNK = 1 << 20
BLOB_BYTES_LIMIT = 64 * 1024 * 1024
REDIRECT_CACHE_LIMIT = 256
STALE_REDIRECT_STATUSES = frozenset({401, 403, 404, 410})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class RegistryClient:
    """Client for one registry ``host`` (``name[:port]``) with its :class:`HostOptions`."""

    def __init__(
        self, host: str, options: HostOptions | None = None, transport: Transport | None = None
    ) -> None:
        self.host = host
        self.options = options or HostOptions()
        self.transport = transport or Transport(host, self.options)
        self._redirects: dict[tuple[str, str], str] = {}
        self._redirect_lock = threading.Lock()

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> None:
        """Check the ``/v2/`` endpoint answers (authenticating if it asks)."""
        self.transport.request("GET", "/v2/", expect=(200,), what=f"{self.host} API check")

    # Blobs: reading -------------------------------------------------------------------

    def blob_size(self, repository: str, digest: str) -> int | None:
        """The blob's size from a HEAD, or None when the registry does not have it."""
        check_digest(digest, f"blob of {repository}")
        response = self.transport.request(
            "HEAD",
            repo_path(repository, "blobs", digest),
            scopes=[pull_scope(repository)],
            expect=(200, 404),
            what=f"blob {repository}@{digest}",
        )
        if response.status_code == 404:
            return None
        length = response.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RegistryError(
                f"HEAD {safe_url(response.url)}: expected a Content-Length, found {length!r}"
            )
        return int(length)

    def iter_blob(
        self, repository: str, digest: str, chunk_size: int = STREAM_CHUNK
    ) -> Iterator[bytes]:
        """Stream a blob, resuming with Range after a dropped connection; the digest is
        checked at the end (ChecksumError) so a consumer must not trust bytes before that."""
        hasher = new_hasher(check_digest(digest, f"blob of {repository}"))
        received = 0
        failures = 0
        policy = self.options.retry
        while True:
            headers = {"Range": f"bytes={received}-"} if received else {}
            response = self._get_blob(repository, digest, headers)
            try:
                if received and response.status_code == 200:
                    raise RegistryError(
                        f"GET {safe_url(response.url)}: expected 206 to resume at byte "
                        f"{received}, found 200"
                    )
                for chunk in response.iter_content(chunk_size):
                    hasher.update(chunk)
                    received += len(chunk)
                    yield chunk
                break
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError,
            ) as error:
                failures += 1
                if failures >= policy.attempts:
                    raise RegistryError(
                        f"GET blob {repository}@{digest}: connection lost at byte {received} "
                        f"{failures} times: {root_cause(error)}"
                    ) from None
                time.sleep(policy.delay(failures))
            finally:
                response.close()
        found = f"{digest.split(':')[0]}:{hasher.hexdigest()}"
        if found != digest:
            raise ChecksumError(
                f"blob {repository}@{digest}: expected that digest, found {found} "
                f"over {received} bytes"
            )

    def get_blob(self, repository: str, digest: str, limit: int = BLOB_BYTES_LIMIT) -> bytes:
        """A whole (small) blob in memory, digest-checked; refuses blobs over ``limit``."""
        out = bytearray()
        for chunk in self.iter_blob(repository, digest):
            out += chunk
            if len(out) > limit:
                raise RegistryError(
                    f"blob {repository}@{digest}: expected at most {limit} bytes in memory, "
                    "found more (download it to a file instead)"
                )
        return bytes(out)

    def download_blob(self, repository: str, digest: str, path: str | os.PathLike[str]) -> int:
        """Write a blob to ``path`` atomically (temp name, fsync, rename) after checking it."""
        target = Path(path)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self.iter_blob(repository, digest):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return size

    def read_range(self, repository: str, digest: str, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset+length)`` of a blob (fewer only past its end).

        Uses HTTP Range; retries dropped connections and 5xx, resuming after the bytes
        already received; follows redirects without the registry's Authorization and
        remembers the final URL for later reads of the same blob.
        """
        if offset < 0 or length < 0:
            raise RegistryError(f"blob {repository}@{digest}: bad range {offset}+{length}")
        out = bytearray()
        failures = 0
        policy = self.options.retry
        while len(out) < length:
            start, end = offset + len(out), offset + length - 1
            response = self._get_blob(
                repository, digest, {"Range": f"bytes={start}-{end}"}, allow_past_end=True
            )
            try:
                if response.status_code == 416:
                    break
                total = self._read_ranged_body(response, start, end, out)
                if total is not None and offset + len(out) >= total:
                    break
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError,
            ) as error:
                failures += 1
                if failures >= policy.attempts:
                    raise RegistryError(
                        f"range {start}-{end} of blob {repository}@{digest}: connection lost "
                        f"{failures} times: {root_cause(error)}"
                    ) from None
                time.sleep(policy.delay(failures))
            finally:
                response.close()
        return bytes(out)

    def _read_ranged_body(
        self, response: requests.Response, start: int, end: int, out: bytearray
    ) -> int | None:
        """Append the requested part of a 206/200 body to ``out``; return the blob size."""
        wanted = end - start + 1
        skip = 0
        total: int | None = None
        if response.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start:
                raise RegistryError(
                    f"GET {safe_url(response.url)}: expected Content-Range starting at {start}, "
                    f"found {response.headers.get('Content-Range')!r}"
                )
            total = None if match.group(3) == "*" else int(match.group(3))
        else:  # 200: the server ignored Range; skip to the start
            skip = start
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
        target = len(out) + wanted
        for chunk in response.iter_content(STREAM_CHUNK):
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            out += chunk[: target - len(out)]
            if len(out) >= target:
                break
        return total

    def _get_blob(
        self, repository: str, digest: str, headers: dict[str, str], allow_past_end: bool = False
    ) -> requests.Response:
        """GET a blob, through a remembered redirect when there is one."""
        key = (repository, digest)
        expect = (200, 206, 416) if allow_past_end else (200, 206)
        what = f"blob {repository}@{digest}"
        with self._redirect_lock:
            cached = self._redirects.get(key)
        if cached is not None:
            response = self.transport.request(
                "GET", cached, headers=headers, stream=True, what=what
            )
            if response.status_code in expect:
                return response
            response.close()
            if response.status_code not in STALE_REDIRECT_STATUSES:
                raise RegistryError(
                    f"{what}: GET {safe_url(cached)} answered HTTP {response.status_code}"
                )
            with self._redirect_lock:
                self._redirects.pop(key, None)
        url = self.transport.url(repo_path(repository, "blobs", digest))
        response = self.transport.request(
            "GET",
            url,
            scopes=[pull_scope(repository)],
            headers=headers,
            stream=True,
            expect=expect,
            what=what,
        )
        if response.url != url:
            with self._redirect_lock:
                if len(self._redirects) >= REDIRECT_CACHE_LIMIT:
                    self._redirects.clear()
                self._redirects[key] = response.url
        return response

    # Blobs: writing -------------------------------------------------------------------

    def push_blob(
        self,
        repository: str,
        source: ByteSource | bytes | str | os.PathLike[str],
        digest: str | None = None,
        *,
        mount_from: Sequence[str] = (),
        chunk_size: int | None = None,
    ) -> BlobPush:
        """Upload a blob unless present; try mounting from ``mount_from`` repositories first.

        ``source`` is bytes, a file path or any ByteSource (re-readable, so an upload
        can resume or restart). Large blobs go up in chunks; see :mod:`.upload`.
        """
        from .upload import push_blob

        return push_blob(
            self, repository, source, digest, mount_from=mount_from, chunk_size=chunk_size
        )

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; True when the registry mounted it."""
        from .upload import mount_blob

        return mount_blob(self, repository, digest, from_repository)

    def delete_blob(self, repository: str, digest: str) -> None:
        self.transport.request(
            "DELETE",
            repo_path(repository, "blobs", digest),
            scopes=[delete_scope(repository)],
            expect=(202,),
            what=f"delete blob {digest}",
        )

    # Manifests and tags ---------------------------------------------------------------

    def get_manifest(
        self, repository: str, reference: str, accept: Sequence[str] = MANIFEST_ACCEPT
    ) -> Manifest:
        """Exact manifest bytes with media type and digest (checked when fetched by digest)."""
        what = f"manifest {repository}:{reference}"
        response = self.transport.request(
            "GET",
            repo_path(repository, "manifests", reference),
            scopes=[pull_scope(repository)],
            headers={"Accept": ", ".join(accept)},
            stream=True,
            expect=(200,),
            what=what,
        )
        with response:
            data = _read_limited(response, MANIFEST_SIZE_LIMIT, what)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not media_type or media_type in ("application/json", "application/octet-stream"):
            media_type = Manifest(data, "", "").json().get("mediaType") or media_type
        digest = _digest_of(data, reference)
        if is_digest(reference) and digest != reference:
            raise ChecksumError(f"{what}: expected that digest, found {digest} for the bytes")
        header = response.headers.get("Docker-Content-Digest")
        if (
            header
            and header.startswith("sha256:")
            and digest.startswith("sha256:")
            and header != digest
        ):
            raise ChecksumError(
                f"{what}: Docker-Content-Digest says {header}, the bytes hash to {digest}"
            )
        return Manifest(data, media_type, digest)

    def head_manifest(
        self, repository: str, reference: str, accept: Sequence[str] = MANIFEST_ACCEPT
    ) -> dict[str, Any] | None:
        """The descriptor (mediaType, digest, size) of a manifest, or None if absent."""
        response = self.transport.request(
            "HEAD",
            repo_path(repository, "manifests", reference),
            scopes=[pull_scope(repository)],
            headers={"Accept": ", ".join(accept)},
            expect=(200, 404),
            what=f"manifest {repository}:{reference}",
        )
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        length = response.headers.get("Content-Length", "")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not digest or not length.isdigit():
            return self.get_manifest(repository, reference, accept).descriptor()
        return {"mediaType": media_type, "digest": digest, "size": int(length)}

    def put_manifest(
        self,
        repository: str,
        reference: str,
        data: bytes,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> ManifestPush:
        """PUT the exact bytes under a tag or digest; return their digest and OCI-Subject."""
        digest = sha256_digest(data)
        what = f"manifest {repository}:{reference}"
        if is_digest(reference) and reference != digest:
            raise ChecksumError(f"{what}: the bytes hash to {digest}, not to the reference")
        sent = {"Content-Type": media_type, **(headers or {})}
        response = self.transport.request(
            "PUT",
            repo_path(repository, "manifests", reference),
            scopes=[push_scope(repository)],
            headers=sent,
            data=data,
            expect=(200, 201),
            what=what,
        )
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise RegistryError(
                f"{what}: registry stored digest {answered}, expected {digest} of the bytes sent"
            )
        return ManifestPush(digest, response.headers.get("OCI-Subject"))

    def delete_manifest(self, repository: str, digest: str) -> None:
        self.transport.request(
            "DELETE",
            repo_path(repository, "manifests", check_digest(digest, "delete")),
            scopes=[delete_scope(repository)],
            expect=(202, 200),
            what=f"delete manifest {repository}@{digest}",
        )

    def list_tags(self, repository: str, page_size: int | None = None) -> list[str]:
        """Every tag of ``repository`` (following Link pagination); [] when it is unknown."""
        tags: list[str] = []
        url: str | None = repo_path(repository, "tags", "list")
        params = {"n": str(page_size)} if page_size else None
        while url:
            try:
                response = self.transport.request(
                    "GET",
                    url,
                    scopes=[pull_scope(repository)],
                    params=params,
                    expect=(200,),
                    what=f"tags of {repository}",
                )
            except NotFoundError:
                return tags
            tags += response.json().get("tags") or []
            url = next_link(response)
            params = None
        return tags

    # Referrers ------------------------------------------------------------------------

    def referrers(
        self, repository: str, digest: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose ``subject`` is ``digest``."""
        from .referrers import list_referrers

        return list_referrers(self, repository, digest, artifact_type)

    def attach_referrer(
        self, repository: str, data: bytes, media_type: str, reference: str | None = None
    ) -> ManifestPush:
        """Push a manifest that has a ``subject`` and make it discoverable."""
        from .referrers import attach_referrer

        return attach_referrer(self, repository, data, media_type, reference)

    def detach_referrer(
        self, repository: str, subject: str, digest: str, delete: bool = True
    ) -> None:
        """Remove a referrer from the subject's tag-schema index (and delete it)."""
        from .referrers import detach_referrer

        detach_referrer(self, repository, subject, digest, delete)


def next_link(response: requests.Response) -> str | None:
    """The absolute URL of the ``rel="next"`` Link, if any."""
    link = response.links.get("next", {}).get("url")
    return requests.compat.urljoin(response.url, link) if link else None


def _read_limited(response: requests.Response, limit: int, what: str) -> bytes:
    out = bytearray()
    for chunk in response.iter_content(STREAM_CHUNK):
        out += chunk
        if len(out) > limit:
            raise RegistryError(f"{what}: expected at most {limit} bytes, found more")
    return bytes(out)


def _digest_of(data: bytes, reference: str) -> str:
    """The digest of ``data`` in the algorithm of ``reference`` (sha256 for tags)."""
    if is_digest(reference) and not reference.startswith("sha256:"):
        algorithm = reference.split(":")[0]
        return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    return sha256_digest(data)
