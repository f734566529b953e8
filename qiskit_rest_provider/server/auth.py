"""IAM emulation: stored API keys (salted scrypt records), access tokens and throttling.

A client exchanges an API key for a signed access token (IAM's ``/identity/token``); each
request then presents the token and the instance it acts on. Failed key attempts are counted
per client address and throttled.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from ..wire.jwt import b64url_decode, b64url_encode, sign_hs256, verify_hs256
from .errors import RetryLaterError, ServiceError
from .store import KEY_RECORD_PREFIX, Store

__all__ = ["MAX_API_KEY_LENGTH", "FailureThrottle", "KeyRing", "hash_key", "verify_key"]

logger = logging.getLogger(__name__)

#: scrypt cost parameters for stored API keys (n=2**14, r=8: 16 MiB and about 0.1 s per hash,
#: the scrypt paper's interactive-login setting). They are stored with each record, so they can
#: be raised later without invalidating keys.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
#: Longer "keys" are refused without hashing them (IBM Cloud API keys have 44 characters).
MAX_API_KEY_LENGTH = 1024
#: Key derivations computed at once: bounds the memory and CPU that unauthenticated token
#: requests can claim (16 MiB each).
_KDF_CONCURRENCY = 2
#: Verified keys remembered (in memory, keyed by an HMAC with a per-process secret) so that a
#: known key gets its token without a key derivation.
_KEY_CACHE_SIZE = 1024


def hash_key(api_key: str) -> str:
    """A salted scrypt record of ``api_key`` for the store: ``scrypt$n$r$p$salt$digest``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        api_key.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    params = f"{_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}"
    return f"{KEY_RECORD_PREFIX}{params}${b64url_encode(salt)}${b64url_encode(digest)}"


def verify_key(secret: bytes, record: str) -> bool:
    """Whether ``secret`` (an API key, UTF-8) matches the stored ``record``."""
    fields = (
        record[len(KEY_RECORD_PREFIX) :].split("$") if record.startswith(KEY_RECORD_PREFIX) else []
    )
    if len(fields) != 5:
        return False
    try:
        n, r, p = (int(f) for f in fields[:3])
        salt, digest = b64url_decode(fields[3]), b64url_decode(fields[4])
    except ValueError:
        return False
    # A record is only as trustworthy as the database file: refuse parameters that would cost
    # more than the maximum this module ever writes.
    if not (2 <= n <= 2**16 and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4):
        return False
    derived = hashlib.scrypt(
        secret, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=len(digest) or 32
    )
    return hmac.compare_digest(derived, digest)


class FailureThrottle:
    """Failed API-key attempts per client address, in a sliding window.

    A client with ``limit`` failures in the last ``window`` seconds is refused (429) until the
    oldest of them leaves the window: a sustained rate of ``limit`` guesses per ``window``. Other
    clients are unaffected. At most ``max_clients`` addresses are tracked (the stalest are
    forgotten first), so the table's memory is bounded whatever the number of addresses.
    """

    def __init__(self, limit: int, window: float, max_clients: int = 4096) -> None:
        self.limit = limit
        self.window = window
        self._max_clients = max_clients
        self._lock = threading.Lock()
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        if self.limit <= 0:
            return 0
        with self._lock:
            recent = self._failures.get(client)
            if not recent:
                return 0
            now = time.monotonic()
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if not recent:
                del self._failures[client]
                return 0
            if len(recent) < self.limit:
                return 0
            return max(1, math.ceil(recent[0] + self.window - now))

    def failure(self, client: str) -> None:
        """Count a failed attempt of ``client`` now."""
        if self.limit <= 0:
            return
        with self._lock:
            recent = self._failures.pop(client, None) or collections.deque(maxlen=self.limit)
            recent.append(time.monotonic())
            self._failures[client] = recent  # most recently failed last
            while len(self._failures) > self._max_clients:
                self._failures.popitem(last=False)


