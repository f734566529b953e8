"""A tiny scripted HTTP server on 127.0.0.1 for transport tests (real sockets, no patching).

Besides scripted replies it can play the hostile parts the client must survive: a reply whose
payload is a :class:`Trickle` is sent one byte at a time (optionally the status line and headers
too); ``CONNECT`` requests are recorded and refused (so the server doubles as a recording proxy);
with ``tls=`` it serves HTTPS.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def jwt(lifetime: int, iat: int | None = None) -> str:
    now = int(time.time()) if iat is None else iat

    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'none'})}.{enc({'iat': now, 'exp': now + lifetime})}.sig"


@dataclass
class Trickle:
    """A payload sent one byte every ``interval`` seconds (a slow-loris server).

    With ``head=True`` the status line and headers are trickled too. ``sent`` counts the bytes
    written so far (head included), ``body_sent`` those of ``data``; ``finished`` is set once
    everything was written.
    """

    data: bytes
    interval: float = 0.5
    head: bool = False
    sent: int = 0
    body_sent: int = 0
    finished: bool = False


Reply = tuple[int, dict[str, str], bytes | Trickle]


class ScriptedServer:
    """Answers each request with the next scripted reply for its (method, path).

    ``POST /identity/token`` answers a fresh JWT unless a reply is scripted for it. ``CONNECT``
    (a client using this server as its HTTPS proxy) is recorded and answered 403 unless
    scripted. ``tls`` is a server-side ``ssl.SSLContext`` to serve HTTPS with.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.scripts: dict[tuple[str, str], list[Reply | Callable[[dict[str, Any]], Reply]]] = {}
        self.token_lifetime = 3600
        self.tokens_issued = 0
        self._stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                record = {
                    "method": self.command,
                    "path": path,
                    "headers": dict(self.headers),
                    "body": body,
                    "query": self.path.partition("?")[2],
                }
                owner.requests.append(record)
                queue = owner.scripts.get((self.command, path))
                if queue:
                    item = queue.pop(0)
                    reply = item(record) if callable(item) else item
                elif self.command == "CONNECT":
                    reply = (403, {}, b"")
                elif path == "/identity/token":
                    owner.tokens_issued += 1
                    reply = (
                        200,
                        {},
                        json.dumps(
                            {
                                "access_token": jwt(owner.token_lifetime)
                                + str(owner.tokens_issued),
                                "expires_in": owner.token_lifetime,
                            }
                        ).encode(),
                    )
                else:
                    reply = (200, {}, b'{"ok": true}')
                status, headers, payload = reply
                if status == -1:  # drop the connection without answering
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if isinstance(payload, Trickle):
                    self._trickle(status, headers, payload)
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                if self.command == "CONNECT":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client already gave up
                    self.close_connection = True

            def _trickle(self, status: int, headers: dict[str, str], payload: Trickle) -> None:
                self.close_connection = True
                head = f"HTTP/1.1 {status} Slow\r\n" + "".join(
                    f"{k}: {v}\r\n"
                    for k, v in {**headers, "Content-Length": str(len(payload.data))}.items()
                )
                head_bytes = (head + "\r\n").encode("latin-1")
                if not payload.head:
                    self.wfile.write(head_bytes)
                    payload.sent += len(head_bytes)
                    head_bytes = b""
                stream = head_bytes + payload.data
                try:
                    for i in range(len(stream)):
                        self.wfile.write(stream[i : i + 1])
                        payload.sent += 1
                        payload.body_sent += i >= len(head_bytes)
                        if owner._stopping.wait(payload.interval):
                            return
                    payload.finished = True
                except OSError:  # the client gave up: that is the point
                    return

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_CONNECT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.port = self._httpd.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def script(
        self, method: str, path: str, *replies: Reply | Callable[[dict[str, Any]], Reply]
    ) -> None:
        self.scripts.setdefault((method, path), []).extend(replies)

    def calls(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r["method"] == method and r["path"] == path)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
