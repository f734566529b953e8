"""HTTP transport: one configured ``requests.Session``, bounded timeouts, and safe retries.

Retry rules:

* Idempotent requests (GET, PUT, DELETE, HEAD, OPTIONS) are retried with jittered exponential
  backoff, within an overall deadline, on connection errors, timeouts, 429 (honouring
  ``Retry-After``) and 500/502/503/504/520-524.
* Non-idempotent requests (POST, PATCH; in particular job submission) are retried only when the
  server certainly did not act on them: the connection could not be established, or the server
  answered 429 (rate limited: the request was refused, not processed). A connection lost after
  a POST was sent raises :class:`AmbiguousSubmissionError`; it is never blindly replayed.
* A 401 invalidates the bearer token and the request is sent once more with a fresh one.

Hostile servers:

* **Deadline.** ``RetryPolicy.deadline`` (or ``deadline=``) bounds the *whole* request:
  connecting, sending, waiting for and reading the headers and the body, and every retry. The
  connect/read timeouts bound each socket operation; the deadline bounds their sum, so a server
  that trickles a byte at a time cannot hold the caller. It is enforced by one watchdog thread
  that shuts down the socket of a request past its deadline (see :func:`request_deadline`); the
  request then fails with :class:`ApiTimeoutError`.
* **Redirects** are never followed for a request other than GET/HEAD, and GET/HEAD redirects are
  followed (at most :data:`MAX_REDIRECTS`) only within the origin (scheme, host, port) of the
  request: credentials, the ``Service-CRN`` header and bodies never go to another origin. Any
  other redirect raises :class:`RedirectError` carrying the 3xx status.
* **TLS.** The ``verify`` configured on the session (``True``, ``False`` or a CA-bundle path) is
  passed with every request, so ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` can no longer replace a
  configured bundle (they still apply when nothing but the default ``True`` is configured).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import requests
    from requests.adapters import HTTPAdapter

from ..wire.constants import DEFAULT_API_VERSION
from .errors import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    RateLimitError,
    RedirectError,
    ServerError,
    error_for_response,
    parse_retry_after,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "MAX_REDIRECTS",
    "Authenticator",
    "RetryPolicy",
    "Timeouts",
    "Transport",
    "adopt_session",
    "describe_origin",
    "make_session",
    "origin",
    "redirect_refusal",
    "request_deadline",
    "user_agent",
]

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})
#: Redirect statuses (those ``requests`` follows), and the methods whose redirects may be followed.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECTABLE_METHODS = frozenset({"GET", "HEAD"})
#: Most redirects followed for one request (all within its origin).
MAX_REDIRECTS = 5


class Authenticator(Protocol):
    """What the transport needs from an authentication scheme (implementations live in
    :mod:`.auth`, which re-exports this protocol)."""

    def authorization(self) -> str:
        """The ``Authorization`` header value to send now (fetching a token if needed)."""

    def invalidate(self, rejected: str) -> bool:
        """Forget ``rejected`` after a 401. True if a retry with a new value may succeed."""

    def secrets(self) -> tuple[str, ...]:
        """Every secret this authenticator knows, so transports can scrub them from texts."""


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts in seconds. Both are always bounded."""

    connect: float = 5.0
    read: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{name} timeout must be a positive finite number, got {value!r}")

    def as_tuple(self) -> tuple[float, float]:
        """``(connect, read)`` in seconds, the form ``requests`` takes as ``timeout=``."""
        return (float(self.connect), float(self.read))


