"""A tiny scripted HTTP server on 127.0.0.1 for transport tests (real sockets, no patching)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, str], bytes]


def jwt(lifetime: int, iat: int | None = None) -> str:
    now = int(time.time()) if iat is None else iat

    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'none'})}.{enc({'iat': now, 'exp': now + lifetime})}.sig"


class ScriptedServer:
    """Answers each request with the next scripted reply for its (method, path)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.scripts: dict[tuple[str, str], list[Reply | Callable[[dict[str, Any]], Reply]]] = {}
        self.token_lifetime = 3600
        self.tokens_issued = 0
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
                if path == "/identity/token":
                    owner.tokens_issued += 1
                    reply: Reply = (
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
                    queue = owner.scripts.get((self.command, path))
                    item = queue.pop(0) if queue else (200, {}, b'{"ok": true}')
                    reply = item(record) if callable(item) else item
                status, headers, payload = reply
                if status == -1:  # drop the connection without answering
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

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
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
