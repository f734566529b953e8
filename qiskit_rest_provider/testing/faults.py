"""Fault injection for the local service: a seeded TCP proxy in front of it.

:class:`~qiskit_rest_provider.testing.FaultyRuntimeServer` puts a :class:`FaultProxy` on another
loopback port in front of the local service and hands out the proxy's URL (the proxy works in
front of any HTTP service on a loopback port). For each HTTP request the
proxy may, at the configured rates and reproducibly from ``seed``:

- add latency;
- answer an error status itself (500, 502, 503, 504, or 429 with or without ``Retry-After``)
  without forwarding the request;
- reset the connection before the request reaches the service;
- forward the request, let the service process it, then reset the connection before the
  response reaches the client (the case that makes a job submission ambiguous);
- forward the request and cut the client's connection while the service is still working on it,
  ``reset_after_forward_delay`` seconds later and without waiting for the answer (a gateway that
  gives up on a slow upstream: the service goes on and may create the job after the client
  already looked for it). This mode has its own path and method filters, so a run can cut only
  ``POST /v1/jobs`` on top of uniform faults everywhere;
- fail IAM token requests (``/identity/token``) at their own rate.

Working at the TCP level is what makes real resets possible (an ASGI app cannot reset its
connection). ``counts`` records every injected fault by kind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

from ..wire.error_body import error_body

__all__ = ["FaultConfig", "FaultProxy"]

_ERROR_STATUSES = (500, 502, 503, 504, 429)
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_MAX_HEAD = 64 * 1024
#: How long a cut connection's upstream answer is awaited (and dropped) before giving up.
_DRAIN_TIMEOUT = 600.0


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject, how often, and the seed that makes a run replayable.

    Attributes:
        seed: Seed of the fault decisions.
        error_rate: Fraction of requests answered with one of ``error_statuses``.
        error_statuses: Statuses to choose from (429s carry ``Retry-After`` half of the time).
        retry_after: The ``Retry-After`` value, in seconds, when one is sent.
        reset_before_rate: Fraction of requests whose connection is reset before forwarding.
        reset_after_rate: Fraction of requests processed by the service whose response is
            replaced by a connection reset.
        reset_after_forward_rate: Fraction of requests forwarded to the service whose client
            connection is then reset ``reset_after_forward_delay`` seconds after forwarding,
            while the service may still be processing them; the answer is never relayed.
        reset_after_forward_delay: Seconds between forwarding and the cut (0: at once).
        reset_after_forward_paths: Path substrings the cut applies to (``paths`` when empty).
        reset_after_forward_methods: HTTP methods the cut applies to (``methods`` when empty).
        iam_failure_rate: Fraction of IAM token requests answered 503 or reset.
        latency: Seconds added to every request.
        paths: Only requests whose path contains one of these substrings are faulted
            (all requests when empty). Latency applies to all.
        methods: Only requests with one of these HTTP methods are faulted (all when empty).
    """

    seed: int = 0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = _ERROR_STATUSES
    retry_after: float = 0.05
    reset_before_rate: float = 0.0
    reset_after_rate: float = 0.0
    iam_failure_rate: float = 0.0
    latency: float = 0.0
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    reset_after_forward_rate: float = 0.0
    reset_after_forward_delay: float = 0.0
    reset_after_forward_paths: tuple[str, ...] = ()
    reset_after_forward_methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rates = (
            self.error_rate,
            self.reset_before_rate,
            self.reset_after_rate,
            self.reset_after_forward_rate,
        )
        if any(not 0.0 <= r <= 1.0 for r in (*rates, self.iam_failure_rate)):
            raise ValueError("fault rates must lie in [0, 1]")
        # A request may match both filters, so all its modes share one roll.
        if sum(rates) > 1.0:
            raise ValueError("error_rate + reset rates must not exceed 1")
        if self.latency < 0 or self.retry_after < 0 or self.reset_after_forward_delay < 0:
            raise ValueError("latency, retry_after and reset_after_forward_delay must be >= 0")
        if any(s not in _REASONS for s in self.error_statuses):
            raise ValueError(f"error_statuses must be among {sorted(_REASONS)}")

    @classmethod
    def uniform(cls, rate: float, *, seed: int = 0, **kwargs: Any) -> FaultConfig:
        """``rate`` of all requests faulted: half error statuses, a quarter resets before and a
        quarter resets after processing; IAM fails at the same rate."""
        return cls(
            seed=seed,
            error_rate=rate / 2,
            reset_before_rate=rate / 4,
            reset_after_rate=rate / 4,
            iam_failure_rate=rate,
            **kwargs,
        )


