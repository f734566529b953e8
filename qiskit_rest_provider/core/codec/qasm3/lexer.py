"""The OpenQASM 3 tokenizer and the token-level checks shared by the reader and the pre-scan."""

from __future__ import annotations

import re

from ....errors import QASM3Error, QASM3LimitError

__all__ = [
    "EOF",
    "LOOKAHEAD",
    "UNITS",
    "is_name",
    "is_number",
    "show_token",
    "small_int",
    "tokenize",
]

# One token per match. No alternative fails after scanning ahead (an unterminated comment runs
# to the end of the text, an unterminated string to the end of its line), and ``\S`` / ``\Z``
# match wherever nothing else does, so ``findall`` reads each character once: linear time.
_TOKEN_RE = re.compile(
    r"\s*("
    r"//[^\n]*"
    r"|/\*[\s\S]*?(?:\*/|\Z)"
    r'|"[^"\n]*"?'
    r"|\$\d*"
    r"|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
    r"|[^\W\d]\w*"
    r"|\*\*|->|==|!=|<=|>=|&&|\|\||<<|>>"
    r"|\S"
    r"|\Z)"
)
#: Sentinel token after the end of the program (the reader pads with LOOKAHEAD of them, so
#: it can look ahead without bounds checks).
EOF = ""  # sentinel token after the end of the program
LOOKAHEAD = 4


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` in one linear pass, comments dropped (an unterminated ``/*``
    is an error)."""
    tokens: list[str] = _TOKEN_RE.findall(text)
    while tokens and not tokens[-1]:
        tokens.pop()
    if "//" in text or "/*" in text:
        kept = []
        for token in tokens:
            head = token[:2]
            if head == "//":
                continue
            if head == "/*":
                if len(token) < 4 or not token.endswith("*/"):
                    raise QASM3Error("unterminated /* comment")
                continue
            kept.append(token)
        tokens = kept
    return tokens


def is_name(token: str) -> bool:
    """Whether ``token`` is an identifier or keyword."""
    return token[:1].isalpha() or token[:1] == "_"


def is_number(token: str) -> bool:
    """Whether ``token`` is a numeric literal."""
    head = token[:1]
    return head.isdecimal() or (head == "." and len(token) > 1)


#: Duration units as written, to the unit Qiskit's Delay takes.
UNITS = {"dt": "dt", "ns": "ns", "us": "us", "µs": "us", "μs": "us", "ms": "ms", "s": "s"}


def small_int(token: str, what: str, limit: int, limit_words: str) -> int:
    """A decimal literal ``<= limit`` (checked on its length before converting it)."""
    if not token.isdecimal():
        raise QASM3Error(f"{what} must be an integer literal, not {show_token(token)}")
    if len(token) > 12 or int(token) > limit:
        raise QASM3LimitError(f"{what} {token[:16]} is too large: {limit_words}")
    return int(token)


def show_token(token: str) -> str:
    """``token`` as an error message shows it (bounded in length)."""
    return "the end of the program" if not token else repr(token[:40])
