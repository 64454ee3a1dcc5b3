"""Blob uploads: skip existing, cross-repository mount, monolithic or chunked PUT/PATCH.

Chunked uploads survive dropped connections and 5xx answers: after a failed PATCH the
upload URL is queried (``GET`` answers ``Range: 0-<last>``) and the upload continues
from the server's offset, re-reading the source there. When the registry has lost
the session (distribution cancels a session whose stored size no longer matches its
state token), the upload starts over, a bounded number of times. A digest the bytes do
not hash to is an error (nothing is retried, nothing is tagged).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from ..errors import RegistryError
from ..io import ByteSource, BytesSource, FileSource
from ..oci.digest import check_digest
from .model import BlobPush, pull_scope, push_scope, repo_path
from .neterrors import safe_url
from .transport import describe_error, error_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .client import RegistryClient

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
HASH_CHUNK = 1 << 20
MAX_RESTARTS = 3
OCTET_STREAM = "application/octet-stream"
_UPLOAD_RANGE = re.compile(r"(?:bytes=)?0-(\d+)")
_LOST_SESSION_CODES = ("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")


class _RestartUpload(Exception):
    """The registry no longer has a usable upload session; start a new one."""


@contextlib.contextmanager
def _opened(source: ByteSource | bytes | str | os.PathLike[str]) -> Iterator[ByteSource]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield BytesSource(source)
    elif isinstance(source, (str, os.PathLike)):
        with FileSource(source) as opened:
            yield opened
    else:
        yield source


def source_digest(source: ByteSource, algorithm: str = "sha256") -> str:
    """The digest of a whole source, read in bounded chunks."""
    hasher = hashlib.new(algorithm)
    offset = 0
    while offset < source.size:
        chunk = source.pread(offset, min(HASH_CHUNK, source.size - offset))
        if not chunk:
            raise RegistryError(f"source ended at byte {offset} of {source.size} while hashing")
        hasher.update(chunk)
        offset += len(chunk)
    return f"{hasher.name}:{hasher.hexdigest()}"


def push_blob(
    client: RegistryClient,
    repository: str,
    source: ByteSource | bytes | str | os.PathLike[str],
    digest: str | None,
    *,
    mount_from: Sequence[str] = (),
    chunk_size: int | None = None,
) -> BlobPush:
    """Make ``digest`` present in ``repository``; see the module docstring."""
    chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
    with _opened(source) as data:
        size = data.size
        digest = check_digest(digest, "push_blob") if digest else source_digest(data)
        present = client.blob_size(repository, digest)
        if present is not None:
            if present != size:
                raise RegistryError(
                    f"blob {repository}@{digest}: registry has it with {present} bytes, "
                    f"the local content has {size}"
                )
            return BlobPush(digest, size, "exists")
        location: str | None = None
        for other in mount_from:
            location = _start(client, repository, (digest, other))
            if location is None:
                return BlobPush(digest, size, "mounted")
        for restart in range(MAX_RESTARTS + 1):
            session = location or _start(client, repository)
            assert session is not None  # a plain upload start always yields a session
            try:
                if size <= chunk_size:
                    _put(client, repository, session, digest, data.pread(0, size))
                else:
                    session = _patch_all(client, repository, session, data, chunk_size)
                    _put(client, repository, session, digest, b"")
                return BlobPush(digest, size, "uploaded")
            except _RestartUpload as why:
                _check_local(data, digest, repository)
                log.info("upload of %s to %s restarts (%s)", digest, repository, why)
                location = None
                time.sleep(client.options.retry.delay(restart + 1))
        raise RegistryError(
            f"blob {repository}@{digest}: upload session lost {MAX_RESTARTS + 1} times; giving up"
        )


def mount_blob(client: RegistryClient, repository: str, digest: str, from_repository: str) -> bool:
    """Cross-repository mount; True when mounted (an offered upload session is dropped)."""
    location = _start(client, repository, (check_digest(digest, "mount"), from_repository))
    if location is not None:
        with contextlib.suppress(RegistryError):
            client.transport.request("DELETE", location, scopes=[push_scope(repository)])
    return location is None


def _start(
    client: RegistryClient, repository: str, mount: tuple[str, str] | None = None
) -> str | None:
    """POST a new upload session (or a mount); its Location, or None when mounted."""
    scopes = [push_scope(repository)]
    params = None
    if mount is not None:
        params = {"mount": mount[0], "from": mount[1]}
        scopes.append(pull_scope(mount[1]))
    response = client.transport.request(
        "POST",
        repo_path(repository, "blobs", "uploads") + "/",
        scopes=scopes,
        params=params,
        expect=(201, 202),
        what=f"start upload to {repository}",
    )
    if response.status_code == 201:
        return None
    return _location(response)


def _location(response: requests.Response) -> str:
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(
            f"{response.request.method} {safe_url(response.url)}: expected a Location header, "
            "found none"
        )
    return urljoin(response.url, location)


def _patch_all(
    client: RegistryClient, repository: str, location: str, data: ByteSource, chunk_size: int
) -> str:
    """PATCH the source in chunks, resuming from the server's offset after failures."""
    policy = client.options.retry
    offset = 0
    failures = 0
    while offset < data.size:
        end = min(offset + chunk_size, data.size)
        body = data.pread(offset, end - offset)
        headers = {"Content-Type": OCTET_STREAM, "Content-Range": f"{offset}-{end - 1}"}
        problem: str
        try:
            response = client.transport.request(
                "PATCH",
                location,
                scopes=[push_scope(repository)],
                headers=headers,
                data=body,
                retry=False,
                what=f"upload chunk {offset}-{end - 1}",
            )
        except RegistryError as error:
            problem = str(error)
        else:
            if response.status_code == 202:
                location = _location(response)
                offset = _server_offset(response, fallback=end)
                failures = 0
                continue
            _raise_unless_retryable(response, policy.statuses)
            problem = f"HTTP {response.status_code} {describe_error(response)}"
        failures += 1
        if failures >= policy.attempts:
            raise RegistryError(
                f"blob upload to {repository}: chunk at byte {offset} failed {failures} times; "
                f"last: {problem}"
            )
        log.info("chunk at %d of upload to %s failed (%s); resuming", offset, repository, problem)
        time.sleep(policy.delay(failures))
        location, offset = _resume_point(client, repository, location)
    return location


