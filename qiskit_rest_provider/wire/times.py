"""Timestamps as the Runtime API writes them (standard library only).

The API writes UTC times in ISO 8601 with milliseconds and a ``Z``
(``2025-06-01T11:59:58.123Z``); calibration data uses whole seconds (``2025-06-01T12:00:00Z``).
It reads any ISO 8601 time with ``Z`` or an offset.
"""

from __future__ import annotations

import datetime as _dt
from typing import Literal

__all__ = ["parse_iso", "to_utc_iso", "utcnow_iso"]


def parse_iso(value: str | None, *, assume_utc: bool = True) -> _dt.datetime | None:
    """Parse an ISO 8601 time (``Z``, ``z`` or an offset allowed; surrounding blanks ignored).

    Args:
        value: The text; ``None`` or an empty string gives ``None``.
        assume_utc: A time without an offset is UTC (the API's convention); with ``False`` it is
            returned naive, for the caller to interpret (a command line: local time).

    Raises:
        ValueError: ``value`` is not an ISO 8601 time.
    """
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = _dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None and assume_utc:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed


def to_utc_iso(
    value: _dt.datetime, *, timespec: Literal["milliseconds", "seconds"] = "milliseconds"
) -> str:
    """``value`` in UTC as the API writes it: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (digits beyond
    ``timespec`` are cut, not rounded).

    A naive ``value`` is local time, as in the official client and :meth:`datetime.astimezone`.
    The year always has four digits, so the texts of two times compare as the times do.

    Raises:
        OverflowError: ``value`` lies before year 1 or after year 9999 once in UTC.
    """
    utc = value.astimezone(_dt.timezone.utc)
    return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def utcnow_iso() -> str:
    """The current time as the API writes it (UTC, milliseconds, ``Z``)."""
    return to_utc_iso(_dt.datetime.now(_dt.timezone.utc))