@dataclass(frozen=True)
class RetryPolicy:
    """How the transport retries.

    Attributes:
        max_attempts: Total attempts per request, including the first.
        backoff_base: First backoff interval in seconds; doubles on every retry.
        backoff_max: Cap of a single backoff interval.
        deadline: Overall time budget in seconds for one request: every attempt (connecting,
            sending, reading headers and body), the token request it may need, and every
            retry. A server cannot hold a request past it, however slowly it answers.
        retry_statuses: HTTP statuses retried for idempotent requests.
        jitter: Fraction of each interval that is randomised (0 = none, 1 = full jitter).
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    deadline: float = 60.0
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.deadline <= 0:
            raise ValueError("backoff and deadline values must be positive")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must lie in [0, 1]")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """The sleep before retry number ``retry_number`` (1-based)."""
        interval = min(self.backoff_max, self.backoff_base * (2 ** (retry_number - 1)))
        return float(interval * (1.0 - self.jitter) + rng.uniform(0.0, interval * self.jitter))


def user_agent() -> str:
    """``qiskit-rest-provider/X qiskit/Y python/Z (os)`` without importing qiskit."""

    def _version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    return (
        f"qiskit-rest-provider/{_version('qiskit-rest-provider')} "
        f"qiskit/{_version('qiskit')} python/{platform.python_version()} ({platform.system()})"
    )


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        name = type(inner).__name__
        return name in {"NewConnectionError", "NameResolutionError", "ConnectTimeoutError"} or (
            isinstance(inner, ConnectionRefusedError)
        )
    return False


# Redirect policy ------------------------------------------------------------------------------


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, default ports filled in; None if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed port or host
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def redirect_refusal(method: str, from_url: str, location: str) -> str | None:
    """Why a redirect from ``from_url`` to ``location`` (possibly relative) must not be
    followed, or None when it may be: only GET/HEAD, and only within the same origin."""
    if method.upper() not in REDIRECTABLE_METHODS:
        return (
            f"redirects are never followed for {method.upper()} requests "
            "(the body and the credentials would be sent again)"
        )
    source = origin(from_url)
    if source is None or origin(urljoin(from_url, location)) != source:
        return "redirects to another origin are never followed (credentials stay with the origin)"
    return None


def describe_origin(url: str, location: str) -> str:
    """The origin ``location`` (relative to ``url``) points at, for error messages: never its
    path or query, and at most 100 characters."""
    target = origin(urljoin(url, location))
    if target is None:
        return "an unusable URL"
    scheme, host, port = target
    text = f"{scheme}://{host}:{port}"
    return text if len(text) <= 100 else text[:100] + "..."


# Deadlines ------------------------------------------------------------------------------------
#
# A read timeout bounds one socket operation, so a server that sends a byte just before each
# timeout expires holds a request for as long as it likes (through the status line, the headers
# or the body). The deadline bounds the whole request instead: each request runs inside a
# ``request_deadline`` scope, the connections it uses enlist in that scope (our urllib3
# connection classes do this from ``connect``/``request``), and one watchdog thread shuts down
# the sockets of scopes whose deadline has passed. The blocked read then returns at once and the
# request fails; the scope records that it "fired" so the caller raises a timeout (and never
# mistakes a body cut short by the watchdog for a complete one).


class _Watch:
    """One request's deadline and the connections it is using."""

    __slots__ = ("conns", "deadline", "fired", "sent")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conns: list[Any] = []
        #: The deadline passed while the scope was open.
        self.fired = False
        #: A request was (at least partly) sent on one of the connections.
        self.sent = False


def _sever(conn: Any) -> bool:
    """Shut down a connection's socket so a read blocked on it returns; False if it has none
    yet (still resolving or connecting: try again shortly)."""
    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    raw = sock if isinstance(sock, socket.socket) else getattr(sock, "socket", None)
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            # socket.socket.shutdown, not SSLSocket.shutdown: the latter also drops the TLS
            # state under the feet of the thread that is reading.
            socket.socket.shutdown(raw, socket.SHUT_RDWR)
    return True


