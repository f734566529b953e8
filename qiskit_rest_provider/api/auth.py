"""Authentication: IBM Cloud IAM API key → bearer token, or a ready bearer token.

The IAM exchange is ``POST {iam_url}/identity/token`` with the form fields
``grant_type=urn:ibm:params:oauth:grant-type:apikey``, ``apikey`` and ``response_type=cloud_iam``.
The access token is a JWT whose ``iat``/``exp`` claims drive caching (the signature is not
verified: the client only needs to know when to refresh).

Secrets never leave these objects except in the ``Authorization`` header value (and the API key
in the token request's form, sent only to the configured IAM URL: a redirect of the token request
is an error, never followed): reprs, logs and exception texts show neither the key nor the token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

from ..wire.jwt import jwt_claims
from .errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    RedirectError,
    error_for_response,
)
from .transport import (
    Authenticator,
    adopt_session,
    describe_origin,
    make_session,
    request_deadline,
)

__all__ = [
    "DEFAULT_IAM_URL",
    "Authenticator",
    "BearerTokenAuthenticator",
    "IAMAuthenticator",
    "jwt_claims",
]

logger = logging.getLogger(__name__)

DEFAULT_IAM_URL = "https://iam.cloud.ibm.com"
_GRANT_TYPE = "urn:ibm:params:oauth:grant-type:apikey"


class BearerTokenAuthenticator:
    """Send a bearer token obtained elsewhere. It cannot be refreshed."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("A bearer token is required.")
        self._token = token

    def authorization(self) -> str:
        """The ``Authorization`` header value: ``Bearer <token>``."""
        return f"Bearer {self._token}"

    def invalidate(self, rejected: str) -> bool:
        """Always False: a token given from outside cannot be refreshed, so a 401 is final."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """The token, so that transports can scrub it from error texts."""
        return (self._token,)

    def __repr__(self) -> str:
        return "BearerTokenAuthenticator(token=<hidden>)"


class IAMAuthenticator:
    """Exchange an IBM Cloud API key for short-lived bearer tokens, refreshing ahead of expiry.

    Args:
        api_key: The IBM Cloud API key.
        iam_url: The IAM service's base URL (``/identity/token`` is appended).
        session: The ``requests.Session`` to use, so proxies, ``verify`` and CA bundles configured
            on the provider's session apply to IAM too (deadline-enforcing adapters are mounted
            on it, see :func:`~qiskit_rest_provider.api.transport.adopt_session`).
        timeout: ``(connect, read)`` timeout in seconds for each socket operation of the token
            request.
        deadline: Seconds the whole token request (connect, send, headers, body) may take. When
            the token is fetched for an API request, that request's deadline bounds it too.
        refresh_fraction: Refresh once this fraction of the token's lifetime has passed.
        min_margin: Always refresh at least this many seconds before expiry.
        clock: Time source (seconds since the epoch); injectable for tests.
    """

    def __init__(
        self,
        api_key: str,
        *,
        iam_url: str = DEFAULT_IAM_URL,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        deadline: float = 60.0,
        refresh_fraction: float = 0.8,
        min_margin: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key:
            raise ValueError("An IBM Cloud API key is required.")
        if not 0.0 < refresh_fraction <= 1.0:
            raise ValueError("refresh_fraction must lie in (0, 1].")
        if not 0.0 < deadline < float("inf"):
            raise ValueError("deadline must be a positive finite number of seconds.")
        self._api_key = api_key
        self.iam_url = iam_url.rstrip("/")
        self._session = adopt_session(session) if session is not None else make_session()
        self._timeout = timeout
        self._deadline = float(deadline)
        self._refresh_fraction = refresh_fraction
        self._min_margin = min_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0
        #: Number of token requests made; useful for monitoring and tests.
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"IAMAuthenticator(iam_url={self.iam_url!r}, api_key=<hidden>)"

    def secrets(self) -> tuple[str, ...]:
        """The API key and the current access token (if any), so that transports can scrub
        them from error texts."""
        token = self._token
        return (self._api_key, token) if token else (self._api_key,)

    @property
    def token_url(self) -> str:
        """The token endpoint, ``{iam_url}/identity/token``."""
        return f"{self.iam_url}/identity/token"

    def authorization(self) -> str:
        """The ``Authorization`` header value, ``Bearer <access token>``; fetches or refreshes
        the token first if needed (see :meth:`token`).

        Raises:
            ~qiskit_rest_provider.errors.AuthenticationError: IAM rejected the API key or answered
                without a token.
            ~qiskit_rest_provider.errors.ApiError: the token request failed otherwise (connection,
                timeout, 5xx, 429).
        """
        return f"Bearer {self.token()}"

    def token(self) -> str:
        """A valid access token, fetched or refreshed if it is missing or close to expiry."""
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        with self._lock:  # one refresh at a time; latecomers reuse the winner's token
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            return self._fetch()

    def invalidate(self, rejected: str) -> bool:
        """Forget the cached token after the API answered 401 to ``rejected`` (a header value
        from :meth:`authorization`); the next call fetches a new one.

        The token is dropped only if it is still the rejected one: another thread may already
        have replaced it. Always True, since a fresh token may be accepted.
        """
        with self._lock:
            if self._token is not None and f"Bearer {self._token}" == rejected:
                self._token = None
                self._refresh_at = 0.0
        return True

    @property
    def expires_at(self) -> float:
        """Expiry of the current token (seconds since the epoch); 0 if there is none."""
        return self._expires_at

    def _fetch(self) -> str:
        import requests

        self.token_requests += 1
        where: dict[str, Any] = {"method": "POST", "path": "/identity/token"}
        with request_deadline(time.monotonic() + self._deadline) as watch:
            try:
                response = self._session.post(
                    self.token_url,
                    data={
                        "grant_type": _GRANT_TYPE,
                        "apikey": self._api_key,
                        "response_type": "cloud_iam",
                    },
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                    },
                    timeout=self._timeout,
                    # A redirect would re-send the form, API key included, to wherever it
                    # points: never follow one (it is reported below).
                    allow_redirects=False,
                    verify=self._session.verify,  # the configured value, not the environment's
                )
            except requests.RequestException as exc:
                if watch.fired:
                    raise ApiTimeoutError(
                        "IAM token request did not complete within its deadline", **where
                    ) from None
                if isinstance(exc, requests.Timeout):
                    raise ApiTimeoutError(
                        f"IAM token request timed out ({type(exc).__name__})", **where
                    ) from None
                raise ApiConnectionError(
                    f"IAM token request failed: {type(exc).__name__}", **where
                ) from None
            if watch.fired:  # the body may have been cut short by the deadline
                response.close()
                raise ApiTimeoutError(
                    "IAM token request did not complete within its deadline", **where
                )
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location")
            shown = f" to {describe_origin(self.token_url, location)}" if location else ""
            raise RedirectError(
                _scrub(
                    f"IAM answered with a redirect{shown}; token requests never follow "
                    "redirects (the API key would be sent again)",
                    self._api_key,
                ),
                status_code=response.status_code,
                **where,
            )
        if response.status_code != 200:
            error = error_for_response(
                response.status_code,
                _scrub(response.text, self._api_key),
                response.headers,
                method="POST",
                path="/identity/token",
            )
            if response.status_code < 500 and response.status_code != 429:
                raise AuthenticationError(
                    f"IAM rejected the API key: {error.message}",
                    status_code=response.status_code,
                    code=error.code,
                    trace_id=error.trace_id,
                    method="POST",
                    path="/identity/token",
                )
            raise error
        try:
            body = response.json()
            token = body["access_token"]
            if not isinstance(token, str) or not token:
                raise KeyError("access_token")
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(
                "IAM answered without an access token",
                status_code=response.status_code,
                method="POST",
                path="/identity/token",
            ) from None
        now = self._clock()
        claims = jwt_claims(token)
        exp = claims.get("exp")
        iat = claims.get("iat")
        if not isinstance(exp, (int, float)):
            expiration = body.get("expiration")
            if isinstance(expiration, (int, float)):
                exp = float(expiration)
            else:
                expires_in = body.get("expires_in", 3600)
                exp = now + float(expires_in if isinstance(expires_in, (int, float)) else 3600)
        if not isinstance(iat, (int, float)):
            iat = now
        lifetime = max(0.0, float(exp) - float(iat))
        refresh_at = min(
            float(iat) + self._refresh_fraction * lifetime, float(exp) - self._min_margin
        )
        self._token = token
        self._expires_at = float(exp)
        self._refresh_at = max(refresh_at, now)  # a very short lifetime: refresh on each use
        logger.debug("Obtained an IAM access token valid for %.0f s", lifetime)
        return token


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