def _raise_unless_retryable(response: requests.Response, statuses: frozenset[int]) -> None:
    if response.status_code in statuses:
        return
    lost = response.status_code == 416 or (
        response.status_code in (400, 404)
        and any(code in response.text for code in _LOST_SESSION_CODES)
    )
    if lost:
        raise _RestartUpload(f"HTTP {response.status_code} {describe_error(response)}")
    raise error_for(response, "blob upload")


def _server_offset(response: requests.Response, fallback: int) -> int:
    """The next byte the server expects, from ``Range: 0-<last>``."""
    value = response.headers.get("Range")
    if value is None:
        return fallback
    match = _UPLOAD_RANGE.fullmatch(value.strip())
    if not match:
        raise RegistryError(f"{safe_url(response.url)}: expected 'Range: 0-<n>', found {value!r}")
    # distribution answers "0-0" for an empty upload too; a 1-byte resend is harmless
    # only if nothing was stored, so treat it as empty (the final digest check guards).
    last = int(match.group(1))
    return 0 if last == 0 else last + 1


def _resume_point(client: RegistryClient, repository: str, location: str) -> tuple[str, int]:
    """Ask the upload URL how much the server has; restart if the session is gone."""
    response = client.transport.request(
        "GET",
        location,
        scopes=[push_scope(repository)],
        expect=(200, 204, 400, 404),
        what=f"upload status of {repository}",
    )
    if response.status_code in (200, 204):
        new_location = _location(response) if response.headers.get("Location") else location
        return new_location, _server_offset(response, fallback=0)
    raise _RestartUpload(f"upload status HTTP {response.status_code} {describe_error(response)}")


def _with_digest(location: str, digest: str) -> str:
    parts = urlsplit(location)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "digest"]
    query.append(("digest", digest))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _put(client: RegistryClient, repository: str, location: str, digest: str, body: bytes) -> None:
    """The final PUT; a digest the server computed differently is a hard error."""
    headers = {"Content-Type": OCTET_STREAM}
    try:
        response = client.transport.request(
            "PUT",
            _with_digest(location, digest),
            scopes=[push_scope(repository)],
            headers=headers,
            data=body,
            retry=False,
            what=f"finish upload of {digest}",
        )
    except RegistryError as error:
        if client.blob_size(repository, digest) is not None:
            return  # the PUT landed; only its answer was lost
        raise _RestartUpload(str(error)) from None
    if response.status_code in (201, 204):
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise RegistryError(
                f"blob upload to {repository}: registry stored {stored}, expected {digest}"
            )
        return
    if response.status_code == 400 and "DIGEST_INVALID" in response.text:
        raise _RestartUpload(f"registry computed another digest than {digest}")
    if response.status_code in client.options.retry.statuses:
        raise _RestartUpload(f"final PUT answered HTTP {response.status_code}")
    _raise_unless_retryable(response, frozenset())


def _check_local(data: ByteSource, digest: str, repository: str) -> None:
    """Before retrying, make sure the local bytes really hash to ``digest``."""
    found = source_digest(data, digest.split(":")[0])
    if found != digest:
        raise RegistryError(
            f"blob upload to {repository}: expected content with digest {digest}, "
            f"the local bytes hash to {found}"
        )
