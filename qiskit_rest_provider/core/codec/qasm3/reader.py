"""The OpenQASM 3 reader (server side, and ``job.inputs`` on the client): :func:`loads_isa`.

It understands the ISA subset (gate calls on ``$n`` qubits with arithmetic parameter
expressions, measure, reset, barrier, delay, ``if``/``else`` on a bit or register), declared
qubits and registers (``qubit[n] q;``, ``qreg``, ``creg``, broadcasting over registers) and
definitions of known standard gates; anything else goes to :mod:`.fallback`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from qiskit.circuit import (
    Barrier,
    CircuitInstruction,
    ClassicalRegister,
    Clbit,
    Delay,
    Measure,
    Parameter,
    QuantumCircuit,
    QuantumRegister,
    Qubit,
    Reset,
)
from qiskit.circuit.exceptions import CircuitError
from qiskit.exceptions import QiskitError

from ....errors import QASM3Error, QASM3LimitError
from .expressions import ExprParser, parse_number, real_angle
from .fallback import loads_reference
from .lexer import EOF, LOOKAHEAD, UNITS, is_name, is_number, show_token, small_int, tokenize
from .limits import DEFAULT_LIMITS, ReaderLimits, width_words
from .names import ALIASES, SIMPLE_NON_GATES, STDGATES, standard_gates

__all__ = ["loads_isa"]

# Hostile text is normal input here (the service reads whatever a client sends, the client reads
# whatever a server returns), so the reader is built to cost time linear in the text and memory
# bounded by declared-and-checked sizes:
#
# - one tokenizer regular expression whose alternatives never fail after scanning ahead (an
#   unterminated comment runs to the end once; whitespace is consumed by a single ``\s*`` that
#   is always followed by a match), so ``findall`` is a single linear pass;
# - a parser that keeps open blocks on an explicit stack and bounds expression nesting, so no
#   input can exhaust the Python stack;
# - widths, register sizes and qubit indices checked against the limits before any circuit,
#   register or qubit is built;
# - ``qiskit.qasm3.loads`` (an ANTLR parser, ~100x slower per character and recursive) only for
#   programs that passed a linear pre-scan bounding its size, nesting, operators per statement,
#   declared sizes and the instructions it would build.


# Valid OpenQASM 3 outside the fast subset that qiskit.qasm3.loads reads: the reference importer.
_REFERENCE_KEYWORDS = {
    "for": "for loops",
    "while": "while loops",
    "box": "box scopes",
    "let": "aliases",
    "gphase": "gphase",
    "break": "break",
    "continue": "continue",
}
# Constructs the reference importer refuses too: refused here, without running it.
_REFUSED_KEYWORDS = {
    "ctrl": "gate modifiers",
    "negctrl": "gate modifiers",
    "inv": "gate modifiers",
    "pow": "gate modifiers",
    "def": "subroutines",
    "defcal": "calibrations",
    "defcalgrammar": "calibrations",
    "cal": "calibrations",
    "extern": "extern functions",
    "return": "return statements",
    "end": "end statements",
    "output": "output declarations",
    "const": "constant declarations",
    "switch": "switch statements",
    "int": "int declarations",
    "uint": "uint declarations",
    "float": "float declarations",
    "angle": "angle declarations",
    "bool": "bool declarations",
    "complex": "complex declarations",
    "duration": "duration declarations",
    "stretch": "stretch declarations",
    "array": "array declarations",
    "@": "annotations",
    "#": "pragmas",
    "pragma": "pragmas",
}


class _Unsupported(Exception):
    """Valid OpenQASM 3 outside the fast subset (the message names it): the reference importer
    reads it."""


_MIXED = "physical qubits ($n) and declared qubits cannot be mixed"
_MAX_DT = 2**62


def loads_isa(
    text: str, *, max_qubits: int | None = None, limits: ReaderLimits | None = None
) -> tuple[QuantumCircuit, list[str]]:
    """Read OpenQASM 3. Returns the circuit and the input (parameter) names in declared order.

    With physical qubits (``$n`` is qubit ``n``) the circuit has ``max_qubits`` qubits, or
    ``max($n) + 1`` when ``max_qubits`` is None; with declared qubits (``qubit[n] q;``) it has
    the declared ones. Widths are bounded by ``max_qubits`` (else :data:`DEFAULT_MAX_QUBITS`)
    and everything else by ``limits`` (:class:`ReaderLimits`), checked before anything is
    built; the reader runs in time linear in the text.

    Raises:
        QASM3LimitError: the program exceeds the width or one of the limits.
        QASM3Error: the text is invalid or uses a qubit index ``>= max_qubits``.
    """
    if not isinstance(text, str):
        raise QASM3Error("OpenQASM 3 program must be a string")
    limits = limits or DEFAULT_LIMITS
    if len(text) > limits.max_chars:
        raise QASM3LimitError(
            f"the program has {len(text):,} characters; the limit is {limits.max_chars:,}"
        )
    if max_qubits is not None and (
        isinstance(max_qubits, bool) or not isinstance(max_qubits, int) or max_qubits < 0
    ):
        raise ValueError("max_qubits must be an integer >= 0 or None")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: names made of them break JSON and logs
            raise QASM3Error("the program is not valid Unicode text") from None
    tokens = tokenize(text)
    try:
        return _Reader(tokens, max_qubits, limits).read()
    except _Unsupported as exc:
        return loads_reference(text, tokens, max_qubits, limits, str(exc) or "features")


class _Frame(NamedTuple):
    """An open ``if`` (or ``else``) block."""

    outer: QuantumCircuit  # the circuit whose scope receives the finished if/else
    context: Any
    else_context: Any
    in_else: bool
    scratch: QuantumCircuit | None  # where an if/else is built, when it has an else


class _Reader:
    """The fast path: the ISA subset of OpenQASM 3, plus declared qubits and registers."""

    def __init__(self, tokens: list[str], max_qubits: int | None, limits: ReaderLimits) -> None:
        self.n = len(tokens)
        self.toks = tokens + [EOF] * LOOKAHEAD
        self.limits = limits
        self.max_qubits = max_qubits
        self.bound, self.bound_words = width_words(max_qubits)
        self.inputs: dict[str, Parameter] = {}
        self.cregs: dict[str, ClassicalRegister] = {}
        self.qregs: dict[str, list[Qubit]] = {}
        self.loose_qubits: set[str] = set()
        self.defined_gates: set[str] = set()
        self.gates: dict[str, tuple[Any, int, int]] = {}
        self.physical: dict[str, Qubit] = {}
        self.frames: list[_Frame] = []
        self.scratch: list[QuantumCircuit] = []
        self.closing: dict[int, int] | None = None
        self.count = 0
        self.blocks = 0
        self.clbits = 0
        self.declared_qubits = 0
        self.virtual = False
        self.qc = self._circuit()
        self.target = self.qc  # the circuit whose (builder) scope receives instructions
        self.qubits = self.qc.qubits
        self.handlers: dict[str, Callable[[int], int]] = {
            ";": lambda pos: pos + 1,
            "}": self._close,
            "{": self._refuse_scope,
            "OPENQASM": self._version,
            "include": self._include,
            "input": self._input,
            "bit": self._bit_declaration,
            "creg": self._bit_declaration,
            "qubit": self._qubit_declaration,
            "qreg": self._qubit_declaration,
            "measure": self._measure_arrow,
            "reset": self._reset,
            "barrier": self._barrier,
            "delay": self._delay,
            "if": self._if,
            "else": self._lone_else,
            "gate": self._gate_definition,
        }
        for word, what in _REFERENCE_KEYWORDS.items():
            self.handlers[word] = functools.partial(self._reference, what)
        for word, what in _REFUSED_KEYWORDS.items():
            self.handlers[word] = functools.partial(self._refused, what)

    def _circuit(self) -> QuantumCircuit:
        tokens = self.toks
        self.virtual = "qubit" in tokens or "qreg" in tokens
        if self.max_qubits is not None:  # physical qubits are checked as they are met
            return QuantumCircuit(0 if self.virtual else self.max_qubits)
        physical = {t for t in tokens if t[:1] == "$"}
        physical.discard("$")
        if not physical:
            return QuantumCircuit(0)
        if self.virtual:
            raise QASM3Error(_MIXED)
        return QuantumCircuit(max(self._index(t) for t in physical) + 1)

    def _index(self, token: str) -> int:
        """The index of a physical qubit ``$n``, within the width bound."""
        digits = token[1:]
        if not digits:
            raise QASM3Error("'$' must be followed by a qubit number")
        if len(digits) > 12 or int(digits) >= self.bound:
            raise QASM3LimitError(f"qubit ${digits[:16]} does not exist: {self.bound_words}")
        return int(digits)

    def read(self) -> tuple[QuantumCircuit, list[str]]:
        toks, n, handlers = self.toks, self.n, self.handlers
        pos = 0
        try:
            while pos < n:
                handler = handlers.get(toks[pos])
                if handler is None or (toks[pos] in self.cregs and toks[pos + 1] in ("=", "[")):
                    pos = self._gate_call(pos)
                else:
                    pos = handler(pos)
        except CircuitError as exc:  # Qiskit's own checks (e.g. condition values)
            raise QASM3Error(f"invalid program: {exc}") from None
        if self.frames:
            raise QASM3Error("missing '}'")
        return self.qc, list(self.inputs)

    # Helpers ----------------------------------------------------------------------------------

    def _end(self, pos: int, what: str) -> int:
        if self.toks[pos] != ";":
            raise QASM3Error(f"expected ';' after {what}, found {show_token(self.toks[pos])}")
        return pos + 1

    def _global(self, what: str) -> None:
        if self.frames:
            raise QASM3Error(f"{what} must be global, not inside a block")

    def _new_name(self, pos: int) -> str:
        name = self.toks[pos]
        # Keywords are allowed (as the writer and the old reader allowed them): a register is
        # recognised by its declared name before keywords are (see read()).
        if not is_name(name):
            raise QASM3Error(f"expected a name, found {show_token(name)}")
        if name in self.cregs or name in self.qregs or name in self.inputs:
            raise QASM3Error(f"{name!r} is already declared")
        return name

    def _bracket_size(self, pos: int, what: str, limit: int, words: str) -> tuple[int, int]:
        """``[ INT ]`` at ``pos`` (the ``[``): the value and the position after ``]``."""
        toks = self.toks
        value = small_int(toks[pos + 1], what, limit, words)
        if toks[pos + 2] != "]":
            raise QASM3Error(f"{what} must be an integer literal in [...]")
        return value, pos + 3

    def _reserve(self, count: int) -> None:
        self.count += count
        if self.count > self.limits.max_instructions:
            raise QASM3LimitError(
                f"the program has more than {self.limits.max_instructions:,} instructions"
            )

    def _add(self, op: Any, qargs: tuple[Any, ...], cargs: tuple[Any, ...] = ()) -> None:
        if self.frames:  # inside a control-flow builder scope
            self.target.append(op, qargs, cargs, copy=False)
        else:
            # The checked fast path: the reader already resolved and validated the operands, and
            # the public append() would broadcast and re-check every instruction.
            self.qc._append(CircuitInstruction(op, qargs, cargs))  # noqa: SLF001

    def _physical(self, token: str) -> Qubit:
        qubit = self.physical.get(token)
        if qubit is None:
            if self.virtual:
                raise QASM3Error(_MIXED)
            qubit = self.physical[token] = self.qubits[self._index(token)]
        return qubit

    def _operand(self, pos: int) -> tuple[list[Qubit], bool, int]:
        """One quantum operand: its qubits, whether it is a whole register, the next position."""
        toks = self.toks
        token = toks[pos]
        if token[:1] == "$":
            return [self._physical(token)], False, pos + 1
        register = self.qregs.get(token)
        if register is None:
            if is_name(token):
                raise QASM3Error(f"unknown qubit {token[:40]!r}")
            raise QASM3Error(f"expected a qubit, found {show_token(token)}")
        if toks[pos + 1] == "[":
            if not toks[pos + 2].isdecimal() or toks[pos + 3] != "]":
                raise _Unsupported("qubit slices or index sets")
            index = small_int(toks[pos + 2], "qubit index", len(register) - 1, "out of range")
            return [register[index]], False, pos + 4
        return register, token not in self.loose_qubits, pos + 1

    def _operands(self, pos: int, what: str) -> tuple[list[tuple[list[Qubit], bool]], int]:
        """Operands up to ``;`` (commas optional, as the old reader allowed): the position of
        the ``;``."""
        toks = self.toks
        out: list[tuple[list[Qubit], bool]] = []
        need = True
        while True:
            token = toks[pos]
            if token == ";":
                return out, pos
            if token == ",":
                if need:
                    raise QASM3Error(f"unexpected ',' in the operands of {what}")
                need = True
                pos += 1
                continue
            if not (token[:1] == "$" or token in self.qregs):
                if not token:
                    raise QASM3Error(f"expected ';' after {what}, found the end of the program")
                if is_name(token):
                    raise QASM3Error(f"{what}: unknown qubit {token[:40]!r}")
                raise QASM3Error(f"unexpected {show_token(token)} in the operands of {what}")
            qubits, whole, pos = self._operand(pos)
            out.append((qubits, whole))
            need = False

    def _flat(self, operands: list[tuple[list[Qubit], bool]]) -> list[Qubit]:
        return [q for qubits, _ in operands for q in qubits]

    # Statements -------------------------------------------------------------------------------

    def _reference(self, what: str, pos: int) -> int:
        raise _Unsupported(what)

    def _refused(self, what: str, pos: int) -> int:
        raise QASM3Error(f"{what} are not supported")

    def _refuse_scope(self, pos: int) -> int:
        raise QASM3Error("unexpected '{': bare scopes are not supported")

    def _lone_else(self, pos: int) -> int:
        raise QASM3Error("'else' without 'if'")

    def _version(self, pos: int) -> int:
        self._global("the version statement")
        version = self.toks[pos + 1]
        if not (version == "3" or (version[:2] == "3." and version[2:].isdecimal())):
            raise QASM3Error(f"unsupported OpenQASM version {show_token(version)}")
        return self._end(pos + 2, "the version")

    def _include(self, pos: int) -> int:
        self._global("include")
        if self.toks[pos + 1] != '"stdgates.inc"':
            raise QASM3Error('only "stdgates.inc" can be included')
        return self._end(pos + 2, "include")

    def _input(self, pos: int) -> int:
        self._global("input declarations")
        toks = self.toks
        if toks[pos + 1] not in ("float", "angle"):
            raise QASM3Error("only float and angle inputs are supported")
        pos += 2
        if toks[pos] == "[":
            _, pos = self._bracket_size(pos, "input width", 1024, "at most 1024")
        name = self._new_name(pos)
        pos = self._end(pos + 1, f"input {name}")
        self.inputs[name] = Parameter(name)
        return pos

    def _bit_declaration(self, pos: int) -> int:
        self._global("declarations")
        toks = self.toks
        keyword = toks[pos]
        pos += 1
        limit = self.limits.max_clbits - self.clbits
        words = f"the limit is {self.limits.max_clbits:,} classical bits in all"
        size: int | None = None
        if toks[pos] == "[":
            size, pos = self._bracket_size(pos, f"{keyword} size", limit, words)
        name = self._new_name(pos)
        pos += 1
        if keyword == "creg" and size is None and toks[pos] == "[":
            size, pos = self._bracket_size(pos, "creg size", limit, words)
        if toks[pos] == "=":
            raise _Unsupported("initialized bit declarations")
        pos = self._end(pos, f"{keyword} {name}")
        size = 1 if size is None else size
        if size > limit:
            raise QASM3LimitError(f"{keyword} {name}: {words}")
        self.clbits += size
        register = ClassicalRegister(size, name)
        self.cregs[name] = register
        self.qc.add_register(register)
        self.scratch.clear()  # scratch circuits must have every register
        return pos

    def _qubit_declaration(self, pos: int) -> int:
        self._global("qubit declarations")
        toks = self.toks
        keyword = toks[pos]
        pos += 1
        limit = self.bound - self.declared_qubits
        size: int | None = None
        if toks[pos] == "[":
            size, pos = self._bracket_size(pos, f"{keyword} size", limit, self.bound_words)
        name = self._new_name(pos)
        pos += 1
        if keyword == "qreg" and size is None and toks[pos] == "[":
            size, pos = self._bracket_size(pos, "qreg size", limit, self.bound_words)
        pos = self._end(pos, f"{keyword} {name}")
        if (1 if size is None else size) > limit:
            raise QASM3LimitError(f"{keyword} {name}: {self.bound_words}")
        if size is None:
            qubit = Qubit()
            self.qc.add_bits([qubit])
            self.qregs[name] = [qubit]
            self.loose_qubits.add(name)
            self.declared_qubits += 1
        else:
            register = QuantumRegister(size, name)
            self.qc.add_register(register)
            self.qregs[name] = list(register)
            self.declared_qubits += size
        self.qubits = self.qc.qubits
        self.scratch.clear()
        return pos

    def _gate_definition(self, pos: int) -> int:
        """Definitions of standard gates (``ecr``, ``rzz``, ... outside stdgates.inc) are
        skipped: the gate is Qiskit's. Any other definition needs the reference importer."""
        self._global("gate definitions")
        toks = self.toks
        name = toks[pos + 1]
        if name not in standard_gates() or name in SIMPLE_NON_GATES:
            raise _Unsupported("custom gate definitions")
        i = pos + 2
        while toks[i] != "{":
            if toks[i] in (";", "}", EOF):
                raise QASM3Error(f"gate {name}: expected '{{'")
            i += 1
        depth = 0
        while True:
            token = toks[i]
            if token == "{":
                depth += 1
            elif token == "}":
                depth -= 1
                if depth == 0:
                    break
            elif not token:
                raise QASM3Error(f"gate {name}: missing '}}'")
            i += 1
        self.defined_gates.add(name)
        return i + 1

    def _target(self, pos: int) -> tuple[list[Clbit], str, bool, int]:
        """A measurement target ``c`` or ``c[i]``: bits, register name, whole register?, next."""
        toks = self.toks
        name = toks[pos]
        register = self.cregs.get(name)
        if register is None:
            raise QASM3Error(f"unknown classical register {name[:40]!r}")
        if toks[pos + 1] != "[":
            return list(register), name, True, pos + 1
        if not toks[pos + 2].isdecimal() or toks[pos + 3] != "]":
            raise _Unsupported("bit slices or index sets")
        index = small_int(toks[pos + 2], "bit index", 1 << 40, "")
        if index >= register.size:
            raise QASM3Error(f"bit {name}[{index}] is out of range")
        return [register[index]], name, False, pos + 4

    def _measure(self, qubits: list[Qubit], whole_q: bool, target: tuple[Any, ...]) -> None:
        bits, name, whole_c, _ = target
        if not whole_q:
            if whole_c and len(bits) != 1:
                raise QASM3Error(f"measuring into the whole register {name!r} needs an index")
            self._reserve(1)
            self._add(Measure(), (qubits[0],), (bits[0],))
            return
        if len(bits) != len(qubits) or not whole_c:
            raise QASM3Error(
                f"measuring {len(qubits)} qubits into {len(bits)} bit(s) of {name!r}: "
                "the sizes must match"
            )
        self._reserve(len(qubits))
        for qubit, bit in zip(qubits, bits, strict=True):
            self._add(Measure(), (qubit,), (bit,))

    def _measure_arrow(self, pos: int) -> int:
        """``measure $0 -> c[0];``"""
        qubits, whole, pos = self._operand(pos + 1)
        if self.toks[pos] != "->":
            raise QASM3Error("a measurement needs a target: 'c[0] = measure $0;'")
        target = self._target(pos + 1)
        end = self._end(target[3], "measure")
        self._measure(qubits, whole, target)
        return end

    def _measure_assign(self, pos: int) -> int:
        """``c[0] = measure $0;`` / ``c = measure q;``"""
        target = self._target(pos)
        toks = self.toks
        pos = target[3]
        if toks[pos] != "=" or toks[pos + 1] != "measure":
            raise QASM3Error("classical assignments are not supported")
        qubits, whole, pos = self._operand(pos + 2)
        end = self._end(pos, "measure")
        self._measure(qubits, whole, target)
        return end

    def _reset(self, pos: int) -> int:
        operands, pos = self._operands(pos + 1, "reset")
        qubits = self._flat(operands)
        self._reserve(len(qubits))
        for qubit in qubits:
            self._add(Reset(), (qubit,), ())
        return pos + 1

    def _barrier(self, pos: int) -> int:
        operands, pos = self._operands(pos + 1, "barrier")
        qubits = self._flat(operands) if operands else list(self.qubits)
        if len(set(qubits)) != len(qubits):
            raise QASM3Error("barrier: duplicate qubit operands")
        if qubits:
            self._reserve(len(qubits))  # its cost is in its width
            self._add(Barrier(len(qubits)), tuple(qubits), ())
        return pos + 1

    def _delay(self, pos: int) -> int:
        toks = self.toks
        if toks[pos + 1] != "[":
            raise QASM3Error("delay needs a duration: 'delay[100ns] $0;'")
        value, unit = toks[pos + 2], UNITS.get(toks[pos + 3])
        if not is_number(value) or unit is None or toks[pos + 4] != "]":
            raise QASM3Error("a delay duration must be a number with a unit (dt, ns, us, ms, s)")
        number = float(value)
        if not (math.isfinite(number) and number >= 0) or (unit == "dt" and number >= _MAX_DT):
            raise QASM3Error(f"delay duration {value[:40]}{unit} is out of range")
        duration: float | int = int(number) if unit == "dt" else number
        operands, end = self._operands(pos + 5, "delay")
        qubits = self._flat(operands) if operands else list(self.qubits)
        self._reserve(len(qubits))
        for qubit in qubits:
            self._add(Delay(duration, unit), (qubit,), ())
        return end + 1

    def _if(self, pos: int) -> int:
        """``if (c[0]) {``, ``if (!c[0]) {``, ``if (c == 3) {``, ``if (c[1] == false) {``."""
        toks = self.toks
        if toks[pos + 1] != "(":
            raise QASM3Error("expected '(' after 'if'")
        i = pos + 2
        negate = toks[i] == "!"
        i += negate
        name = toks[i]
        index: str | None = None
        i += 1
        if toks[i] == "[":
            index = toks[i + 1]
            if not index.isdecimal() or toks[i + 2] != "]":
                raise _Unsupported("conditions other than a bit or a register value")
            i += 3
        value: str | None = None
        if toks[i] == "==":
            value = toks[i + 1]
            if not (value.isdecimal() or value in ("true", "false")):
                raise _Unsupported("conditions other than a bit or a register value")
            i += 2
        if toks[i] != ")" or not is_name(name):
            raise _Unsupported("conditions other than a bit or a register value")
        if toks[i + 1] != "{":
            raise _Unsupported("if statements without braces")
        condition = self._condition(negate, name, index, value)
        if len(self.frames) >= self.limits.max_block_depth:
            raise QASM3LimitError(f"blocks nest deeper than {self.limits.max_block_depth} levels")
        self._block()
        self._reserve(1)
        # Qiskit's ``else`` pops the if from the scope it was appended to, and popping costs
        # time linear in that scope's size: an if/else is built in a scratch circuit (with the
        # same bits) whose scope holds nothing else, then moved into place.
        scratch = self._scratch() if self._has_else(i + 1) else None
        builder = self.target if scratch is None else scratch
        if scratch is not None and self.frames:
            # Let the enclosing scope resolve the condition's register, as it would had the
            # if been built there (its builder must know every register its body uses).
            self.target.if_test(condition)
        context = builder.if_test(condition)
        else_context = context.__enter__()
        self.frames.append(_Frame(self.target, context, else_context, False, scratch))
        self.target = builder
        return i + 2

    def _block(self) -> None:
        self.blocks += 1
        if self.blocks > self.limits.max_blocks:
            raise QASM3LimitError(
                f"the program has more than {self.limits.max_blocks:,} if/else blocks"
            )

    def _has_else(self, brace: int) -> bool:
        if self.closing is None:
            self.closing = {}
            if "else" in self.toks:
                stack = []
                for i, token in enumerate(self.toks):
                    if token == "{":
                        stack.append(i)
                    elif token == "}" and stack:
                        self.closing[stack.pop()] = i
        end = self.closing.get(brace)
        return end is not None and self.toks[end + 1] == "else"

    def _scratch(self) -> QuantumCircuit:
        if self.scratch:
            return self.scratch.pop()
        qc = self.qc  # not copy_empty_like(): that would copy the open builder scopes too
        return QuantumCircuit(qc.qubits, qc.clbits, *qc.qregs, *qc.cregs)

    def _condition(
        self, negate: bool, name: str, index: str | None, value: str | None
    ) -> tuple[Any, int]:
        register = self.cregs.get(name)
        if register is None:
            raise QASM3Error(f"unknown classical register {name[:40]!r}")
        if value is None or value == "true":
            wanted = 1
        elif value == "false":
            wanted = 0
        else:
            wanted = small_int(value, "condition value", (1 << register.size) - 1, "too large")
        if negate:
            wanted = 0 if wanted else 1
        if index is not None:
            i = small_int(index, "bit index", 1 << 40, "")
            if i >= register.size:
                raise QASM3Error(f"bit {name}[{i}] is out of range")
            return (register[i], wanted)
        if register.size == 1 and value is None:
            return (register[0], wanted)
        return (register, wanted)

    def _close(self, pos: int) -> int:
        if not self.frames:
            raise QASM3Error("unexpected '}'")
        frame = self.frames.pop()
        if frame.in_else:
            frame.else_context.__exit__(None, None, None)
        else:
            frame.context.__exit__(None, None, None)
            toks = self.toks
            if toks[pos + 1] == "else":
                if toks[pos + 2] == "{":
                    self._block()
                    frame.else_context.__enter__()
                    self.frames.append(frame._replace(in_else=True))
                    return pos + 3
                if toks[pos + 2] == "if":
                    raise _Unsupported("'else if'")
                raise QASM3Error("expected '{' after 'else'")
        self.target = frame.outer
        if frame.scratch is not None:  # move the finished if/else into place
            instruction = frame.scratch._data.pop()  # noqa: SLF001 - take the built op back
            if self.frames:
                self.target.append(
                    instruction.operation, instruction.qubits, instruction.clbits, copy=False
                )
            else:
                self.target._append(instruction)  # noqa: SLF001 - as in _add
            self.scratch.append(frame.scratch)
        return pos + 1

    def _gate(self, name: str) -> tuple[Any, int, int]:
        gate = self.gates.get(name)
        if gate is None:
            canonical = ALIASES.get(name, name)
            template = standard_gates().get(canonical)
            if template is None or canonical in SIMPLE_NON_GATES or not is_name(name):
                if is_name(name):
                    raise QASM3Error(f"gate {name[:40]!r} is not defined")
                raise QASM3Error(f"unexpected {show_token(name)} at the start of a statement")
            if not (name in STDGATES or name == "U" or canonical in self.defined_gates):
                raise QASM3Error(f"gate {canonical!r} is used but not defined")
            gate = self.gates[name] = (template, len(template.params), template.num_qubits)
        return gate

    def _gate_call(self, pos: int) -> int:
        toks = self.toks
        name = toks[pos]
        following = toks[pos + 1]
        if name in self.cregs and (following == "=" or following == "["):
            return self._measure_assign(pos)
        template, num_params, num_qubits = self._gate(name)
        if following == "(":
            values, pos = self._arguments(pos + 1, name)
        elif following == "[":
            raise QASM3Error(f"{name}: gate durations are not supported")
        else:
            values, pos = [], pos + 1
        if len(values) != num_params:
            if not num_params:
                raise QASM3Error(f"{name} takes no parameters")
            raise QASM3Error(f"{name} takes {num_params} parameter(s), got {len(values)}")
        op = type(template)(*values) if num_params else template
        # Operands: ``$n`` (with optional commas) inline, the common case; anything else is read
        # again from the start by _operands, which knows registers and names the errors.
        start = pos
        qargs: list[Qubit] = []
        physical = self.physical
        while True:
            token = toks[pos]
            if token[:1] == "$":
                qubit = physical.get(token)
                qargs.append(qubit if qubit is not None else self._physical(token))
            elif token != "," or not qargs or toks[pos - 1] == ",":
                break
            pos += 1
        if token != ";" or toks[pos - 1] == ",":
            operands, pos = self._operands(start, name)
            if any(whole for _, whole in operands):
                return self._broadcast(op, name, num_qubits, operands, pos)
            qargs = self._flat(operands)
        if len(qargs) != num_qubits:
            raise QASM3Error(f"{name} acts on {num_qubits} qubit(s), got {len(qargs)}")
        if num_qubits > 1 and len(set(qargs)) != num_qubits:
            raise QASM3Error(f"{name}: duplicate qubit operands")
        self._reserve(1)
        self._add(op, tuple(qargs))
        return pos + 1

    def _broadcast(
        self,
        op: Any,
        name: str,
        num_qubits: int,
        operands: list[tuple[list[Qubit], bool]],
        pos: int,
    ) -> int:
        """A gate on whole registers: one instruction per index (single qubits repeat)."""
        if len(operands) != num_qubits:
            raise QASM3Error(f"{name} acts on {num_qubits} qubit(s), got {len(operands)}")
        sizes = {len(qubits) for qubits, whole in operands if whole}
        if len(sizes) != 1:
            raise QASM3Error(f"{name}: the registers it is broadcast over differ in size")
        size = sizes.pop()
        self._reserve(size)
        for k in range(size):
            row = tuple(qubits[k] if whole else qubits[0] for qubits, whole in operands)
            if num_qubits > 1 and len(set(row)) != num_qubits:
                raise QASM3Error(f"{name}: duplicate qubit operands")
            # One operation per instruction (parameterless standard gates are singletons).
            self._add(op if k == 0 or not op.params else op.copy(), row)
        return pos + 1

    def _arguments(self, pos: int, name: str) -> tuple[list[Any], int]:
        """``( expr, ... )`` at ``pos`` (the ``(``): the values and the position after ``)``."""
        toks = self.toks
        values: list[Any] = []
        start = i = pos + 1
        depth = 0
        max_depth = self.limits.max_expression_depth
        while True:
            token = toks[i]
            if token == "(":
                depth += 1
                if depth > max_depth:
                    raise QASM3LimitError(f"{name}: expression nested deeper than {max_depth}")
            elif token == ")":
                if not depth:
                    break
                depth -= 1
            elif token == "," and not depth:
                values.append(self._expression(start, i, name))
                start = i + 1
            elif token in (";", "{", "}") or not token:
                raise QASM3Error(f"{name}: missing ')'")
            i += 1
        if i > start or values:
            values.append(self._expression(start, i, name))
        return values, i + 1

    def _expression(self, start: int, end: int, name: str) -> Any:
        toks = self.toks
        if end - start == 1:  # the common case: one number or one input
            token = toks[start]
            value = self.inputs.get(token)
            if value is not None:
                return value
            if is_number(token):
                return parse_number(token)
        if end - start > self.limits.max_expression_tokens:
            raise QASM3LimitError(
                f"{name}: an argument has more than {self.limits.max_expression_tokens} tokens"
            )
        parser = ExprParser(toks, start, end, self.inputs, self.limits.max_expression_depth)
        text = " ".join(toks[start:end])
        try:
            value = parser.parse()
        except QASM3Error:
            raise
        except (ArithmeticError, ValueError, TypeError, QiskitError) as exc:
            raise QASM3Error(f"{name}: cannot evaluate {text[:80]!r}: {exc}") from None
        return real_angle(value, text)
