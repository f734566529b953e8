"""OpenQASM 3 for ISA circuits: a fast writer (client) and a fast, hostile-input-safe reader.

The writer emits physical qubits (``$n``), one ``input float[64]`` per parameter in the order
of ``circuit.parameters`` (the order of the parameter-values array), classical registers under
their own names, and gate definitions for standard gates outside ``stdgates.inc`` (``ecr``,
``rzz``, ...). Circuits with anything else fall back to ``qiskit.qasm3.dumps``.

The reader understands the same subset (gate calls on ``$n`` qubits with arithmetic parameter
expressions, measure, reset, barrier, delay, ``if``/``else`` on a bit or register), declared
qubits and registers (``qubit[n] q;``, ``qreg``, ``creg``, broadcasting over registers) and
definitions of known standard gates; anything else (loops, custom gates, aliases, complex
conditions) goes to ``qiskit.qasm3.loads``. The declaration order of ``input`` variables is
returned, so parameter values bind by column.

The reader treats every text as hostile: it runs in time linear in the text, never recurses
without bound, and checks every declared width and size before building anything. Its bounds
(:class:`ReaderLimits`, :data:`DEFAULT_MAX_QUBITS`): 4 MiB per program, ``max_qubits`` (else
2048) qubits, 65,536 classical bits, 300,000 instructions, 10,000 ``if``/``else`` blocks
nested at most 16 deep, expressions 64 levels deep and 256 tokens long; NaN and infinite
angles are refused. Programs that need ``qiskit.qasm3.loads`` (an ANTLR parser, about 100x
slower per character) are limited to 8 KiB, 16 nested blocks or brackets, 32 operators per
statement and about 20,000 built instructions, and may not use gate modifiers. Refusals are
:class:`QASM3LimitError`.
"""

from __future__ import annotations

import cmath
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from qiskit.circuit import (
    Barrier,
    CircuitInstruction,
    ClassicalRegister,
    Clbit,
    Delay,
    Measure,
    Parameter,
    ParameterExpression,
    QuantumCircuit,
    QuantumRegister,
    Qubit,
    Reset,
)
from qiskit.circuit.exceptions import CircuitError
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.exceptions import QiskitError

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_QUBITS",
    "QASM3Error",
    "QASM3LimitError",
    "ReaderLimits",
    "dumps_isa",
    "is_identifier",
    "loads_isa",
]

STDGATES = frozenset(
    [
        "p",
        "x",
        "y",
        "z",
        "h",
        "s",
        "sdg",
        "t",
        "tdg",
        "sx",
        "rx",
        "ry",
        "rz",
        "cx",
        "cy",
        "cz",
        "cp",
        "crx",
        "cry",
        "crz",
        "ch",
        "swap",
        "ccx",
        "cswap",
        "cu",
        "CX",
        "phase",
        "cphase",
        "id",
        "u1",
        "u2",
        "u3",
    ]
)
_ALIASES = {"CX": "cx", "phase": "p", "cphase": "cp", "U": "u"}
_SIMPLE_NON_GATES = frozenset({"measure", "reset", "barrier", "delay"})


class QASM3Error(ValueError):
    """The OpenQASM 3 text cannot be read (or the circuit cannot be written)."""


