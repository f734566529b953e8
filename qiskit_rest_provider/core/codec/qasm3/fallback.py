"""The reference importer path: a linear pre-scan, then ``qiskit.qasm3.loads``.

``qiskit.qasm3.loads`` (an ANTLR parser, ~100x slower per character and recursive) reads valid
OpenQASM 3 outside the fast reader's subset, only for programs that passed a pre-scan bounding
their size, nesting, operators per statement, declared sizes and the instructions it would
build.
"""

from __future__ import annotations

import cmath

from qiskit.circuit import ParameterExpression, QuantumCircuit

from ....errors import QASM3Error, QASM3LimitError
from .lexer import UNITS, is_name, small_int
from .limits import ReaderLimits, width_words

__all__ = ["loads_reference"]


# Tokens that nest the reference parser's tree (and its recursion) within one statement.
_OPERATORS = frozenset(
    {"+", "-", "*", "/", "%", "**", "!", "~", "&", "|", "^", "<<", ">>", "&&", "||"}
    | {"==", "!=", "<", ">", "<=", ">="}
)
_NESTING = frozenset({"if", "for", "while", "box"})


def loads_reference(
    text: str, tokens: list[str], max_qubits: int | None, limits: ReaderLimits, reason: str
) -> tuple[QuantumCircuit, list[str]]:
    """Read ``text`` with ``qiskit.qasm3.loads`` once the linear pre-scan has bounded what it
    may do (``reason`` names what the fast reader could not read). Returns the circuit and the
    input names in declaration order."""
    order = _check_reference_input(text, tokens, max_qubits, limits, reason)
    from qiskit import qasm3

    try:
        circuit = qasm3.loads(text)
    except Exception as exc:  # the reference importer raises many types
        raise QASM3Error(f"invalid OpenQASM 3: {exc}") from None
    bound, words = width_words(max_qubits)
    if circuit.num_qubits > bound:  # pre-checked; kept as the last word
        raise QASM3LimitError(f"the program uses {circuit.num_qubits} qubits; {words}")
    if circuit.num_clbits > limits.max_clbits:
        raise QASM3LimitError(
            f"the program uses {circuit.num_clbits} classical bits; "
            f"the limit is {limits.max_clbits:,}"
        )
    _check_finite(circuit)
    return circuit, order


def _check_finite(circuit: QuantumCircuit) -> None:
    """Refuse NaN and infinite angles (the reference importer evaluates ``1e999-1e999``)."""
    for inst in circuit.data:
        for param in inst.operation.params:
            if isinstance(param, QuantumCircuit):
                _check_finite(param)  # control-flow blocks: nesting already bounded
                continue
            if isinstance(param, ParameterExpression):
                if param.parameters:
                    continue
                try:
                    param = complex(param)
                except (TypeError, ValueError):
                    continue
            if isinstance(param, (int, float, complex)) and not cmath.isfinite(param):
                raise QASM3Error(f"{inst.operation.name} has a non-finite parameter {param}")


def _check_reference_input(
    text: str, tokens: list[str], max_qubits: int | None, limits: ReaderLimits, reason: str
) -> list[str]:
    """A linear pre-scan that bounds what ``qiskit.qasm3.loads`` may do with ``text``: its
    size, the nesting of blocks, brackets and operators (each level is recursion in the ANTLR
    parser and the converter), declared and indexed sizes (checked before the importer
    allocates them), gate modifiers (``ctrl(n) @`` / ``pow`` synthesize large gates) and the
    instructions it would build. Returns the input names in declaration order."""
    if len(text) > limits.reference_max_chars:
        raise QASM3LimitError(
            f"the program uses {reason}, which only the reference importer reads; such "
            f"programs are limited to {limits.reference_max_chars:,} characters, and this one "
            f"has {len(text):,}"
        )
    bound, words = width_words(max_qubits)
    index_bound = max(bound, limits.max_clbits)
    max_blocks = limits.reference_max_block_depth
    scan = _ReferenceScan(bound, words, limits)
    brackets = 0
    start = 0
    for i, token in enumerate(tokens):
        if token == "(" or token == "[":
            brackets += 1
            if brackets > limits.reference_max_bracket_depth:
                raise QASM3LimitError(
                    f"parentheses and brackets nest deeper than "
                    f"{limits.reference_max_bracket_depth} levels"
                )
        elif token == ")" or token == "]":
            brackets -= 1
        elif token[:1] == "$" and len(token) > 1:
            small_int(token[1:], "physical qubit", bound - 1, words)
        elif token.isdecimal():
            unit = tokens[i + 1] if i + 1 < len(tokens) else ""
            if brackets > 0 and unit not in UNITS:
                small_int(token, "an integer in [...]", index_bound, f"at most {index_bound:,}")
        elif token == "@":
            raise QASM3Error("gate modifiers (ctrl @, inv @, pow(k) @) are not supported")
        elif token == ";" or token == "{" or token == "}":
            scan.statement(tokens[start:i], token)
            start = i + 1
            if scan.depth() > max_blocks:
                raise QASM3LimitError(f"blocks nest deeper than {max_blocks} levels")
    scan.statement(tokens[start:], ";")
    if scan.work > limits.reference_max_work:
        raise QASM3LimitError(
            f"the program would build about {scan.work:,} instructions through the reference "
            f"importer; the limit is {limits.reference_max_work:,}"
        )
    return scan.inputs


