"""JSON Web Tokens as the Runtime API's IAM uses them (standard library only).

The client only reads a token's claims (``iat``/``exp`` decide when to refresh it) and never
verifies its signature; the local service mints and verifies its own HS256 tokens. Both use the
unpadded base64url encoding of RFC 7515.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["b64url_decode", "b64url_encode", "jwt_claims", "sign_hs256", "verify_hs256"]


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Bytes of unpadded (or padded) base64url ``text``.

    Raises:
        ValueError: ``text`` is not ASCII or not valid base64.
    """
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: The header of every token :func:`sign_hs256` mints, encoded once.
_HS256_HEADER = b64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())


def _claims(segment: str) -> dict[str, Any] | None:
    try:
        claims = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_claims(token: str) -> dict[str, Any]:
    """Decode a JWT's payload without verifying its signature. ``{}`` if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    return _claims(parts[1]) or {}


def _signature(secret: bytes, signed: str) -> str:
    return b64url_encode(hmac.new(secret, signed.encode("ascii"), "sha256").digest())


def sign_hs256(claims: Mapping[str, Any], secret: bytes) -> str:
    """A JWT carrying ``claims``, signed with HMAC-SHA256 under ``secret``."""
    payload = b64url_encode(json.dumps(dict(claims)).encode())
    signed = f"{_HS256_HEADER}.{payload}"
    return f"{signed}.{_signature(secret, signed)}"


def verify_hs256(token: str, secret: bytes) -> dict[str, Any] | None:
    """The claims of ``token`` if it is a JWT signed with HMAC-SHA256 under ``secret``.

    ``None`` for anything else: a malformed token, a wrong signature, a payload that is not a
    JSON object. The signature is compared in constant time before the payload is decoded.
    Expiry is not checked: the caller decides how to answer an expired token.
    """
    parts = token.split(".")
    # Tokens are ASCII; anything else cannot be one (and compare_digest refuses non-ASCII text).
    if len(parts) != 3 or not token.isascii():
        return None
    if not hmac.compare_digest(_signature(secret, f"{parts[0]}.{parts[1]}"), parts[2]):
        return None
    return _claims(parts[1])