class _Decider:
    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def decide(self, method: str, path: str) -> tuple[str, int | None, bool]:
        """``(action, status, retry_after)`` for one request."""
        c = self.config
        method = method.upper()
        with self._lock:
            self.counts["requests"] += 1
            # Only requests that may be faulted draw random numbers, so the decisions for them
            # replay exactly whatever else (polling, say) the run did in between.
            if path.rstrip("/").endswith("/identity/token"):
                roll, pick = self._rng.random(), self._rng.random()
                if roll < c.iam_failure_rate:
                    action = "reset_before" if pick < 0.5 else "error"
                    self.counts[f"iam_{action}"] += 1
                    return action, 503, False
                return "forward", None, False
            faultable = _matches(method, path, c.paths, c.methods)
            cuttable = c.reset_after_forward_rate > 0 and _matches(
                method,
                path,
                c.reset_after_forward_paths or c.paths,
                c.reset_after_forward_methods or c.methods,
            )
            if not (faultable or cuttable):
                return "forward", None, False
            roll, pick = self._rng.random(), self._rng.random()
            if faultable:
                if roll < c.error_rate:
                    status = c.error_statuses[int(pick * len(c.error_statuses))]
                    with_header = status == 429 and self._rng.random() < 0.5
                    self.counts[f"status_{status}{'_retry_after' if with_header else ''}"] += 1
                    return "error", status, with_header
                roll -= c.error_rate
                if roll < c.reset_before_rate:
                    self.counts["reset_before"] += 1
                    return "reset_before", None, False
                roll -= c.reset_before_rate
                if roll < c.reset_after_rate:
                    self.counts[f"reset_after:{method}"] += 1
                    return "reset_after", None, False
                roll -= c.reset_after_rate
            if cuttable and roll < c.reset_after_forward_rate:
                self.counts[f"reset_after_forward:{method}"] += 1
                return "reset_after_forward", None, False
            return "forward", None, False


def _matches(method: str, path: str, paths: tuple[str, ...], methods: tuple[str, ...]) -> bool:
    """Whether a request passes a path-substring and method filter (empty filters pass all)."""
    if paths and not any(p in path for p in paths):
        return False
    return not methods or method in {m.upper() for m in methods}


class _Closed(Exception):
    pass


async def _read_message(reader: asyncio.StreamReader, *, response: bool) -> tuple[bytes, bytes]:
    """One HTTP/1.1 message: ``(head, body)``. Handles Content-Length and chunked bodies."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        raise _Closed from None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                chunk = await reader.readexactly(size + 2)
                body += size_line + chunk
                if size == 0:
                    break
            return head, bytes(body)
        length = int(headers.get("content-length", "0") or 0)
        if response and length == 0 and lines[0].split(" ")[1:2] == ["204"]:
            return head, b""
        return head, await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        raise _Closed from None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed or cut connection does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _error_response(status: int, retry_after: float | None, trace: str) -> bytes:
    body = json.dumps(
        error_body("injected_fault", f"Fault injected by the local service ({status}).", trace)
    ).encode()
    head = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after:g}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class FaultProxy:
    """A loopback TCP proxy injecting :class:`FaultConfig` faults in front of ``upstream``."""

    def __init__(self, upstream_port: int, config: FaultConfig, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self._decider = _Decider(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def config(self) -> FaultConfig:
        """The fault configuration the proxy applies."""
        return self._decider.config

    @property
    def counts(self) -> dict[str, int]:
        """Requests seen and faults injected, by kind."""
        return dict(self._decider.counts)

    def start(self) -> FaultProxy:
        """Listen on a free port of ``host`` (then in ``port``), serving from a daemon
        thread of its own; returns the proxy, once it accepts connections.

        Raises:
            RuntimeError: the proxy was not listening within 10 seconds.
        """
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        """Stop listening, cancel the connections in flight and wait (up to 10 seconds) for
        the proxy's thread to end. Does nothing if the proxy was never started."""
        loop = self._loop
        if loop is not None and self._server is not None:
            loop.call_soon_threadsafe(self._server.close)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, 0, limit=_MAX_HEAD)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _cut_after_forward(
        self, writer: asyncio.StreamWriter, up_reader: asyncio.StreamReader
    ) -> None:
        """Reset the client ``reset_after_forward_delay`` s after forwarding, answer or not;
        then let the service finish, as a gateway that gave up on its client would."""
        if self.config.reset_after_forward_delay:
            await asyncio.sleep(self.config.reset_after_forward_delay)
        _reset(writer)
        # Drain the service's answer (and drop it) so the service is not cut off mid-write;
        # bounded, so a stuck upstream cannot hold this task forever.
        with contextlib.suppress(_Closed, ConnectionError, asyncio.TimeoutError):
            await asyncio.wait_for(_read_message(up_reader, response=True), _DRAIN_TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                head, body = await _read_message(reader, response=False)
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                method, path = request_line[0], request_line[1] if len(request_line) > 1 else "/"
                action, status, with_retry_after = self._decider.decide(method, path)
                if self.config.latency:
                    await asyncio.sleep(self.config.latency)
                if action == "reset_before":
                    _reset(writer)
                    return
                if action == "error":
                    assert status is not None
                    retry_after = self.config.retry_after if with_retry_after else None
                    trace = f"fault-{self._decider.counts['requests']}"
                    writer.write(_error_response(status, retry_after, trace))
                    await writer.drain()
                    continue
                if upstream is None:
                    upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                up_reader, up_writer = upstream
                up_writer.write(head + body)
                await up_writer.drain()
                if action == "reset_after_forward":
                    await self._cut_after_forward(writer, up_reader)
                    return
                response_head, response_body = await _read_message(up_reader, response=True)
                if action == "reset_after":
                    _reset(writer)
                    return
                writer.write(response_head + response_body)
                await writer.drain()
        except (_Closed, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if upstream is not None:
                upstream[1].close()
            if not writer.is_closing():
                writer.close()
