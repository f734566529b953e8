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
"""

from __future__ import annotations

import logging
import platform
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

from .auth import Authenticator
from .errors import (
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    RateLimitError,
    ServerError,
    error_for_response,
    parse_retry_after,
)

__all__ = ["DEFAULT_API_VERSION", "RetryPolicy", "Timeouts", "Transport", "user_agent"]

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2026-04-15"
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})


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
        return (float(self.connect), float(self.read))


@dataclass(frozen=True)
class RetryPolicy:
    """How the transport retries.

    Attributes:
        max_attempts: Total attempts per request, including the first.
        backoff_base: First backoff interval in seconds; doubles on every retry.
        backoff_max: Cap of a single backoff interval.
        deadline: Overall time budget in seconds for one request including all retries.
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


class Transport:
    """Sends authenticated requests to a Runtime REST API base URL.

    Args:
        base_url: API base, e.g. ``https://quantum.cloud.ibm.com/api``; paths start with ``/v1``.
        authenticator: Supplies the ``Authorization`` header.
        service_crn: Instance CRN sent as ``Service-CRN`` on every call.
        session: The ``requests.Session`` to use (one per provider; shared with IAM).
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
        self.session = session if session is not None else make_session()
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

        Raises:
            ApiError: the matching subclass for an error status, a connection failure or a
                timeout, after whatever retries the policy allows.
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

        while True:
            attempt += 1
            try:
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
                response = self.session.request(
                    method, url, params=params, json=json, headers=send_headers, timeout=timeouts
                )
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
        return _json_body(self.request("GET", path, **kwargs), "GET", path)

    def close(self) -> None:
        self.session.close()


def make_session(
    *,
    proxies: Mapping[str, str] | None = None,
    verify: bool | str = True,
    pool_maxsize: int = 16,
) -> requests.Session:
    """A ``requests.Session`` with the given proxies and TLS verification (``True`` by default)."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
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
