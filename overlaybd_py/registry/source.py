"""A registry blob as a positional byte source, for lazy readers.

``RegistryBlobSource`` satisfies :class:`overlaybd_py.io.ByteSource`: ``pread`` turns
into one HTTP Range request (with the client's retries, token refresh and redirect
handling) and counts what it fetched, so callers can report bytes and requests.
It holds no per-call state, so many threads may read through one instance.
"""

from __future__ import annotations

import threading

from ..errors import FormatError, NotFoundError, OverlayBDError
from ..oci.digest import check_digest
from .client import RegistryClient


class RegistryBlobSource:
    """Bytes of blob ``digest`` in ``repository``, read on demand with Range requests."""

    def __init__(
        self, client: RegistryClient, repository: str, digest: str, size: int | None = None
    ) -> None:
        self.client = client
        self.repository = repository
        self.digest = check_digest(digest, f"blob source in {repository}")
        self.name = f"{client.host}/{repository}@{digest}"
        self._size = size
        self._lock = threading.Lock()
        self.bytes_fetched = 0
        self.requests = 0

    @property
    def size(self) -> int:
        if self._size is None:
            size = self.client.blob_size(self.repository, self.digest)
            if size is None:
                raise NotFoundError(f"{self.name}: blob not found in the registry")
            self._size = size
        return self._size

    def pread(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes, or fewer only past the end of the blob."""
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        data = self.client.read_range(self.repository, self.digest, offset, length)
        with self._lock:
            self.bytes_fetched += len(data)
            self.requests += 1
        if len(data) < length:
            raise FormatError(self._short_read(offset, length, len(data)))
        return data

    def _short_read(self, offset: int, length: int, got: int) -> str:
        """Why a range came back short, with the size the registry reports now (a short
        read says only where that read stopped, not where the blob ends)."""
        try:
            stored = self.client.blob_size(self.repository, self.digest)
        except OverlayBDError:
            stored = None
        read = f"a read of {length} bytes at offset {offset} returned {got}"
        if stored is None:
            return f"{self.name}: {read}, and the registry no longer has the blob"
        if stored != self.size:
            return (
                f"{self.name}: the blob is {stored} bytes, its descriptor says {self.size} "
                f"(truncated in the registry?); {read}"
            )
        return f"{self.name}: {read} although the registry reports all {stored} bytes"

    def close(self) -> None:
        """Nothing to release; the client is owned by the caller."""
