"""TEST DOUBLE for the OCI 1.1 referrers API, in front of the real test registry.

distribution 2.8 (the only registry installable here) has no referrers API. This
proxy forwards every request to it unchanged and adds only what a registry with the
API would add:

- on a manifest PUT whose body has a ``subject``: the ``OCI-Subject`` response
  header, and a record of the referrer (kept in memory by the proxy);
- ``GET /v2/<name>/referrers/<digest>``: an OCI index of the recorded referrers,
  with ``artifactType`` filtering (``OCI-Filters-Applied``, can be switched off) and
  ``Link`` pagination (``page_size`` entries per page);
- a manifest DELETE drops the record.

It is not a registry and is used only to test the client's referrers-API path.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .forwarding import ForwardingServer, ProxyRequest, Reply

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_REFERRERS = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[a-z0-9]+:[a-f0-9]+)$")
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")


class ReferrersProxy(ForwardingServer):
    """Forwarding proxy + referrers endpoint + ``OCI-Subject`` (test double only)."""

    def __init__(self, upstream: str, *, page_size: int = 0, apply_filters: bool = True) -> None:
        super().__init__(upstream)
        self.page_size = page_size
        self.apply_filters = apply_filters
        self.records: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._records_lock = threading.Lock()

    def handle(self, request: ProxyRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        url = urlsplit(request.path)
        referrers = _REFERRERS.match(url.path)
        if referrers and request.method == "GET":
            return self._referrers(referrers["name"], referrers["digest"], parse_qs(url.query))
        manifest = _MANIFEST.match(url.path)
        reply = self.forward(request)
        if manifest and request.method == "PUT" and reply.status == 201:
            subject = self._remember(manifest["name"], request)
            if subject:
                reply.headers.append(("OCI-Subject", subject))
        if manifest and request.method == "DELETE" and reply.status == 202:
            self._forget(manifest["name"], manifest["reference"])
        return reply

    def _remember(self, name: str, request: ProxyRequest) -> str | None:
        try:
            body = json.loads(request.body)
        except ValueError:
            return None
        subject = (body.get("subject") or {}).get("digest") if isinstance(body, dict) else None
        if not subject:
            return None
        media_type = request.header("Content-Type") or body.get("mediaType") or OCI_MANIFEST
        descriptor: dict[str, Any] = {
            "mediaType": media_type,
            "digest": "sha256:" + hashlib.sha256(request.body).hexdigest(),
            "size": len(request.body),
        }
        artifact_type = body.get("artifactType") or (body.get("config") or {}).get("mediaType")
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if body.get("annotations"):
            descriptor["annotations"] = body["annotations"]
        with self._records_lock:
            entries = self.records.setdefault((name, subject), [])
            if all(e["digest"] != descriptor["digest"] for e in entries):
                entries.append(descriptor)
        return str(subject)

    def _forget(self, name: str, digest: str) -> None:
        with self._records_lock:
            for (repo, _), entries in self.records.items():
                if repo == name:
                    entries[:] = [e for e in entries if e["digest"] != digest]

    def _referrers(self, name: str, digest: str, query: dict[str, list[str]]) -> Reply:
        with self._records_lock:
            entries = list(self.records.get((name, digest), []))
        headers = [("Content-Type", OCI_INDEX)]
        wanted = query.get("artifactType", [None])[0]
        if wanted and self.apply_filters:
            entries = [e for e in entries if e.get("artifactType") == wanted]
            headers.append(("OCI-Filters-Applied", "artifactType"))
        start = int(query.get("start", ["0"])[0])
        if self.page_size:
            page = entries[start : start + self.page_size]
            if start + self.page_size < len(entries):
                params = {"start": str(start + self.page_size)}
                if wanted:
                    params["artifactType"] = wanted
                link = f"/v2/{name}/referrers/{digest}?{urlencode(params)}"
                headers.append(("Link", f'<{link}>; rel="next"'))
        else:
            page = entries
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
        return Reply(200, headers, json.dumps(body).encode())
