"""Arithmetic in gate arguments: a bounded precedence-climbing parser over reader tokens."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from qiskit.circuit import Parameter, ParameterExpression

from .errors import QASM3Error, QASM3LimitError
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
        value = self.expression()
        if self.pos != self.end:
            raise QASM3Error(f"unexpected {show_token(self.tokens[self.pos])} in an expression")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < self.end else None

    def take(self) -> str:
        if self.pos >= self.end:
            raise QASM3Error("unexpected end of expression")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def nest(self, levels: int) -> None:
        self.depth += levels
        if self.depth > self.max_depth:
            raise QASM3LimitError(f"expression nested deeper than {self.max_depth} levels")

    def expression(self) -> Any:
        return self.binary(self.unary(), 1)

    def binary(self, lhs: Any, min_precedence: int) -> Any:
        while (op := self.peek()) in _PRECEDENCE and _PRECEDENCE[op] >= min_precedence:
            self.pos += 1
            rhs = self.unary()
            # A tighter operator on the right binds first (at most one level deeper).
            while (nxt := self.peek()) in _PRECEDENCE and _PRECEDENCE[nxt] > _PRECEDENCE[op]:
                rhs = self.binary(rhs, _PRECEDENCE[op] + 1)
            lhs = _apply(op, lhs, rhs)
        return lhs

    def unary(self) -> Any:
        negative = False
        while (sign := self.peek()) == "-" or sign == "+":
            self.pos += 1
            negative ^= sign == "-"
        value = self.power(self.atom())
        return -value if negative else value

    def power(self, base: Any) -> Any:
        if self.peek() != "**":
            return base
        self.pos += 1
        self.nest(1)
        exponent = self.unary()  # right-associative: a ** -b, a ** b ** c
        self.depth -= 1
        return _power(base, exponent)

    def close(self) -> None:
        if self.take() != ")":
            raise QASM3Error("missing ')'")

    def atom(self) -> Any:
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
