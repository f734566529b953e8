"""The OpenQASM 3 codec's exceptions (a module of their own so every part can raise them)."""

from __future__ import annotations

__all__ = ["QASM3Error", "QASM3LimitError"]


class QASM3Error(ValueError):
    """The OpenQASM 3 text cannot be read (or the circuit cannot be written)."""


class QASM3LimitError(QASM3Error):
    """The program exceeds one of the reader's limits (:class:`ReaderLimits`, the width)."""
