"""Content digests (``sha256:<hex>``), chain IDs and the layer UUIDs derived from them.

Chain IDs follow the OCI config spec: ``chain[0] = diff[0]`` and
``chain[i] = sha256(chain[i-1] + " " + diff[i])``. OverlayBD names each converted
layer by the first 32 hex digits of its chain ID, upper-case, 8-4-4-4-12 (spec §5.1).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from ..errors import ImageError

SHA256 = "sha256"
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^(sha256|sha512):([0-9a-f]+)$")
NULL_UUID = "00000000-0000-0000-0000-000000000000"
_CHUNK = 1 << 20


def sha256_digest(data: bytes | bytearray | memoryview) -> str:
    """The ``sha256:<hex>`` digest of some bytes."""
    return f"{SHA256}:{hashlib.sha256(data).hexdigest()}"


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Digest and length of everything left in ``stream``, read in bounded chunks."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return f"{SHA256}:{hasher.hexdigest()}", size


def is_digest(value: object) -> bool:
    """True when ``value`` is a well-formed ``sha256:``/``sha512:`` digest string."""
    if not isinstance(value, str):
        return False
    match = _DIGEST_RE.match(value)
    return match is not None and len(match.group(2)) == _HEX_LENGTHS[match.group(1)]


def check_digest(value: object, where: str) -> str:
    """Return ``value`` if it is a valid digest, else raise a one-line ImageError."""
    if not is_digest(value):
        raise ImageError(
            f"{where}: expected a digest like 'sha256:<64 lowercase hex>', found {value!r}"
        )
    return str(value)


def split_digest(digest: str) -> tuple[str, str]:
    """Split ``algorithm:hex`` into its two parts (the digest must be valid)."""
    algorithm, _, encoded = check_digest(digest, "digest").partition(":")
    return algorithm, encoded


def new_hasher(digest: str) -> hashlib._Hash:
    """A fresh hasher for the algorithm named by ``digest``."""
    algorithm, _ = split_digest(digest)
    return hashlib.new(algorithm)


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """The chain ID of every layer prefix, from the layers' diff IDs."""
    result: list[str] = []
    for index, diff_id in enumerate(diff_ids):
        check_digest(diff_id, f"diff_ids[{index}]")
        if not result:
            result.append(diff_id)
        else:
            result.append(sha256_digest(f"{result[-1]} {diff_id}".encode()))
    return result


def uuid_from_chain_id(chain_id: str) -> str:
    """The OverlayBD layer UUID for a chain ID: first 32 hex digits, 8-4-4-4-12, upper-case."""
    _, encoded = split_digest(chain_id)
    hex32 = encoded[:32].upper()
    return "-".join((hex32[0:8], hex32[8:12], hex32[12:16], hex32[16:20], hex32[20:32]))


def layer_uuids(diff_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(uuid, parent uuid) for each layer; the first layer's parent is the null UUID."""
    uuids = [uuid_from_chain_id(chain) for chain in chain_ids(diff_ids)]
    parents = [NULL_UUID, *uuids][: len(uuids)]
    return list(zip(uuids, parents, strict=True))
