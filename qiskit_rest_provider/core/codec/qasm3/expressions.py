"""Arithmetic in gate arguments: a bounded precedence-climbing parser over reader tokens."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from qiskit.circuit import Parameter, ParameterExpression

from ....errors import QASM3Error, QASM3LimitError
from .lexer import is_name, is_number, show_token

__all__ = ["ExprParser", "parse_number", "real_angle"]


def parse_number(token: str) -> float:
    """A numeric literal as a finite float."""
    value = float(token)
    if not math.isfinite(value):
        raise QASM3Error(f"the number {token[:40]} is out of range")
    return value


def real_angle(value: Any, text: str) -> Any:
    """A finite real angle, or a parameter expression with free parameters."""
    if isinstance(value, ParameterExpression):
        if value.parameters:
            return value
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise QASM3Error(f"{text[:80]!r} is not a real number") from None
    if isinstance(value, complex):
        raise QASM3Error(f"{text[:80]!r} is not a real number")
    if not math.isfinite(value):
        raise QASM3Error(f"{text[:80]!r} is not a finite number")
    return float(value)


_CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": 2 * math.pi, "τ": 2 * math.pi, "euler": math.e}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {}


def _functions() -> dict[str, Callable[[Any], Any]]:
    if not _FUNCTIONS:

        def wrap(f: Callable[[float], float], method: str) -> Callable[[Any], Any]:
            return lambda x: getattr(x, method)() if isinstance(x, ParameterExpression) else f(x)

        _FUNCTIONS.update(
            sin=wrap(math.sin, "sin"),
            cos=wrap(math.cos, "cos"),
            tan=wrap(math.tan, "tan"),
            arcsin=wrap(math.asin, "arcsin"),
            arccos=wrap(math.acos, "arccos"),
            arctan=wrap(math.atan, "arctan"),
            exp=wrap(math.exp, "exp"),
            ln=wrap(math.log, "log"),
            log=wrap(math.log, "log"),
            sqrt=lambda x: _power(x, 0.5),
        )
    return _FUNCTIONS


def _power(base: Any, exponent: Any) -> Any:
    value = base**exponent
    if isinstance(value, complex):  # a negative float to a fractional power
        raise QASM3Error(f"{base} ** {exponent} is not a real number")
    return value


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _apply(op: str, lhs: Any, rhs: Any) -> Any:
    if op == "+":
        return lhs + rhs
    if op == "-":
        return lhs - rhs
    if op == "*":
        return lhs * rhs
    return lhs / rhs


class ExprParser:
    """Precedence climbing over ``tokens[start:end]``: ``+ -`` < ``* /`` < unary signs <
    ``**`` (right-associative). Signs and runs of ``(`` are read in loops; parentheses, calls
    and ``**`` nest at most ``max_depth`` levels, so the recursion is bounded too."""

    __slots__ = ("depth", "end", "inputs", "max_depth", "pos", "tokens")

    def __init__(
        self,
        tokens: list[str],
        start: int,
        end: int,
        inputs: dict[str, Parameter],
        max_depth: int,
    ) -> None:
        self.tokens = tokens
        self.pos = start
        self.end = end
        self.inputs = inputs
        self.depth = 0
        self.max_depth = max_depth

    def parse(self) -> Any:
        """Parse the whole token range as one expression.

        Returns:
            A float, or a Qiskit ``ParameterExpression`` when the expression uses ``input``
            parameters.

        Raises:
            ~qiskit_rest_provider.errors.QASM3Error: the tokens are not one well-formed expression
                (a token is left over, an identifier is unknown, a ``)`` is missing, ...).
            ~qiskit_rest_provider.errors.QASM3LimitError: parentheses, calls or ``**`` nest deeper
                than ``max_depth``.
        """
        value = self.expression()
        if self.pos != self.end:
            raise QASM3Error(f"unexpected {show_token(self.tokens[self.pos])} in an expression")
        return value

    def peek(self) -> str | None:
        """The next token without consuming it; None at the end of the range."""
        return self.tokens[self.pos] if self.pos < self.end else None

    def take(self) -> str:
        """Consume and return the next token.

        Raises:
            ~qiskit_rest_provider.errors.QASM3Error: the range is exhausted.
        """
        if self.pos >= self.end:
            raise QASM3Error("unexpected end of expression")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def nest(self, levels: int) -> None:
        """Enter ``levels`` levels of nesting; the caller leaves them by decrementing
        ``depth``.

        Raises:
            ~qiskit_rest_provider.errors.QASM3LimitError: the depth would exceed ``max_depth``.
        """
        self.depth += levels
        if self.depth > self.max_depth:
            raise QASM3LimitError(f"expression nested deeper than {self.max_depth} levels")

    def expression(self) -> Any:
        """Parse an expression from the current token: a unary term followed by any chain
        of binary operators."""
        return self.binary(self.unary(), 1)

    def binary(self, lhs: Any, min_precedence: int) -> Any:
        """Fold the binary operators of precedence ``min_precedence`` or higher that follow
        into ``lhs`` (already parsed), left-associatively; stops at a weaker operator."""
        while (op := self.peek()) in _PRECEDENCE and _PRECEDENCE[op] >= min_precedence:
            self.pos += 1
            rhs = self.unary()
            # A tighter operator on the right binds first (at most one level deeper).
            while (nxt := self.peek()) in _PRECEDENCE and _PRECEDENCE[nxt] > _PRECEDENCE[op]:
                rhs = self.binary(rhs, _PRECEDENCE[op] + 1)
            lhs = _apply(op, lhs, rhs)
        return lhs

    def unary(self) -> Any:
        """Parse any run of ``+``/``-`` signs (in a loop, however long) and the power term
        they apply to."""
        negative = False
        while (sign := self.peek()) == "-" or sign == "+":
            self.pos += 1
            negative ^= sign == "-"
        value = self.power(self.atom())
        return -value if negative else value

    def power(self, base: Any) -> Any:
        """``base ** exponent`` if a ``**`` follows, else ``base``; right-associative, and
        the exponent may carry signs (``a ** -b``).

        Raises:
            ~qiskit_rest_provider.errors.QASM3Error: the result is not real (a negative base to a
                fractional power).
        """
        if self.peek() != "**":
            return base
        self.pos += 1
        self.nest(1)
        exponent = self.unary()  # right-associative: a ** -b, a ** b ** c
        self.depth -= 1
        return _power(base, exponent)

    def close(self) -> None:
        """Consume a ``)``.

        Raises:
            ~qiskit_rest_provider.errors.QASM3Error: the next token is not ``)``, or there is none.
        """
        if self.take() != ")":
            raise QASM3Error("missing ')'")

    def atom(self) -> Any:
        """Parse an operand: a number, a constant (``pi``, ``π``, ``tau``, ``τ``,
        ``euler``), an ``input`` parameter, a call of a known function (``sin``, ``cos``,
        ``tan``, ``arcsin``, ``arccos``, ``arctan``, ``exp``, ``ln``, ``log``, ``sqrt``), or a
        parenthesised expression (a run of ``(`` read in a loop).

        Raises:
            ~qiskit_rest_provider.errors.QASM3Error: the token starts no operand, or names an
                unknown identifier.
        """
        token = self.take()
        if is_number(token):
            return parse_number(token)
        if token == "(":
            opened = 1
            while self.peek() == "(":
                self.pos += 1
                opened += 1
            self.nest(opened)
            value = self.expression()
            for _ in range(opened - 1):  # each inner group ends, then its level goes on
                self.close()
                value = self.binary(self.power(value), 1)
            self.close()
            self.depth -= opened
            return value
        if is_name(token):
            if token in _CONSTANTS:
                return _CONSTANTS[token]
            if token in self.inputs:
                return self.inputs[token]
            funcs = _functions()
            if token in funcs and self.peek() == "(":
                self.pos += 1
                self.nest(1)
                argument = self.expression()
                self.close()
                self.depth -= 1
                return funcs[token](argument)
            raise QASM3Error(f"unknown identifier {token[:40]!r}")
        raise QASM3Error(f"unexpected {show_token(token)} in an expression")
