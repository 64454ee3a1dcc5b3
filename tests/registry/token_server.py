"""A small bearer-token server for the token-auth registry in the tests.

It implements the docker token endpoint (``GET realm?service=..&scope=..``): checks
Basic credentials against a user table, grants every requested repository scope to
a known user (anonymous callers get pull only) and returns a JWT that distribution
verifies against the CA in its ``rootcertbundle``. Test knobs: count requests, hand
out already-expired tokens, and shorten ``expires_in``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .pki import KeyPair, sign_jwt

TOKEN_LIFETIME = 300
EXPIRED_AGE = 3600


class TokenServer:
    """Issue JWTs for ``service`` signed by ``signer``; bound to 127.0.0.1 only."""

    def __init__(
        self,
        signer: KeyPair,
        users: dict[str, str],
        *,
        service: str,
        issuer: str,
        allow_anonymous: bool = False,
    ) -> None:
        self.signer = signer
        self.users = users
        self.service = service
        self.issuer = issuer
        self.allow_anonymous = allow_anonymous
        self.expires_in = TOKEN_LIFETIME
        self.expired_tokens_to_issue = 0
        self.requests: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def issue_expired(self, count: int) -> None:
        """Make the next ``count`` tokens already expired (the registry will refuse them)."""
        with self._lock:
            self.expired_tokens_to_issue = count

    def _user(self, header: str | None) -> str | bool | None:
        """The user name, None for anonymous, False for wrong credentials."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user if self.users.get(user) == password else False

    def _access(self, scopes: list[str], user: str | None) -> list[dict[str, object]]:
        access: list[dict[str, object]] = []
        for scope in scopes:
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                wanted = [a for a in actions.split(",") if a]
                granted = wanted if user else [a for a in wanted if a == "pull"]
                if kind and name and granted:
                    access.append({"type": kind, "name": name, "actions": granted})
        return access

    def _token(self, user: str | None, scopes: list[str]) -> tuple[str, int]:
        now = int(time.time())
        with self._lock:
            expired = self.expired_tokens_to_issue > 0
            if expired:
                self.expired_tokens_to_issue -= 1
            expires_in = self.expires_in
        issued = now - EXPIRED_AGE if expired else now
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "iat": issued,
            "nbf": issued - 10,
            "exp": issued + TOKEN_LIFETIME,
            "jti": uuid.uuid4().hex,
            "access": self._access(scopes, user),
        }
        return sign_jwt(self.signer, claims), expires_in

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                user = server._user(self.headers.get("Authorization"))
                with server._lock:
                    server.requests.append(
                        {
                            "user": user,
                            "scope": query.get("scope", []),
                            "service": query.get("service", [""])[0],
                        }
                    )
                if url.path != "/token":
                    self._reply(404, {"details": "no such endpoint"})
                elif user is False or (user is None and not server.allow_anonymous):
                    self._reply(401, {"details": "incorrect username or password"})
                else:
                    token, expires_in = server._token(user or None, query.get("scope", []))
                    self._reply(
                        200, {"token": token, "access_token": token, "expires_in": expires_in}
                    )

            def _reply(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
