"""Distribution (OCI registry) API client: auth, TLS, blobs, uploads, manifests, referrers.

Typical use::

    options = HostOptions.from_cli("user:pass", ca_file="ca.pem")
    with RegistryClient("registry.example:5000", options) as client:
        manifest = client.get_manifest("library/app", "latest")
        source = RegistryBlobSource(client, "library/app", layer_digest, layer_size)
"""

from __future__ import annotations

from .client import RegistryClient
from .credentials import Credentials, resolve_credentials
from .model import BlobPush, Manifest, ManifestPush
from .options import HostOptions, RegistryHosts, RetryPolicy
from .referrers import referrer_descriptor, referrers_tag
from .source import RegistryBlobSource
from .transport import RegistryHTTPError

__all__ = [
    "BlobPush",
    "Credentials",
    "HostOptions",
    "Manifest",
    "ManifestPush",
    "RegistryBlobSource",
    "RegistryClient",
    "RegistryHTTPError",
    "RegistryHosts",
    "RetryPolicy",
    "referrer_descriptor",
    "referrers_tag",
    "resolve_credentials",
]
