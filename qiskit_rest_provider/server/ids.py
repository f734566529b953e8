"""Identifiers of jobs and sessions: 20 characters of ``[a-z0-9]`` (about 103 bits)."""

from __future__ import annotations

import secrets

__all__ = ["ID_ALPHABET", "ID_LENGTH", "new_id"]

#: The characters of a job or session id.
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
#: The length of a job or session id.
ID_LENGTH = 20


def new_id() -> str:
    """A random job or session id."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
