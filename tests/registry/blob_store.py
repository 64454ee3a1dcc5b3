"""A static file server standing in for an object store behind registry redirects.

distribution's ``redirect`` storage middleware answers blob GETs with a 307 to
``<baseurl>/<storage path>``. This server serves the registry's storage directory at
that base URL (GET/HEAD with single ``Range`` support) and records the headers of
every request, so a test can check the registry's Authorization never reaches it.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class BlobStore:
    """Serve ``root`` on 127.0.0.1; ``url_for_host`` names it by another host name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url_for_host(self, hostname: str = "localhost") -> str:
        return f"http://{hostname}:{self.port}"

    def start(self) -> BlobStore:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                with store._lock:
                    store.requests.append({k.lower(): v for k, v in self.headers.items()})
                path = (store.root / self.path.split("?")[0].lstrip("/")).resolve()
                if store.root.resolve() not in path.parents or not path.is_file():
                    self._answer(404, b"not found")
                    return
                data = path.read_bytes()
                match = _RANGE.fullmatch(self.headers.get("Range", ""))
                if not match:
                    self._answer(200, data)
                    return
                start = int(match.group(1))
                end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
                if start >= len(data):
                    self._answer(416, b"", [("Content-Range", f"bytes */{len(data)}")])
                    return
                self._answer(
                    206,
                    data[start : end + 1],
                    [("Content-Range", f"bytes {start}-{end}/{len(data)}")],
                )

            def _answer(
                self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
            ) -> None:
                self.send_response(status)
                for key, value in headers or []:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        return Handler
