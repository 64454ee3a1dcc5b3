"""A registry repository as an :class:`~.location.ImageLocation`.

Referrers are attached with the registry client's referrers support: the registry
indexes them itself when it has the OCI 1.1 API (it answers the manifest PUT with
``OCI-Subject``); otherwise the client keeps the ``<alg>-<hex>`` tag-schema index.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile

from ..errors import ChecksumError, ImageError, NotFoundError, RegistryError
from ..io import ByteSource
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.digest import split_digest
from ..oci.reference import RegistryReference
from ..registry.client import RegistryClient
from ..registry.options import RegistryHosts
from ..registry.source import RegistryBlobSource

log = logging.getLogger(__name__)

ATTACHED_BY_API = "referrers API"
ATTACHED_BY_TAG = "tag schema"


class RegistryLocation:
    """One repository on one registry, reached with the options ``hosts`` gives its host."""

    def __init__(self, ref: RegistryReference, hosts: RegistryHosts) -> None:
        self.ref = ref
        self.repository = ref.repository
        self.host = ref.endpoint
        self.name = f"docker://{ref.name}"
        self.client = RegistryClient(self.host, hosts.options_for(ref))
        self._manifests: dict[str, bytes] = {}

    def resolve(self) -> Descriptor:
        manifest = self.client.get_manifest(self.repository, self.ref.reference)
        self._manifests[manifest.digest] = manifest.data
        return Descriptor(manifest.media_type, manifest.digest, manifest.size)

    def describe(self, digest: str) -> Descriptor:
        manifest = self.client.get_manifest(self.repository, digest)
        self._manifests[manifest.digest] = manifest.data
        return Descriptor(manifest.media_type, manifest.digest, manifest.size)

    def fetch(self, descriptor: Descriptor) -> bytes:
        if mt.is_manifest(descriptor.media_type) or mt.is_index(descriptor.media_type):
            data = self._manifests.get(descriptor.digest)
            if data is None:
                data = self.client.get_manifest(self.repository, descriptor.digest).data
        else:
            data = self.client.get_blob(self.repository, descriptor.digest)
        if len(data) != descriptor.size:
            raise ImageError(
                f"{self.name}@{descriptor.digest}: expected {descriptor.size} bytes, "
                f"found {len(data)}"
            )
        return data

    def blob_size(self, digest: str) -> int | None:
        return self.client.blob_size(self.repository, digest)

    def has_manifest(self, descriptor: Descriptor) -> bool:
        return self.client.head_manifest(self.repository, descriptor.digest) is not None

    def blob_source(self, descriptor: Descriptor) -> ByteSource:
        return RegistryBlobSource(self.client, self.repository, descriptor.digest, descriptor.size)

    def materialize(self, descriptor: Descriptor, workdir: str) -> tuple[str, str]:
        """Download the blob once into ``workdir``, hashing it ourselves (a mismatch is data,
        not an error, for the caller to report)."""
        algorithm, encoded = split_digest(descriptor.digest)
        hasher = hashlib.new(algorithm)
        fd, path = tempfile.mkstemp(prefix=f"{encoded[:16]}.", dir=workdir)
        with os.fdopen(fd, "wb") as out:
            try:
                for chunk in self.client.iter_blob(self.repository, descriptor.digest):
                    hasher.update(chunk)
                    out.write(chunk)
            except ChecksumError as error:
                log.debug("%s", error)
        return path, f"{algorithm}:{hasher.hexdigest()}"

    def referrers(self, digest: str, artifact_type: str | None = None) -> list[Descriptor]:
        found = self.client.referrers(self.repository, digest, artifact_type)
        where = f"referrers of {self.name}@{digest}"
        return [Descriptor.from_dict(entry, f"{where}[{i}]") for i, entry in enumerate(found)]

    def copy_blob(self, descriptor: Descriptor, origin: object) -> str:
        mount_from: list[str] = []
        if isinstance(origin, RegistryLocation):
            if origin.host == self.host and origin.repository == self.repository:
                size = self.blob_size(descriptor.digest)
                if size != descriptor.size:
                    raise NotFoundError(
                        f"{self.name}: blob {descriptor.digest} of the converted image is "
                        f"missing (expected {descriptor.size} bytes, found {size})"
                    )
                return "exists"
            if origin.host == self.host:
                mount_from.append(origin.repository)
        path = getattr(origin, "blob_path", None)
        source = path(descriptor.digest) if path else origin.blob_source(descriptor)  # type: ignore[attr-defined]
        push = self.client.push_blob(
            self.repository, source, descriptor.digest, mount_from=mount_from
        )
        return push.action

    def attach(self, data: bytes) -> tuple[Descriptor, str]:
        push = self.client.attach_referrer(self.repository, data, mt.OCI_MANIFEST)
        how = ATTACHED_BY_API if push.subject else ATTACHED_BY_TAG
        return Descriptor(mt.OCI_MANIFEST, push.digest, len(data)), how

    def detach(self, subject: str, referrer: Descriptor, delete: bool = True) -> bool:
        """Unlist from the tag-schema index; with ``delete`` (the caller has checked that the
        manifest names ``subject``), delete the manifest too."""
        self.client.detach_referrer(self.repository, subject, referrer.digest, delete=False)
        if not delete:
            return False
        try:
            self.client.delete_manifest(self.repository, referrer.digest)
        except NotFoundError:
            return True
        except RegistryError as error:
            log.info("%s: old referrer %s left in place: %s", self.name, referrer.digest, error)
            return False
        return True

    def close(self) -> None:
        self.client.close()