class _Watchdog:
    """One daemon thread that enforces every open :func:`request_deadline` scope."""

    #: How often a fired scope whose connection has no socket yet is looked at again.
    RETRY_INTERVAL = 0.05

    def __init__(self) -> None:
        self.reset_after_fork()

    def reset_after_fork(self) -> None:
        """Start empty: no scope, no thread (also what a forked child needs, which inherits
        neither the watchdog thread nor a usable lock)."""
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None
        #: When the thread will look next (None: when notified); added scopes that end later
        #: need not wake it.
        self._wake: float | None = None

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="qiskit-rest-deadlines", daemon=True
                )
                self._thread.start()
            if self._wake is None or watch.deadline < self._wake:
                self._cond.notify()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)
            for conn in watch.conns:
                conn._qrp_watch = None  # noqa: SLF001 - our own tag on urllib3's connection
            watch.conns.clear()

    def enlist(self, conn: Any, *, sending: bool) -> None:
        """Attach ``conn`` to the calling thread's innermost scope, if there is one."""
        watch = getattr(_scope, "watch", None)
        if not isinstance(watch, _Watch):
            return
        with self._cond:
            if watch.fired:
                raise TimeoutError("the request's deadline has passed")
            if id(getattr(conn, "_qrp_watch", None)) != id(watch):  # not enlisted here yet
                self._detach_locked(conn)
                conn._qrp_watch = watch  # noqa: SLF001 - our own tag (see remove)
                watch.conns.append(conn)
            if sending:
                watch.sent = True

    def detach(self, conn: Any) -> None:
        """Detach ``conn`` from its scope (it goes back to the pool, or is closed)."""
        with self._cond:
            self._detach_locked(conn)

    @staticmethod
    def _detach_locked(conn: Any) -> None:
        watch: _Watch | None = getattr(conn, "_qrp_watch", None)
        if watch is not None:
            conn._qrp_watch = None  # noqa: SLF001 - our own tag (see remove)
            with contextlib.suppress(ValueError):
                watch.conns.remove(conn)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                wake: float | None = None
                for watch in self._watches:
                    if now < watch.deadline:
                        wake = watch.deadline if wake is None else min(wake, watch.deadline)
                        continue
                    watch.fired = True
                    pending = [conn for conn in watch.conns if not _sever(conn)]
                    watch.conns[:] = pending
                    if pending:
                        retry = now + self.RETRY_INTERVAL
                        wake = retry if wake is None else min(wake, retry)
                self._wake = wake
                self._cond.wait(None if wake is None else max(0.0, wake - now))


_scope = threading.local()
_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread (and maybe a held lock)
    os.register_at_fork(after_in_child=_WATCHDOG.reset_after_fork)


@contextlib.contextmanager
def request_deadline(deadline: float) -> Iterator[_Watch]:
    """Bound every request the calling thread sends in this scope by ``deadline`` (a
    ``time.monotonic()`` value), through sessions from :func:`make_session` or
    :func:`adopt_session`. Scopes nest: the inner one ends at the earlier deadline.

    The yielded object's ``fired`` attribute tells whether the deadline passed; a request that
    fails (or even returns) with ``fired`` set must be treated as timed out.
    """
    outer: _Watch | None = getattr(_scope, "watch", None)
    if outer is not None:
        deadline = min(deadline, outer.deadline)
    watch = _Watch(deadline)
    _scope.watch = watch
    _WATCHDOG.add(watch)
    try:
        yield watch
    finally:
        _WATCHDOG.remove(watch)
        _scope.watch = outer


class _HttpClasses(NamedTuple):
    session: type[requests.Session]
    adapter: type[HTTPAdapter]


@functools.cache
def _http_classes() -> _HttpClasses:
    """Build the session and adapter classes on first use (``requests`` and ``urllib3`` are
    imported lazily so that ``import qiskit_rest_provider`` stays light)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class DeadlineConnection:
        """Enlists in the calling thread's deadline scope when it connects or sends (mixed into
        urllib3's plain and TLS connections, so the TLS handshake is covered too)."""

        def connect(self) -> None:
            _WATCHDOG.enlist(self, sending=False)
            super().connect()  # type: ignore[misc]

        def request(self, *args: Any, **kwargs: Any) -> None:
            _WATCHDOG.enlist(self, sending=True)
            super().request(*args, **kwargs)  # type: ignore[misc]

        def close(self) -> None:
            _WATCHDOG.detach(self)
            super().close()  # type: ignore[misc]

    class DeadlinePool:
        """Detaches a connection from its request's scope when it goes back to the pool: a late
        watchdog must not cut it while another request uses it."""

        def _put_conn(self, conn: Any) -> None:
            if conn is not None:
                _WATCHDOG.detach(conn)
            super()._put_conn(conn)  # type: ignore[misc]

    class DeadlineHTTPConnection(DeadlineConnection, HTTPConnection):
        pass

    class DeadlineHTTPSConnection(DeadlineConnection, HTTPSConnection):
        pass

    class DeadlineHTTPConnectionPool(DeadlinePool, HTTPConnectionPool):
        ConnectionCls = DeadlineHTTPConnection

    class DeadlineHTTPSConnectionPool(DeadlinePool, HTTPSConnectionPool):
        ConnectionCls = DeadlineHTTPSConnection

    pools = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}

    class DeadlineAdapter(HTTPAdapter):
        """An ``HTTPAdapter`` whose connections honour :func:`request_deadline` scopes."""

        def init_poolmanager(
            self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
        ) -> None:
            super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS managers bring their own pools
                manager.pool_classes_by_scheme = pools
            return manager

    class HardenedSession(requests.Session):
        """A ``requests.Session`` that never carries credentials to another origin and whose
        configured ``verify`` wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.

        Redirects are followed (``allow_redirects=True``) only for GET/HEAD and only within the
        origin; any other redirect response is returned as is, for the caller to refuse.
        """

        def __init__(self) -> None:
            super().__init__()
            self.max_redirects = MAX_REDIRECTS

        def get_redirect_target(self, resp: requests.Response) -> str | None:
            target = super().get_redirect_target(resp)
            if target is None or resp.request.method is None:
                return None
            if redirect_refusal(resp.request.method, resp.url, target) is not None:
                return None
            return target

        def merge_environment_settings(
            self,
            url: Any,
            proxies: Any,
            stream: Any,
            verify: Any,
            cert: Any,
        ) -> Any:
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE replace a per-request verify of
            # None or True, and a per-request value beats the session's: a session configured
            # with a CA bundle (or False) would silently use the environment's instead.
            if verify is None:
                verify = self.verify
            return super().merge_environment_settings(url, proxies, stream, verify, cert)

    return _HttpClasses(HardenedSession, DeadlineAdapter)