# Writer ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _gate_definition(name: str) -> str:
    """``gate …{…}`` text for a standard gate outside stdgates.inc, via Qiskit's exporter."""
    from qiskit import qasm3

    if name == "u":  # Qiskit's UGate is OpenQASM 3's built-in U, which needs no definition
        return "gate u(_p0, _p1, _p2) _q0 {\n  U(_p0, _p1, _p2) _q0;\n}"
    op = _standard()[name]
    params = [Parameter(f"_p{i}") for i in range(len(op.params))]
    gate = type(op)(*params) if params else op
    qc = QuantumCircuit(op.num_qubits)
    qc.append(gate, range(op.num_qubits))
    text = qasm3.dumps(qc, disable_constants=True)
    start = text.find(f"gate {name}")
    if start == -1:
        raise QASM3Error(f"cannot export a definition of {name!r}")
    depth = 0
    for i in range(text.index("{", start), len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return str(text[start : i + 1])
    raise QASM3Error(f"cannot export a definition of {name!r}")


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = frozenset(
    [
        "pi",
        "tau",
        "euler",
        "π",
        "τ",
        "input",
        "output",
        "bit",
        "qubit",
        "float",
        "int",
        "uint",
        "angle",
        "bool",
        "gate",
        "measure",
        "reset",
        "barrier",
        "delay",
        "if",
        "else",
        "for",
        "while",
        "in",
        "def",
        "return",
        "box",
        "let",
        "const",
        "OPENQASM",
        "include",
    ]
)


def is_identifier(name: str) -> bool:
    """Whether ``name`` can be used unchanged as an OpenQASM 3 identifier."""
    return bool(_IDENT_RE.match(name)) and name not in _RESERVED


def _identifier(name: str, used: set[str]) -> str:
    base = name if _IDENT_RE.match(name) and name not in _RESERVED else None
    if base is None:
        base = "_" + re.sub(r"[^A-Za-z0-9_]", "_", name) + "_"
    candidate, n = base, 0
    while candidate in used:
        n += 1
        candidate = f"{base}{n}"
    used.add(candidate)
    return candidate


def _format_param(value: Any, names: dict[Parameter, str]) -> str:
    if type(value) is float:  # the common case first: bound angles
        return repr(value)
    if isinstance(value, Parameter):  # a bare parameter (incl. vector elements)
        try:
            return names[value]
        except KeyError:
            raise _Unsupported from None
    if isinstance(value, ParameterExpression):
        if value.is_real() and not value.parameters:
            return repr(float(value))
        expr = value
        subs = {p: Parameter(names[p]) for p in value.parameters if names[p] != p.name}
        if subs:
            expr = value.subs(subs)
        return str(expr).replace(" ", "")
    if isinstance(value, (int, float)):
        return repr(float(value))
    raise _Unsupported


class _Unsupported(Exception):
    pass


def dumps_isa(circuit: QuantumCircuit) -> str:
    """Serialize an ISA circuit (physical qubits) to OpenQASM 3."""
    try:
        return _dumps_fast(circuit)
    except _Unsupported:
        from qiskit import qasm3

        return str(qasm3.dumps(circuit, disable_constants=True))


def _dumps_fast(circuit: QuantumCircuit) -> str:
    if circuit.qregs and len(circuit.qregs) > 1:
        raise _Unsupported
    standard = _standard()
    used: set[str] = set()
    param_names = _input_names(circuit, used)
    qidx = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_ref: dict[Clbit, str] = {}
    header = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    header.extend(f"input float[64] {param_names[p]};" for p in circuit.parameters)
    for creg in circuit.cregs:
        name = creg.name
        if not _IDENT_RE.match(name) or name in _RESERVED or name in used:
            raise _Unsupported  # let the reference exporter decide (callers check names)
        used.add(name)
        header.append(f"bit[{creg.size}] {name};")
        for i, bit in enumerate(creg):
            clbit_ref.setdefault(bit, f"{name}[{i}]")
    if any(bit not in clbit_ref for bit in circuit.clbits):
        raise _Unsupported  # loose clbits
    definitions: dict[str, str] = {}
    body: list[str] = []
    _emit(circuit.data, qidx, clbit_ref, param_names, standard, definitions, body, "")
    return "\n".join([*header, *definitions.values(), *body, ""])


def _input_names(circuit: QuantumCircuit, used: set[str]) -> dict[Parameter, str]:
    """OpenQASM 3 input names whose sorted order is the circuit's parameter order.

    Readers such as ``qiskit.qasm3.loads`` order the loaded parameters by name, and the
    parameter-values array is in ``circuit.parameters`` order. Names that are valid identifiers
    are kept (their order is unchanged); otherwise (``θ[0]``, ``θ[10]``, ...) every input is
    named ``_p<index>``, zero-padded so that sorting by name keeps the positional order.
    """
    params = list(circuit.parameters)
    names = [p.name for p in params]
    if all(is_identifier(n) for n in names):
        return {p: _identifier(p.name, used) for p in params}
    width = len(str(max(len(params) - 1, 0)))
    generated = [f"_p{i:0{width}d}" for i in range(len(params))]
    if used.isdisjoint(generated):
        used.update(generated)
        return dict(zip(params, generated, strict=True))
    return {p: _identifier(name, used) for p, name in zip(params, generated, strict=True)}


def _emit(
    data: Sequence[CircuitInstruction],
    qidx: dict[Any, int],
    clbit_ref: dict[Clbit, str],
    names: dict[Parameter, str],
    standard: dict[str, Any],
    definitions: dict[str, str],
    out: list[str],
    indent: str,
) -> None:
    append = out.append
    qref = {q: f"${i}" for q, i in qidx.items()}
    # Operand text per qubit tuple, and whole lines of parameterless gates: ISA circuits repeat
    # the same gate on the same qubits layer after layer.
    operands: dict[tuple[Any, ...], str] = {}
    lines: dict[tuple[str, tuple[Any, ...]], str] = {}
    known = set(STDGATES) | set(definitions)
    for inst in data:
        # CircuitInstruction.name/params/is_standard_gate() read the Rust data directly; only
        # non-standard instructions need the Python operation object (costly to build).
        name = inst.name
        if inst.is_standard_gate():
            if name not in known:
                if name not in standard:
                    raise _Unsupported
                definitions[name] = _gate_definition(name)
                known.add(name)
            qargs = inst.qubits
            params = inst.params
            if params:
                qubits = operands.get(qargs)
                if qubits is None:
                    qubits = operands[qargs] = ", ".join([qref[q] for q in qargs])
                if len(params) == 1:
                    text = _format_param(params[0], names)
                else:
                    text = ", ".join([_format_param(p, names) for p in params])
                append(f"{indent}{name}({text}) {qubits};")
            else:
                key = (name, qargs)
                line = lines.get(key)
                if line is None:
                    qubits = operands.get(qargs)
                    if qubits is None:
                        qubits = operands[qargs] = ", ".join([qref[q] for q in qargs])
                    line = lines[key] = f"{indent}{name} {qubits};"
                append(line)
            continue
        qubits = ", ".join([qref[q] for q in inst.qubits])
        op = inst.operation
        if name == "measure":
            append(f"{indent}{clbit_ref[inst.clbits[0]]} = measure {qubits};")
        elif name == "barrier":
            append(f"{indent}barrier {qubits};" if qubits else f"{indent}barrier;")
        elif name == "reset":
            append(f"{indent}reset {qubits};")
        elif name == "delay":
            unit = op.unit
            if unit not in ("dt", "ns", "us", "ms", "s"):
                raise _Unsupported
            duration = op.params[0]
            if isinstance(duration, ParameterExpression):
                raise _Unsupported
            value = int(duration) if unit == "dt" else float(duration)
            append(f"{indent}delay[{value}{unit}] {qubits};")
        elif name == "if_else":
            condition = op.condition
            if not isinstance(condition, tuple):
                raise _Unsupported  # expr.Expr conditions
            target, value = condition
            if isinstance(target, Clbit):
                cond = clbit_ref[target] if value else f"!{clbit_ref[target]}"
            elif isinstance(target, ClassicalRegister) and target.name in _registers(clbit_ref):
                cond = f"{target.name} == {int(value)}"
            else:
                raise _Unsupported
            true_body, false_body = op.blocks[0], op.blocks[1] if len(op.blocks) > 1 else None
            inner_q = {bq: qidx[q] for bq, q in zip(true_body.qubits, inst.qubits, strict=True)}
            inner_c = {
                bc: clbit_ref[c] for bc, c in zip(true_body.clbits, inst.clbits, strict=True)
            }
            append(f"{indent}if ({cond}) {{")
            _emit(
                true_body.data, inner_q, inner_c, names, standard, definitions, out, indent + "  "
            )
            if false_body is not None and len(false_body.data):
                fq = {bq: qidx[q] for bq, q in zip(false_body.qubits, inst.qubits, strict=True)}
                fc = {
                    bc: clbit_ref[c] for bc, c in zip(false_body.clbits, inst.clbits, strict=True)
                }
                append(f"{indent}}} else {{")
                _emit(false_body.data, fq, fc, names, standard, definitions, out, indent + "  ")
            append(f"{indent}}}")
        else:
            raise _Unsupported


def _registers(clbit_ref: dict[Clbit, str]) -> set[str]:
    return {ref.split("[", 1)[0] for ref in clbit_ref.values()}


# Reader ---------------------------------------------------------------------------------------
#
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

#: Width bound when the caller names no backend: larger than any IBM Quantum device.
DEFAULT_MAX_QUBITS = 2048


@dataclass(frozen=True)
class ReaderLimits:
    """The bounds :func:`loads_isa` enforces. A program beyond any of them raises
    :class:`QASM3LimitError`, before anything of the size it asks for is built.

    Attributes:
        max_chars: Characters per program (4 MiB; a transpiled 156-qubit 4-layer ansatz is
            about 60 KB).
        max_clbits: Classical bits declared in total.
        max_instructions: Instructions built (each statement on ``$n`` builds one, a register
            operand broadcasts, a barrier counts its qubits), blocks included: 300,000 hold
            about 60-90 MB (120 MB at the peak of reading them).
        max_blocks: ``if`` and ``else`` blocks (Qiskit's control-flow builder costs about
            0.1-0.3 ms and a few KB for each, more when they nest deeply).
        max_block_depth: Nesting of ``if``/``else`` blocks (a block 32 deep costs Qiskit's
            builder about 2.5 times one at depth 1; 64 deep, 4 times).
        max_expression_depth: Nesting of parentheses, function calls and ``**`` in one
            expression.
        max_expression_tokens: Tokens in one gate argument (symbolic arithmetic on parameter
            expressions costs more than linear time in their size).
        reference_max_chars: Characters of a program that needs the reference importer
            (``qiskit.qasm3.loads``: loops, custom gates, aliases, complex conditions).
        reference_max_block_depth: Nesting of blocks and control-flow statements there.
        reference_max_bracket_depth: Nesting of parentheses and brackets there.
        reference_max_operators: Operators in one statement there (each nests the parse tree).
        reference_max_work: Instructions the reference importer may build (broadcasts over
            registers and copies of custom-gate bodies included).
    """

    max_chars: int = 4 * 1024 * 1024
    max_clbits: int = 65_536
    max_instructions: int = 300_000
    max_blocks: int = 10_000
    max_block_depth: int = 16
    max_expression_depth: int = 64
    max_expression_tokens: int = 256
    reference_max_chars: int = 8 * 1024
    reference_max_block_depth: int = 16
    reference_max_bracket_depth: int = 16
    reference_max_operators: int = 32
    reference_max_work: int = 20_000


DEFAULT_LIMITS = ReaderLimits()


class QASM3LimitError(QASM3Error):
    """The program exceeds one of the reader's limits (:class:`ReaderLimits`, the width)."""


@functools.lru_cache(maxsize=1)
def _standard() -> dict[str, Any]:
    return dict(get_standard_gate_name_mapping())


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
_EOF = ""  # sentinel token after the end of the program
_LOOKAHEAD = 4


def _tokenize(text: str) -> list[str]:
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


def _is_name(token: str) -> bool:
    return token[:1].isalpha() or token[:1] == "_"


def _is_number(token: str) -> bool:
    head = token[:1]
    return head.isdecimal() or (head == "." and len(token) > 1)


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
_MIXED = "physical qubits ($n) and declared qubits cannot be mixed"
_UNITS = {"dt": "dt", "ns": "ns", "us": "us", "µs": "us", "μs": "us", "ms": "ms", "s": "s"}
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
    tokens = _tokenize(text)
    try:
        return _Reader(tokens, max_qubits, limits).read()
    except _Unsupported as exc:
        return _loads_reference(text, tokens, max_qubits, limits, str(exc) or "features")


def _width_words(max_qubits: int | None) -> tuple[int, str]:
    if max_qubits is None:
        return DEFAULT_MAX_QUBITS, f"the reader's limit is {DEFAULT_MAX_QUBITS} qubits"
    return max_qubits, f"the backend has {max_qubits} qubits"


def _small_int(token: str, what: str, limit: int, limit_words: str) -> int:
    """A decimal literal ``<= limit`` (checked on its length before converting it)."""
    if not token.isdecimal():
        raise QASM3Error(f"{what} must be an integer literal, not {_show(token)}")
    if len(token) > 12 or int(token) > limit:
        raise QASM3LimitError(f"{what} {token[:16]} is too large: {limit_words}")
    return int(token)


def _show(token: str) -> str:
    return "the end of the program" if not token else repr(token[:40])


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
        self.toks = tokens + [_EOF] * _LOOKAHEAD
        self.limits = limits
        self.max_qubits = max_qubits
        self.bound, self.bound_words = _width_words(max_qubits)
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
            raise QASM3Error(f"expected ';' after {what}, found {_show(self.toks[pos])}")
        return pos + 1

    def _global(self, what: str) -> None:
        if self.frames:
            raise QASM3Error(f"{what} must be global, not inside a block")

    def _new_name(self, pos: int) -> str:
        name = self.toks[pos]
        # Keywords are allowed (as the writer and the old reader allowed them): a register is
        # recognised by its declared name before keywords are (see read()).
        if not _is_name(name):
            raise QASM3Error(f"expected a name, found {_show(name)}")
        if name in self.cregs or name in self.qregs or name in self.inputs:
            raise QASM3Error(f"{name!r} is already declared")
        return name

    def _bracket_size(self, pos: int, what: str, limit: int, words: str) -> tuple[int, int]:
        """``[ INT ]`` at ``pos`` (the ``[``): the value and the position after ``]``."""
        toks = self.toks
        value = _small_int(toks[pos + 1], what, limit, words)
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
            self.qc._append(CircuitInstruction(op, qargs, cargs))

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
            if _is_name(token):
                raise QASM3Error(f"unknown qubit {token[:40]!r}")
            raise QASM3Error(f"expected a qubit, found {_show(token)}")
        if toks[pos + 1] == "[":
            if not toks[pos + 2].isdecimal() or toks[pos + 3] != "]":
                raise _Unsupported("qubit slices or index sets")
            index = _small_int(toks[pos + 2], "qubit index", len(register) - 1, "out of range")
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
                if _is_name(token):
                    raise QASM3Error(f"{what}: unknown qubit {token[:40]!r}")
                raise QASM3Error(f"unexpected {_show(token)} in the operands of {what}")
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
            raise QASM3Error(f"unsupported OpenQASM version {_show(version)}")
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
        if name not in _standard() or name in _SIMPLE_NON_GATES:
            raise _Unsupported("custom gate definitions")
        i = pos + 2
        while toks[i] != "{":
            if toks[i] in (";", "}", _EOF):
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
        index = _small_int(toks[pos + 2], "bit index", 1 << 40, "")
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
        value, unit = toks[pos + 2], _UNITS.get(toks[pos + 3])
        if not _is_number(value) or unit is None or toks[pos + 4] != "]":
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
        if toks[i] != ")" or not _is_name(name):
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
            wanted = _small_int(value, "condition value", (1 << register.size) - 1, "too large")
        if negate:
            wanted = 0 if wanted else 1
        if index is not None:
            i = _small_int(index, "bit index", 1 << 40, "")
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
            instruction = frame.scratch._data.pop()
            if self.frames:
                self.target.append(
                    instruction.operation, instruction.qubits, instruction.clbits, copy=False
                )
            else:
                self.target._append(instruction)
            self.scratch.append(frame.scratch)
        return pos + 1

    def _gate(self, name: str) -> tuple[Any, int, int]:
        gate = self.gates.get(name)
        if gate is None:
            canonical = _ALIASES.get(name, name)
            template = _standard().get(canonical)
            if template is None or canonical in _SIMPLE_NON_GATES or not _is_name(name):
                if _is_name(name):
                    raise QASM3Error(f"gate {name[:40]!r} is not defined")
                raise QASM3Error(f"unexpected {_show(name)} at the start of a statement")
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
            if _is_number(token):
                return _number(token)
        if end - start > self.limits.max_expression_tokens:
            raise QASM3LimitError(
                f"{name}: an argument has more than {self.limits.max_expression_tokens} tokens"
            )
        parser = _ExprParser(toks, start, end, self.inputs, self.limits.max_expression_depth)
        text = " ".join(toks[start:end])
        try:
            value = parser.parse()
        except QASM3Error:
            raise
        except (ArithmeticError, ValueError, TypeError, QiskitError) as exc:
            raise QASM3Error(f"{name}: cannot evaluate {text[:80]!r}: {exc}") from None
        return _real(value, text)


def _number(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise QASM3Error(f"the number {token[:40]} is out of range")
    return value


def _real(value: Any, text: str) -> Any:
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


# Expressions ----------------------------------------------------------------------------------

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


class _ExprParser:
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
            raise QASM3Error(f"unexpected {_show(self.tokens[self.pos])} in an expression")
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
        if _is_number(token):
            return _number(token)
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
        if _is_name(token):
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
        raise QASM3Error(f"unexpected {_show(token)} in an expression")


# The reference importer -----------------------------------------------------------------------

# Tokens that nest the reference parser's tree (and its recursion) within one statement.
_OPERATORS = frozenset(
    {"+", "-", "*", "/", "%", "**", "!", "~", "&", "|", "^", "<<", ">>", "&&", "||"}
    | {"==", "!=", "<", ">", "<=", ">="}
)
_NESTING = frozenset({"if", "for", "while", "box"})


def _loads_reference(
    text: str, tokens: list[str], max_qubits: int | None, limits: ReaderLimits, reason: str
) -> tuple[QuantumCircuit, list[str]]:
    order = _check_reference_input(text, tokens, max_qubits, limits, reason)
    from qiskit import qasm3

    try:
        circuit = qasm3.loads(text)
    except Exception as exc:  # the reference importer raises many types
        raise QASM3Error(f"invalid OpenQASM 3: {exc}") from None
    bound, words = _width_words(max_qubits)
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
    bound, words = _width_words(max_qubits)
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
            _small_int(token[1:], "physical qubit", bound - 1, words)
        elif token.isdecimal():
            unit = tokens[i + 1] if i + 1 < len(tokens) else ""
            if brackets > 0 and unit not in _UNITS:
                _small_int(token, "an integer in [...]", index_bound, f"at most {index_bound:,}")
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
        if first == "input" and _is_name(stmt[-1]):
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
            size = _small_int(size_token, f"{kind} size", self.bound - self.qubits, self.words)
            self.qubits += size
            self.registers[name] = size
        else:
            limit = self.limits.max_clbits
            size = _small_int(
                size_token, f"{kind} size", limit - self.clbits, f"the limit is {limit:,} bits"
            )
            self.clbits += size
