"""Terminal output of the command line: aligned tables, JSON, and a progress line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = ["Progress", "print_json", "table"]


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned text columns; numbers are right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(values: Iterable[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), line("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """Write ``value`` as indented JSON and a newline to ``stream`` (default stdout); values
    JSON cannot represent (datetimes, for instance) are written as their ``str()``."""
    json.dump(value, stream or sys.stdout, indent=2, default=str)
    (stream or sys.stdout).write("\n")


class Progress:
    """A one-line status display on a terminal (silent when stderr is not a terminal)."""

    _FRAMES = "|/-\\"

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._label = label
        self._start = time.monotonic()
        self._frame = 0
        self._live = self._stream.isatty()

    def update(self, status: str) -> None:
        """Redraw the line with ``status``, a spinner frame and the seconds elapsed."""
        if not self._live:
            return
        self._frame = (self._frame + 1) % len(self._FRAMES)
        elapsed = time.monotonic() - self._start
        self._stream.write(
            f"\r{self._FRAMES[self._frame]} {self._label}: {status} ({elapsed:.1f} s)\033[K"
        )
        self._stream.flush()

    def done(self) -> None:
        """Erase the line, leaving the cursor at its start."""
        if self._live:
            self._stream.write("\r\033[K")
            self._stream.flush()