class KeyRing:
    """The service's API keys and the access tokens it signs.

    Args:
        store: Where key records live.
        api_key: The service's own key: it *replaces* every key stored for its instances.
        instance: The instance CRN ``api_key`` may use, or a sequence of them (the key's
            account has several instances).
        token_lifetime: Access-token lifetime in seconds.
        revoke_keys: Revoke every other stored key (of every instance) at start.
        max_auth_failures: Failed attempts per client within ``auth_failure_window`` seconds
            before the client is throttled (0: no throttling).
        auth_failure_window: The throttling window, in seconds.
    """

    def __init__(
        self,
        store: Store,
        *,
        api_key: str,
        instance: str | Sequence[str],
        token_lifetime: int,
        revoke_keys: bool,
        max_auth_failures: int,
        auth_failure_window: float,
    ) -> None:
        self.store = store
        self.token_lifetime = int(token_lifetime)
        self._lock = threading.Lock()
        self._kdf_slots = threading.BoundedSemaphore(_KDF_CONCURRENCY)
        self._key_cache_secret = secrets.token_bytes(32)
        self._key_cache: dict[bytes, str] = {}
        self._throttle = FailureThrottle(int(max_auth_failures), float(auth_failure_window))
        dropped = store.drop_unsalted_keys()
        if dropped:
            logger.warning("Deleted %d API key(s) stored unsalted by an earlier version", dropped)
        self._own_key_record = hash_key(api_key)
        instances = [instance] if isinstance(instance, str) else list(instance)
        replaced = store.replace_api_keys(self._own_key_record, instances, "local-user")
        if replaced:
            logger.info("The API key given at start replaced %d stored key(s)", replaced)
        if revoke_keys:
            revoked = store.revoke_api_keys(keep=[self._own_key_record])
            logger.warning("Revoked %d stored API key(s)", revoked)
        self._secret = secrets.token_bytes(32)
        self._remember_key(api_key.encode("utf-8"), self._own_key_record)

    def issue_token(self, api_key: str, client: str | None = None) -> dict[str, Any]:
        """Exchange an API key for an access token (IAM's ``/identity/token``).

        ``client`` is the caller's address, for throttling failed attempts: a client with too
        many recent failures is refused with 429 and ``Retry-After`` before its key is even
        checked (callers that pass no address share one allowance).
        """
        who = client or "unknown"
        wait = self._throttle.retry_after(who)
        if wait:
            raise RetryLaterError(
                429,
                "too_many_requests",
                f"Too many failed API key attempts from this client; retry in {wait} s.",
                retry_after=wait,
            )
        record = self._find_key(api_key or "")
        if record is None:
            self._throttle.failure(who)
            raise ServiceError(400, "BXNIM0415E", "Provided API key could not be found.")
        now = int(time.time())
        claims = {
            "iat": now,
            "exp": now + self.token_lifetime,
            "sub": record[1],
            "instances": record[0],
            "jti": uuid.uuid4().hex,
        }
        return {
            "access_token": sign_hs256(claims, self._secret),
            "refresh_token": "not_supported",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "expiration": now + self.token_lifetime,
            "scope": "ibm openid",
        }

    def _claims(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a valid, unexpired bearer token (401 otherwise)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ServiceError(401, "unauthorized", "Missing bearer token.")
        # Malformed, non-ASCII, forged or undecodable tokens all look alike to the caller.
        claims = verify_hs256(authorization[7:].strip(), self._secret)
        if claims is None:
            raise ServiceError(401, "unauthorized", "Invalid bearer token.")
        if int(claims.get("exp", 0)) <= time.time():
            raise ServiceError(401, "token_expired", "The bearer token has expired.")
        return claims

    def authenticate(self, authorization: str | None, service_crn: str | None) -> str:
        """Check a request's credentials; return the instance it may act on."""
        claims = self._claims(authorization)
        if not service_crn:
            raise ServiceError(400, "missing_crn", "The Service-CRN header is required.")
        instances = claims.get("instances")
        if not isinstance(instances, list) or service_crn not in instances:
            raise ServiceError(403, "forbidden", "The token may not use this instance.")
        return service_crn

    def token_instances(self, authorization: str | None) -> list[str]:
        """The instances a bearer token's API key may use (401 for a missing, invalid or
        expired token): what IBM Cloud's Global Search shows the key's user. No
        ``Service-CRN`` is needed; the list may be empty (an account without instances)."""
        instances = self._claims(authorization).get("instances")
        if not isinstance(instances, list):
            return []
        return [i for i in instances if isinstance(i, str)]

    def add_api_key(self, api_key: str, instances: list[str], user_id: str = "local-user") -> None:
        """Let ``api_key`` use ``instances`` (stored as a salted scrypt record; adding a known
        key again replaces its instances). An empty list is a key of an account without any
        instance: it gets tokens, Global Search finds nothing for it, and every Runtime call
        is refused (403)."""
        if not api_key:
            raise ValueError("an API key is required")
        if len(api_key) > MAX_API_KEY_LENGTH:
            raise ValueError(f"an API key has at most {MAX_API_KEY_LENGTH} characters")
        secret = api_key.encode("utf-8")
        record = self._match_key(secret) or hash_key(api_key)
        self.store.add_api_key(record, instances, user_id)
        self._remember_key(secret, record)

    def revoke_api_keys(self, *, keep_own: bool = True) -> int:
        """Revoke every stored API key, except (with ``keep_own``) the service's own; returns
        how many were revoked. Access tokens issued before are invalidated too (the signing
        secret changes)."""
        keep = [self._own_key_record] if keep_own else []
        revoked = self.store.revoke_api_keys(keep=keep)
        with self._lock:
            self._key_cache.clear()
        self._secret = secrets.token_bytes(32)
        logger.warning("Revoked %d API key(s)", revoked)
        return revoked

    def _remember_key(self, secret: bytes, record: str) -> None:
        tag = hmac.new(self._key_cache_secret, secret, "sha256").digest()
        with self._lock:
            if len(self._key_cache) >= _KEY_CACHE_SIZE:
                self._key_cache.clear()
            self._key_cache[tag] = record

    def _match_key(self, secret: bytes) -> str | None:
        """The stored record ``secret`` matches: one key derivation per stored key (the table
        holds a handful), at most ``_KDF_CONCURRENCY`` derivations at a time."""
        with self._kdf_slots:
            for record, _instances, _user in self.store.api_keys():
                if verify_key(secret, record):
                    return record
        return None

    def _find_key(self, api_key: str) -> tuple[list[str], str] | None:
        """``(instances, user_id)`` of a stored API key, or None."""
        if not api_key or len(api_key) > MAX_API_KEY_LENGTH:
            return None
        try:
            secret = api_key.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: not a key anyone could have stored
            return None
        tag = hmac.new(self._key_cache_secret, secret, "sha256").digest()
        with self._lock:
            cached = self._key_cache.get(tag)
        if cached is not None:
            entry = self.store.api_key(cached)
            if entry is not None:  # still stored (not revoked or replaced)
                return entry
            with self._lock:
                self._key_cache.pop(tag, None)
        record = self._match_key(secret)
        if record is None:
            return None
        self._remember_key(secret, record)
        return self.store.api_key(record)
