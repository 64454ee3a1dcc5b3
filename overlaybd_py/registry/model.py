"""Small value types returned by the registry client, and scope/URL helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..errors import ImageError
from ..oci.mediatypes import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

# Pulls accept every manifest kind we can read, OCI first (spec §5.2).
MANIFEST_ACCEPT = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """The exact bytes of a manifest or index, its media type and digest."""

    data: bytes
    media_type: str
    digest: str

    @property
    def size(self) -> int:
        return len(self.data)

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.data)
        except ValueError as error:
            raise ImageError(f"manifest {self.digest}: expected JSON, found: {error}") from None
        if not isinstance(value, dict):
            raise ImageError(f"manifest {self.digest}: expected a JSON object at the top")
        return value

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class ManifestPush:
    """Outcome of a manifest PUT: the digest of the bytes sent and any ``OCI-Subject``."""

    digest: str
    subject: str | None


@dataclass(frozen=True)
class BlobPush:
    """Outcome of a blob push: ``exists`` (skipped), ``mounted`` or ``uploaded``."""

    digest: str
    size: int
    action: str


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def delete_scope(repository: str) -> str:
    return f"repository:{repository}:delete"


def repo_path(repository: str, *parts: str) -> str:
    """``/v2/<name>/<parts...>`` with each reference part URL-quoted."""
    tail = "/".join(quote(part, safe=":") for part in parts)
    return f"/v2/{repository}/{tail}"
