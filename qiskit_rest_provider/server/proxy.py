"""An HTTP forward proxy in front of the local service, for clients that derive IBM Cloud hosts.

The official client (qiskit-ibm-runtime) never talks to the ``url`` it is given: it derives
``quantum.<host>``, ``iam.<host>``, ``api.global-search-tagging.<host>`` and
``globalcatalog.<host>`` from it, dropping the port, and it fetches the Runtime API's access
tokens from ``https://iam.cloud.ibm.com`` whatever the ``url``. None of these reach a service on
a loopback port, but every one of them goes through a proxy given with ``proxies=``, a
documented option of the client. :class:`CloudProxy` is that proxy, and it only ever talks to
the local service:

- a plain ``http://`` request arrives in absolute form (``POST http://iam.<host>/identity/token``)
  and is relayed, bytes unchanged, to the service, which serves every host name itself (see
  :class:`~.cloud_http.AbsoluteFormMiddleware`);
- ``CONNECT iam.cloud.ibm.com:443`` (and the private and staging IAM hosts, the only ``https://``
  hosts the client uses that its ``url`` cannot change) is answered by terminating TLS here with
  a self-signed certificate made at first use, and relaying the decrypted requests to the
  service. The client accepts that certificate only with ``verify=False``, the documented option
  for TLS-intercepting proxies. ``CONNECT`` to any other host is refused (403).

So the official client reaches the local service with documented options only::

    QiskitRuntimeService(channel="ibm_quantum_platform", token=api_key, url=server.url,
                         proxies={"urls": {"http": server.proxy_url, "https": server.proxy_url}},
                         verify=False)

Limits: request heads up to 16 KiB read within 10 s, at most ``max_connections`` connections at
once (more are answered 503), and a connection idle in both directions for ``idle_timeout``
seconds is closed. The TLS certificate needs the ``cryptography`` package (installed with
qiskit-ibm-runtime); without it ``CONNECT`` is answered 501 and plain requests still work.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as _dt
import json
import os
import ssl
import tempfile
import threading
from typing import Any

from ..wire.error_body import error_body

__all__ = ["IAM_HOSTS", "CloudProxy"]

#: The ``https://`` hosts the official client reaches whatever its ``url``: IBM Cloud IAM
#: (public, private endpoint, staging). Only these are tunnelled, to the local service.
IAM_HOSTS = frozenset(
    {
        "iam.cloud.ibm.com",
        "private.iam.cloud.ibm.com",
        "iam.test.cloud.ibm.com",
        "private.iam.test.cloud.ibm.com",
    }
)
_MAX_HEAD = 16 * 1024
_HEAD_TIMEOUT = 10.0
_CONNECT_TIMEOUT = 10.0
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _refusal(status: int, code: str, message: str) -> bytes:
    data = json.dumps(error_body(code, message)).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


def _self_signed(hosts: frozenset[str]) -> ssl.SSLContext:
    """A server TLS context with a new self-signed certificate for ``hosts``.

    Raises:
        ImportError: ``cryptography`` is not installed.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "qiskit-rest-provider local IAM proxy")]
    )
    now = _dt.datetime.now(_dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(hours=1))
        .not_valid_after(now + _dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in sorted(hosts)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ``load_cert_chain`` reads files only: write them to a private directory and remove them
    # at once (the key lives on in this process's memory only).
    with tempfile.TemporaryDirectory(prefix="qiskit-rest-proxy-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        with open(cert_path, "wb") as handle:
            handle.write(certificate.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        context.load_cert_chain(cert_path, key_path)
    return context


class _Idle:
    """The last time either direction of a relayed connection moved."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.last = loop.time()

    def touch(self) -> None:
        self.last = self.loop.time()


class CloudProxy:
    """An HTTP forward proxy on a loopback port that relays everything to one upstream service.

    Args:
        upstream_port: The local service's port.
        upstream_host: The local service's address.
        host: Address to listen on (the service's loopback address).
        port: Port to listen on (0: a free ephemeral port).
        tls_hosts: The hosts ``CONNECT`` may name (port 443 only); tunnels to them end here.
        max_connections: Connections served at once; more are answered 503.
        idle_timeout: Seconds a connection may stay idle in both directions.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        host: str = "127.0.0.1",
        port: int = 0,
        tls_hosts: frozenset[str] = IAM_HOSTS,
        max_connections: int = 128,
        idle_timeout: float = 300.0,
    ) -> None:
        self.upstream = (upstream_host, int(upstream_port))
        self.host = host
        self._port = int(port)
        self.tls_hosts = frozenset(h.lower() for h in tls_hosts)
        self.max_connections = int(max_connections)
        self.idle_timeout = float(idle_timeout)
        #: Connections by outcome: ``relayed``, ``tunnelled``, ``refused``, ``busy``.
        self.counts: collections.Counter[str] = collections.Counter()
        self._active = 0
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        """The port the proxy listens on (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The proxy's URL, for ``proxies={"http": url, "https": url}``."""
        return f"http://{self.host}:{self._port}"

    def start(self) -> CloudProxy:
        """Listen and serve in a background thread; returns ``self`` once listening."""
        self._thread = threading.Thread(target=self._run, name="cloud-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise RuntimeError(f"the proxy failed to start: {self._failure}")
        if self._server is None:
            raise RuntimeError("the proxy failed to start")
        return self

    def stop(self) -> None:
        """Stop listening and close every connection."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> CloudProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self._port, limit=_MAX_HEAD)
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported by start()
            self._failure = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(_cancel_all())
            loop.close()

    def _tls_context(self) -> ssl.SSLContext:
        with self._tls_lock:
            if self._tls is None:
                self._tls = _self_signed(self.tls_hosts)
            return self._tls

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._active >= self.max_connections:
            self.counts["busy"] += 1
            await _refuse(writer, 503, "busy", "Too many connections to the proxy; retry later.")
            writer.close()
            return
        self._active += 1
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError):
            pass  # the client or the service went away: nothing to answer
        except asyncio.CancelledError:
            pass  # the proxy is stopping: the connection just closes
        finally:
            self._active -= 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
        except asyncio.LimitOverrunError:
            self.counts["refused"] += 1
            await _refuse(
                writer, 431, "head_too_large", f"Request heads are limited to {_MAX_HEAD} bytes."
            )
            return
        line = head.split(b"\r\n", 1)[0].split(b" ")
        if len(line) != 3 or not line[2].startswith(b"HTTP/1."):
            self.counts["refused"] += 1
            await _refuse(writer, 400, "bad_request", "Malformed request line.")
            return
        if line[0] != b"CONNECT":
            self.counts["relayed"] += 1
            await self._relay(reader, writer, head)
            return
        host, _, port = line[1].decode("latin-1").rpartition(":")
        if port != "443" or host.lower() not in self.tls_hosts:
            self.counts["refused"] += 1
            await _refuse(
                writer,
                403,
                "forbidden",
                "This proxy only leads to the local Qiskit Runtime service; it tunnels "
                f"https:// to {', '.join(sorted(self.tls_hosts))} only (use http:// URLs).",
            )
            return
        loop = asyncio.get_running_loop()
        try:
            context = await loop.run_in_executor(None, self._tls_context)
        except ImportError:
            self.counts["refused"] += 1
            await _refuse(
                writer,
                501,
                "tls_unavailable",
                "Tunnelling https:// needs the 'cryptography' package (pip install cryptography).",
            )
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        writer = await _start_tls(reader, writer, context)
        self.counts["tunnelled"] += 1
        await self._relay(reader, writer, b"")

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), _CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError):
            await _refuse(writer, 502, "bad_gateway", "The local service is not reachable.")
            return
        idle = _Idle(asyncio.get_running_loop())
        try:
            up_writer.write(first)
            await up_writer.drain()
            tasks = [
                asyncio.ensure_future(self._copy(reader, up_writer, idle)),
                asyncio.ensure_future(self._copy(up_reader, writer, idle)),
            ]
            # HTTP/1.1 is request then response: once either side closes, the exchange is over.
            _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            up_writer.close()

    async def _copy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle: _Idle
    ) -> None:
        while True:
            remaining = idle.last + self.idle_timeout - idle.loop.time()
            if remaining <= 0:
                return
            try:
                data = await asyncio.wait_for(reader.read(65536), remaining)
            except asyncio.TimeoutError:
                continue  # the other direction may have moved meanwhile
            if not data:
                return
            idle.touch()
            writer.write(data)
            await writer.drain()


async def _cancel_all() -> None:
    """Cancel every other task of the running loop (the connections) and wait for them."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _refuse(writer: asyncio.StreamWriter, status: int, code: str, message: str) -> None:
    with contextlib.suppress(OSError):
        writer.write(_refusal(status, code, message))
        await writer.drain()


async def _start_tls(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext
) -> asyncio.StreamWriter:
    """Upgrade a server-side stream to TLS; the reader then yields decrypted bytes."""
    upgrade: Any = getattr(writer, "start_tls", None)
    if upgrade is not None:  # Python 3.11+
        await asyncio.wait_for(upgrade(context), _HEAD_TIMEOUT)
        return writer
    loop = asyncio.get_running_loop()
    protocol = writer.transport.get_protocol()
    transport = await asyncio.wait_for(
        loop.start_tls(writer.transport, protocol, context, server_side=True), _HEAD_TIMEOUT
    )
    if transport is None:  # the connection closed during the handshake
        raise ConnectionResetError("the client closed the connection during the TLS handshake")
    return asyncio.StreamWriter(transport, protocol, reader, loop)