def adopt_session(session: requests.Session) -> requests.Session:
    """Mount deadline-enforcing adapters on ``session`` for ``http://`` and ``https://``
    (keeping the pool sizes and retry setting of the adapters they replace), so that
    :func:`request_deadline` bounds its requests. Sessions from :func:`make_session` already
    have them. Returns ``session``."""
    from requests.adapters import HTTPAdapter

    adapter_class = _http_classes().adapter
    for prefix in ("https://", "http://"):
        current = session.adapters.get(prefix)
        if isinstance(current, adapter_class):
            continue
        if isinstance(current, HTTPAdapter):
            replacement = adapter_class(
                pool_connections=getattr(current, "_pool_connections", 10),
                pool_maxsize=getattr(current, "_pool_maxsize", 10),
                max_retries=current.max_retries,
                pool_block=getattr(current, "_pool_block", False),
            )
        else:
            replacement = adapter_class(max_retries=0)
        session.mount(prefix, replacement)
    return session


class _DeadlineExceeded(Exception):
    """Internal: a request's deadline passed; ``sent`` tells whether it may have been acted on."""

    def __init__(self, sent: bool) -> None:
        super().__init__("deadline exceeded")
        self.sent = sent


class Transport:
    """Sends authenticated requests to a Runtime REST API base URL.

    Args:
        base_url: API base, e.g. ``https://quantum.cloud.ibm.com/api``; paths start with ``/v1``.
        authenticator: Supplies the ``Authorization`` header.
        service_crn: Instance CRN sent as ``Service-CRN`` on every call.
        session: The ``requests.Session`` to use (one per provider; shared with IAM). A
            session not made by :func:`make_session` gets deadline-enforcing adapters mounted
            (:func:`adopt_session`).
        api_version: Value of the ``IBM-API-Version`` header.
        timeouts: Connect/read timeouts applied to every request unless overridden.
        retry: The retry policy.
        extra_headers: Extra headers for every request (e.g. a client-application tag).
        sleep: Sleep function; injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        authenticator: Authenticator,
        *,
        service_crn: str | None,
        session: requests.Session | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.authenticator = authenticator
        self.service_crn = service_crn
        self.session = adopt_session(session) if session is not None else make_session()
        self.api_version = api_version
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._headers: dict[str, str] = {"Accept": "application/json", "User-Agent": user_agent()}
        if api_version:
            self._headers["IBM-API-Version"] = api_version
        if service_crn:
            self._headers["Service-CRN"] = service_crn
        self._headers.update(extra_headers or {})
        self._stats_lock = threading.Lock()
        #: Counters: ``requests``, ``retries``, ``auth_refreshes`` and one per ``METHOD status``.
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, api_version={self.api_version!r})"

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def _scrub(self, text: str) -> str:
        for secret in self.authenticator.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeouts | None = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
        ok_statuses: Iterable[int] = (),
        settled_statuses: Iterable[int] = (),
    ) -> requests.Response:
        """Send a request and return the successful response (2xx, or one of ``ok_statuses``).

        ``settled_statuses`` are also returned, but only on a retry after an attempt the server
        may have carried out (its response was lost, or it answered 5xx): for a ``DELETE``, a
        404 then means the first attempt already deleted the resource.

        ``deadline`` (seconds; default ``RetryPolicy.deadline``) bounds the whole call: the
        token request, every attempt including reading the response body, and the backoffs.

        Raises:
            ApiError: the matching subclass for an error status, a connection failure or a
                timeout, after whatever retries the policy allows.
            ApiTimeoutError: the deadline passed (an idempotent request, or one never sent).
            AmbiguousSubmissionError: a non-idempotent request failed or ran out of time after
                it was sent.
            RedirectError: the server redirected a non-GET request, or to another origin.
        """
        import requests

        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.base_url + path
        policy = self.retry
        budget = policy.deadline if deadline is None else deadline
        started = time.monotonic()
        ok = set(ok_statuses)
        settled = set(settled_statuses)
        maybe_done = False  # an earlier attempt may have taken effect on the server
        send_headers = dict(self._headers)
        if json is not None:
            send_headers["Content-Type"] = "application/json"
        send_headers.update(headers or {})
        attempt = 0
        refreshed = False
        timeouts = (timeout or self.timeouts).as_tuple()

        ends_at = started + budget
        while True:
            attempt += 1
            try:
                # A token request made here is bounded by this request's deadline too.
                with request_deadline(ends_at):
                    authorization = self.authenticator.authorization()
            except (ApiConnectionError, ApiTimeoutError, ServerError, RateLimitError) as exc:
                # Fetching a token is safe to repeat: retry it within this request's budget.
                retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
                delay = self._next_delay(attempt, retry_after, started, budget)
                if delay is None:
                    raise
                logger.info("IAM token request failed (%s); retry in %.2f s", exc, delay)
                self._count("token_retries")
                self._sleep(delay)
                continue
            send_headers["Authorization"] = authorization
            self._count("requests")
            t0 = time.monotonic()
            try:
                response = self._send(
                    method, url, path, params, json, send_headers, timeouts, ends_at
                )
            except _DeadlineExceeded as exc:
                self._count("deadlines_exceeded")
                if exc.sent and not idempotent:
                    raise AmbiguousSubmissionError(
                        f"the request's deadline of {budget:g} s passed after it was sent; "
                        "the server may have processed it",
                        method=method,
                        path=path,
                    ) from None
                raise ApiTimeoutError(
                    f"the request did not complete within its deadline of {budget:g} s",
                    method=method,
                    path=path,
                ) from None
            except requests.RequestException as exc:
                not_sent = _not_sent(exc)
                maybe_done = maybe_done or not not_sent
                self._count("connection_errors")
                failure = self._connection_failure(exc, method, path)
                retryable = idempotent or not_sent
                if not retryable:
                    raise AmbiguousSubmissionError(
                        f"the connection failed after the request was sent "
                        f"({type(exc).__name__}); the server may have processed it",
                        method=method,
                        path=path,
                    ) from None
                delay = self._next_delay(attempt, None, started, budget)
                if delay is None:
                    raise failure from None
                logger.info(
                    "%s %s: %s; retry %d in %.2f s",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                self._count("retries")
                self._sleep(delay)
                continue

            status = response.status_code
            elapsed = time.monotonic() - t0
            self._count(f"{method} {status}")
            logger.debug("%s %s -> %d in %.3f s", method, path, status, elapsed)
            if 200 <= status < 300 or status in ok or (maybe_done and status in settled):
                return response

            if status == 401 and not refreshed:
                refreshed = True
                if self.authenticator.invalidate(authorization):
                    self._count("auth_refreshes")
                    logger.info("%s %s: 401, refreshing the access token once", method, path)
                    attempt -= 1  # the refresh retry does not consume the retry budget
                    continue

            error = error_for_response(
                status, self._scrub(response.text), response.headers, method=method, path=path
            )
            maybe_done = maybe_done or status >= 500
            retryable_status = (idempotent and status in policy.retry_statuses) or status == 429
            if not retryable_status:
                raise error
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self._next_delay(attempt, retry_after, started, budget)
            if delay is None:
                raise error
            logger.info("%s %s: HTTP %d; retry %d in %.2f s", method, path, status, attempt, delay)
            self._count("retries")
            self._sleep(delay)

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        params: Any,
        json: Any,
        headers: Mapping[str, str],
        timeouts: tuple[float, float],
        ends_at: float,
    ) -> requests.Response:
        """One attempt, bounded by ``ends_at``: the request, then any same-origin GET
        redirects, each read completely.

        Raises:
            _DeadlineExceeded: the deadline passed (whatever the request's outcome).
            RedirectError: a redirect that must not be followed.
            requests.RequestException: the attempt failed otherwise.
        """
        import requests

        with request_deadline(ends_at) as watch:
            try:
                response = self._follow(method, url, path, params, json, headers, timeouts)
            except requests.RequestException:
                if watch.fired:
                    raise _DeadlineExceeded(watch.sent) from None
                raise
            if watch.fired:
                # Also when a response came back: the watchdog may have cut its body short,
                # and a body framed by the end of the connection would then look complete.
                response.close()
                raise _DeadlineExceeded(watch.sent)
        return response

    def _follow(
        self,
        method: str,
        url: str,
        path: str,
        params: Any,
        json: Any,
        headers: Mapping[str, str],
        timeouts: tuple[float, float],
    ) -> requests.Response:
        """Send, following redirects only where :func:`redirect_refusal` allows it."""
        target, query = url, params
        for hop in range(MAX_REDIRECTS + 1):
            response = self.session.request(
                method,
                target,
                params=query,
                json=json,
                headers=headers,
                timeout=timeouts,
                allow_redirects=False,
                verify=self.session.verify,  # the configured value, not the environment's
            )
            status = response.status_code
            location = response.headers.get("Location")
            if status not in REDIRECT_STATUSES or location is None:
                return response
            response.close()
            self._count(f"{method} {status}")
            where = self._scrub(describe_origin(response.url, location))
            refusal = redirect_refusal(method, url, urljoin(response.url, location))
            if refusal is None and hop == MAX_REDIRECTS:
                refusal = f"more than {MAX_REDIRECTS} redirects"
            if refusal is not None:
                raise RedirectError(
                    f"refused the redirect to {where}: {refusal}",
                    status_code=status,
                    method=method,
                    path=path,
                )
            logger.debug("%s %s: HTTP %d, following to %s", method, path, status, where)
            target, query = urljoin(response.url, location), None
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _next_delay(
        self, attempt: int, retry_after: float | None, started: float, budget: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None when retries are exhausted."""
        if attempt >= self.retry.max_attempts:
            return None
        delay = self.retry.backoff(attempt, self._rng)
        if retry_after is not None:
            delay = max(delay, retry_after)
        remaining = budget - (time.monotonic() - started)
        if delay >= remaining:
            return None
        return delay

    def _connection_failure(
        self, exc: requests.RequestException, method: str, path: str
    ) -> ApiError:
        kind = type(exc).__name__
        import requests

        if isinstance(exc, requests.Timeout):
            return ApiTimeoutError(f"request timed out ({kind})", method=method, path=path)
        return ApiConnectionError(f"connection failed ({kind})", method=method, path=path)

    # Convenience wrappers -------------------------------------------------------------------

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """``GET path`` through :meth:`request` (same keyword arguments) and return the parsed
        JSON body, or None for a 204 or an empty body.

        Raises:
            ~qiskit_rest_provider.errors.ApiError: as :meth:`request` does, and when the body is not
                JSON.
        """
        return _json_body(self.request("GET", path, **kwargs), "GET", path)

    def close(self) -> None:
        """Close the ``requests.Session`` and its pooled connections (shared with IAM when the
        authenticator was given the same session)."""
        self.session.close()


def make_session(
    *,
    proxies: Mapping[str, str] | None = None,
    verify: bool | str = True,
    pool_maxsize: int = 16,
) -> requests.Session:
    """A hardened ``requests.Session`` with the given proxies and TLS verification (``True`` by
    default): requests sent through it honour :func:`request_deadline` scopes, it follows
    redirects only for GET/HEAD within one origin, and its ``verify`` wins over the CA-bundle
    environment variables."""
    classes = _http_classes()
    session = classes.session()
    adapter = classes.adapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent()
    if proxies:
        session.proxies.update(proxies)
    session.verify = verify
    # Proxies and CA bundles are taken from our configuration, not silently from the environment.
    session.trust_env = not proxies
    return session


def _json_body(response: requests.Response, method: str, path: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ApiError(
            "the server answered with a body that is not JSON",
            status_code=response.status_code,
            method=method,
            path=path,
        ) from None