class _ReferenceScan:
    """Per-statement bookkeeping of :func:`_check_reference_input`."""

    def __init__(self, bound: int, words: str, limits: ReaderLimits) -> None:
        self.bound, self.words, self.limits = bound, words, limits
        self.inputs: list[str] = []
        self.registers: dict[str, int] = {}
        self.qubits = 0
        self.clbits = 0
        self.gate_sizes: dict[str, int] = {}
        self.defining: str | None = None
        self.defining_level = 0
        self.body = 0
        self.work = 0
        self.braces = 0
        # Per brace level: how deep the current ``else if`` chain nests (each ``else if`` is an
        # if statement inside the previous one's else branch).
        self.chains = [0]
        self.transient = 0

    def depth(self) -> int:
        return self.braces + sum(self.chains) + self.transient

    def statement(self, stmt: list[str], terminator: str) -> None:
        if stmt:
            self._statement(stmt, terminator)
        else:
            self.transient = 0
        if terminator == "{":
            self.braces += 1
            self.chains.append(0)
        elif terminator == "}":
            if self.braces:
                self.braces -= 1
                self.chains.pop()
            if self.defining is not None and self.braces == self.defining_level:
                self.gate_sizes[self.defining] = self.body
                self.defining = None

    def _statement(self, stmt: list[str], terminator: str) -> None:
        limits = self.limits
        operators = sum(1 for t in stmt if t in _OPERATORS)
        if operators > limits.reference_max_operators:
            raise QASM3LimitError(
                f"a statement has {operators} operators; the limit is "
                f"{limits.reference_max_operators}"
            )
        first = stmt[0]
        nesting = sum(1 for t in stmt if t in _NESTING)
        if first == "else":
            self.chains[-1] += nesting
            nesting = 0
        else:
            self.chains[-1] = 0
        # A header ending in '{' nests through the brace; braceless bodies nest here.
        self.transient = max(0, nesting - (terminator == "{"))
        if first in ("qubit", "qreg", "bit", "creg"):
            self._declaration(stmt)
            self.work += 1
            return
        if first == "input" and is_name(stmt[-1]):
            self.inputs.append(stmt[-1])
        if first == "let" and len(stmt) > 1:
            self.registers[stmt[1]] = self.qubits  # an alias: at most every qubit
            self.work += self.qubits
        if first == "gate" and terminator == "{" and len(stmt) > 1:
            self.defining, self.defining_level, self.body = stmt[1], self.braces, 0
            self.work += 1
            return
        factor = 1
        for j, t in enumerate(stmt):
            size = self.registers.get(t, 0)
            if size > 1 and not (
                j + 3 < len(stmt)
                and stmt[j + 1] == "["
                and stmt[j + 2].isdecimal()
                and stmt[j + 3] == "]"
            ):
                factor = max(factor, size)
        self.work += factor * max(1, self.gate_sizes.get(first, 1))
        if self.defining is not None:
            self.body += 1

    def _declaration(self, stmt: list[str]) -> None:
        kind = stmt[0]
        # qubit q | qubit[N] q | qreg q | qreg q[N] (and the same for bit / creg)
        if len(stmt) >= 4 and stmt[1] == "[" and stmt[3] == "]":
            size_token, name = stmt[2], stmt[4] if len(stmt) > 4 else ""
        elif len(stmt) >= 5 and stmt[2] == "[" and stmt[4] == "]":
            size_token, name = stmt[3], stmt[1]
        elif len(stmt) >= 2 and "[" not in stmt:
            size_token, name = "1", stmt[1]
        else:
            raise QASM3Error(f"{kind} sizes must be integer literals")
        if kind in ("qubit", "qreg"):
            size = small_int(size_token, f"{kind} size", self.bound - self.qubits, self.words)
            self.qubits += size
            self.registers[name] = size
        else:
            limit = self.limits.max_clbits
            size = small_int(
                size_token, f"{kind} size", limit - self.clbits, f"the limit is {limit:,} bits"
            )
            self.clbits += size
