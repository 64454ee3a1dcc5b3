"""A fault-injecting HTTP proxy in front of the test registry (127.0.0.1 only).

Rules pick requests by method and path pattern and fire on the Nth match:

- ``status``: answer with an HTTP status (e.g. 503) without forwarding;
- ``drop``: close the connection without an answer, before forwarding;
- ``drop_mid_request``: forward only half of the body upstream, then close both sides;
- ``drop_mid_response``: forward, relay half of the answer body, then close;
- ``redirect``: answer 307 with ``location`` + the request path (another origin);
- ``call``: run ``callback`` (e.g. stop the registry), then forward.

It also limits bandwidth and adds latency per request (the lazy-reading benchmark
uses 10 MB/s and 20 ms), and stops by itself after ``max_lifetime`` seconds.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from .forwarding import DEFAULT_LIFETIME, SOCKET_TIMEOUT, ForwardingServer, ProxyRequest, Reply

ACTIONS = frozenset({"status", "drop", "drop_mid_request", "drop_mid_response", "redirect", "call"})


@dataclass
class Fault:
    """Fire ``action`` on matching requests number ``nth`` .. ``nth + times - 1``."""

    action: str
    method: str | None = None
    path: str | None = None
    nth: int = 1
    times: int = 1
    status: int = 503
    location: str | None = None
    callback: Callable[[], None] | None = None
    seen: int = 0
    fired: int = 0
    pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}")
        self.pattern = re.compile(self.path) if self.path else None

    def matches(self, request: ProxyRequest) -> bool:
        if self.method and request.method != self.method:
            return False
        return self.pattern is None or bool(self.pattern.search(request.path))


class FaultProxy(ForwardingServer):
    """A :class:`ForwardingServer` that applies :class:`Fault` rules."""

    def __init__(
        self,
        upstream: str,
        faults: list[Fault] | None = None,
        *,
        bandwidth: float = 0.0,
        latency: float = 0.0,
        max_lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        super().__init__(upstream, bandwidth=bandwidth, latency=latency, max_lifetime=max_lifetime)
        self.faults = list(faults or [])
        self._fault_lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._fault_lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._fault_lock:
            self.faults.clear()

    def _firing(self, request: ProxyRequest) -> Fault | None:
        with self._fault_lock:
            chosen = None
            for fault in self.faults:
                if not fault.matches(request):
                    continue
                fault.seen += 1
                if chosen is None and fault.nth <= fault.seen < fault.nth + fault.times:
                    fault.fired += 1
                    chosen = fault
            return chosen

    def handle(self, request: ProxyRequest, handler: BaseHTTPRequestHandler) -> Reply | None:
        fault = self._firing(request)
        if fault is None:
            return self.forward(request)
        if fault.action == "status":
            body = f'{{"errors":[{{"code":"UNAVAILABLE","message":"injected {fault.status}"}}]}}'
            return Reply(fault.status, [("Content-Type", "application/json")], body.encode())
        if fault.action == "drop":
            return None
        if fault.action == "drop_mid_request":
            self._send_half_upstream(request)
            return None
        if fault.action == "redirect":
            return Reply(307, [("Location", f"{fault.location}{request.path}")])
        if fault.action == "call":
            assert fault.callback is not None
            fault.callback()
            return self.forward(request)
        reply = self.forward(request)
        self._relay_half(handler, reply)
        return None

    def _send_half_upstream(self, request: ProxyRequest) -> None:
        """Start the request upstream with its full length, send half the body, hang up."""
        host, _, port = self.upstream.partition(":")
        head = [f"{request.method} {request.path} HTTP/1.1"]
        head += [f"{k}: {v}" for k, v in request.headers if k.lower() != "content-length"]
        head.append(f"Content-Length: {len(request.body)}")
        with socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            sock.sendall(request.body[: len(request.body) // 2])
            sock.shutdown(socket.SHUT_RDWR)

    def _relay_half(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        """Send the status, headers and half the body, then close the connection."""
        handler.send_response(reply.status)
        for key, value in reply.headers:
            handler.send_header(key, value)
        length = reply.length if reply.length is not None else len(reply.body)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        body = reply.stream.read(length // 2) if reply.stream is not None else reply.body
        handler.wfile.write(body[: length // 2])
        handler.wfile.flush()
        if reply.stream is not None:
            reply.stream.close()
        if reply.connection is not None:
            reply.connection.close()
