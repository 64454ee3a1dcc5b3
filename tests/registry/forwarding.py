"""A minimal HTTP/1.1 forwarding server on 127.0.0.1, the base of the test proxies.

It reads each request, hands it to :meth:`ForwardingServer.handle` (subclasses add
faults or endpoints there) and relays the upstream answer, optionally paced by a
shared bandwidth limit. It keeps a log of requests for assertions, uses socket
timeouts, and shuts itself down after ``max_lifetime`` seconds so a forgotten
instance cannot outlive the test run.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
SOCKET_TIMEOUT = 30.0
DEFAULT_LIFETIME = 900.0
RELAY_CHUNK = 16 * 1024


@dataclass
class ProxyRequest:
    """One request as received: method, path with query, headers and body."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@dataclass
class Reply:
    """A response to relay: status, headers and either a body or an upstream stream."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    stream: http.client.HTTPResponse | None = None
    length: int | None = None
    connection: http.client.HTTPConnection | None = None


@dataclass
class Pacer:
    """A bandwidth limit shared by every connection (``rate`` bytes/s, 0 = unlimited)."""

    rate: float = 0.0
    _next_free: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, count: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            start = max(time.monotonic(), self._next_free)
            self._next_free = start + count / self.rate
            finish = self._next_free
        delay = finish - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class ForwardingServer:
    """Forward every request to ``upstream`` (``host:port``, plain HTTP)."""

    def __init__(
        self,
        upstream: str,
        *,
        bandwidth: float = 0.0,
        latency: float = 0.0,
        max_lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.upstream = upstream
        self.pacer = Pacer(bandwidth)
        self.latency = latency
        self.log: list[tuple[str, str, dict[str, str], int]] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(max_lifetime, self.stop)
        self._timer.daemon = True
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> ForwardingServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ForwardingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, request: ProxyRequest, status: int) -> None:
        with self._lock:
            headers = {k.lower(): v for k, v in request.headers}
            self.log.append((request.method, request.path, headers, status))

    # Subclass hooks ---------------------------------------------------------------------

    def handle(self, request: ProxyRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        """The reply to send, or None when the connection was dropped on purpose."""
        return self.forward(request)

    def forward(self, request: ProxyRequest, body: bytes | None = None) -> Reply:
        """Send ``request`` upstream and return its answer as a streaming reply."""
        if self.latency:
            time.sleep(self.latency)
        host, _, port = self.upstream.partition(":")
        connection = http.client.HTTPConnection(host, int(port or 80), timeout=SOCKET_TIMEOUT)
        data = request.body if body is None else body
        headers = {
            k: v
            for k, v in request.headers
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
        }
        if data or request.method in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(data))
        try:
            connection.request(request.method, request.path, body=data or None, headers=headers)
            upstream = connection.getresponse()
        except OSError as error:
            connection.close()
            message = f"proxy: upstream {self.upstream} unreachable: {error}".encode()
            return Reply(502, [("Content-Type", "text/plain")], message)
        reply_headers = [
            (k, v)
            for k, v in upstream.getheaders()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
        ]
        length = upstream.getheader("Content-Length")
        if request.method == "HEAD":
            upstream.read()
            connection.close()
            return Reply(upstream.status, reply_headers, length=int(length) if length else 0)
        if length is None:
            body_bytes = upstream.read()
            connection.close()
            return Reply(upstream.status, reply_headers, body_bytes)
        return Reply(
            upstream.status,
            reply_headers,
            stream=upstream,
            length=int(length),
            connection=connection,
        )

    # Plumbing ----------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = SOCKET_TIMEOUT
            # Like Go's net/http (and so every real registry): without TCP_NODELAY each
            # response waits ~40 ms for the client's delayed ACK between head and body.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                request = ProxyRequest(
                    self.command, self.path, list(self.headers.items()), self._read_body()
                )
                reply = proxy.handle(request, self)
                if reply is None:
                    proxy.record(request, 0)
                    self.close_connection = True
                    return
                proxy.record(request, reply.status)
                proxy._relay(self, reply)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        return Handler

    def _relay(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response(reply.status)
        for key, value in reply.headers:
            handler.send_header(key, value)
        length = reply.length if reply.length is not None else len(reply.body)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        try:
            if reply.stream is None:
                self._send(handler, reply.body)
                return
            while chunk := reply.stream.read(RELAY_CHUNK):
                self._send(handler, chunk)
        finally:
            if reply.stream is not None:
                reply.stream.close()
            if reply.connection is not None:
                reply.connection.close()

    def _send(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        for start in range(0, len(data), RELAY_CHUNK):
            piece = data[start : start + RELAY_CHUNK]
            self.pacer.take(len(piece))
            with self._lock:  # counted before the write, so a reader never sees it lag
                self.bytes_sent += len(piece)
            handler.wfile.write(piece)
