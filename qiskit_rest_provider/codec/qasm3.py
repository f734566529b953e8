"""OpenQASM 3 for ISA circuits: a fast writer (client) and a fast reader (service).

The writer emits physical qubits (``$n``), one ``input float[64]`` per parameter in the order
of ``circuit.parameters`` (the order of the parameter-values array), classical registers under
their own names, and gate definitions for standard gates outside ``stdgates.inc`` (``ecr``,
``rzz``, ...). Circuits with anything else fall back to ``qiskit.qasm3.dumps``.

The reader understands the same subset (gate calls on ``$n`` qubits with arithmetic parameter
expressions, measure, reset, barrier, delay, ``if``/``else`` on a bit or register) plus
definitions of known standard gates, and falls back to ``qiskit.qasm3.loads`` for the rest.
The declaration order of ``input`` variables is returned, so parameter values bind by column.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    Reset,
)
from qiskit.circuit.library import get_standard_gate_name_mapping

__all__ = ["QASM3Error", "dumps_isa", "is_identifier", "loads_isa"]

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


@dataclass
class _Context:
    qc: QuantumCircuit
    inputs: dict[str, Parameter]
    bits: dict[str, ClassicalRegister]
    gate_names: dict[str, str]
    depth: int = 0

    def add(self, op: Any, qargs: tuple[Any, ...], cargs: tuple[Any, ...]) -> None:
        if self.depth:  # inside a control-flow builder scope
            self.qc.append(op, qargs, cargs, copy=False)
        else:
            self.qc._append(CircuitInstruction(op, qargs, cargs))


@functools.lru_cache(maxsize=1)
def _standard() -> dict[str, Any]:
    return dict(get_standard_gate_name_mapping())


_TOKEN_RE = re.compile(r"\s*([{};]|[^{};]+)")
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_GATE_CALL_RE = re.compile(r"^([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*((?:\$\d+\s*,?\s*)+)$", re.DOTALL)
_MEASURE_ASSIGN_RE = re.compile(r"^([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?\s*=\s*measure\s+\$(\d+)$")
_MEASURE_ARROW_RE = re.compile(r"^measure\s+\$(\d+)\s*->\s*([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?$")
_DELAY_RE = re.compile(r"^delay\s*\[\s*([0-9.eE+-]+)\s*(dt|ns|us|µs|ms|s)\s*\]\s*(.*)$")
_IF_RE = re.compile(
    r"^if\s*\(\s*(!)?\s*([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?\s*(?:==\s*(\d+|true|false))?\s*\)$"
)
_QUBITS_RE = re.compile(r"\$(\d+)")
_BIT_DECL_RE = re.compile(r"^(?:bit|creg)\s*(?:\[\s*(\d+)\s*\])?\s*([A-Za-z_]\w*)$")
_INPUT_RE = re.compile(r"^input\s+(?:float|angle)(?:\s*\[\s*\d+\s*\])?\s+([A-Za-z_]\w*)$")
_GATE_DEF_RE = re.compile(r"^gate\s+([A-Za-z_]\w*)")


def loads_isa(text: str, *, max_qubits: int | None = None) -> tuple[QuantumCircuit, list[str]]:
    """Read OpenQASM 3. Returns the circuit and the input (parameter) names in declared order.

    The circuit has ``max($n) + 1`` qubits (``$n`` is qubit ``n``), or ``max_qubits``.

    Raises:
        QASM3Error: the text is invalid or uses a qubit index ``>= max_qubits``.
    """
    if not isinstance(text, str):
        raise QASM3Error("OpenQASM 3 program must be a string")
    try:
        return _loads_fast(text, max_qubits)
    except _Unsupported:
        return _loads_reference(text, max_qubits)


def _loads_reference(text: str, max_qubits: int | None) -> tuple[QuantumCircuit, list[str]]:
    from qiskit import qasm3

    try:
        circuit = qasm3.loads(text)
    except Exception as exc:  # the reference importer raises many types
        raise QASM3Error(f"invalid OpenQASM 3: {exc}") from None
    if max_qubits is not None and circuit.num_qubits > max_qubits:
        raise QASM3Error(
            f"the program uses {circuit.num_qubits} qubits; the backend has {max_qubits}"
        )
    order = re.findall(r"^\s*input\s+\w+(?:\[\d+\])?\s+(\w+)\s*;", text, re.MULTILINE)
    return circuit, order


def _loads_fast(text: str, max_qubits: int | None) -> tuple[QuantumCircuit, list[str]]:
    text = _COMMENT_RE.sub(" ", text)
    tokens = [t.strip() for t in _TOKEN_RE.findall(text)]
    tokens = [t for t in tokens if t]
    qubit_indices = [int(q) for q in _QUBITS_RE.findall(text)]
    width = max(qubit_indices) + 1 if qubit_indices else 0
    if max_qubits is not None:
        if width > max_qubits:
            raise QASM3Error(
                f"qubit ${width - 1} does not exist: the backend has {max_qubits} qubits"
            )
        width = max_qubits
    if re.search(r"\bqubit\b|\bqreg\b", text):
        raise _Unsupported  # virtual qubits: not an ISA circuit in physical form
    ctx = _Context(QuantumCircuit(width), {}, {}, {})
    pos = _parse_block(tokens, 0, ctx, top=True)
    if pos != len(tokens):
        raise QASM3Error("unbalanced braces")
    return ctx.qc, list(ctx.inputs)


def _parse_block(tokens: list[str], pos: int, ctx: _Context, top: bool) -> int:
    n = len(tokens)
    while pos < n:
        token = tokens[pos]
        if token == "}":
            if top:
                raise QASM3Error("unexpected '}'")
            return pos
        if token == ";":
            pos += 1
            continue
        if token == "{":
            raise QASM3Error("unexpected '{'")
        nxt = tokens[pos + 1] if pos + 1 < n else None
        if nxt == "{":
            pos = _parse_compound(tokens, pos, ctx)
            continue
        if nxt != ";":
            raise QASM3Error(f"missing ';' after {token[:60]!r}")
        _statement(token, ctx, top)
        pos += 2
    if not top:
        raise QASM3Error("missing '}'")
    return pos


def _skip_braces(tokens: list[str], pos: int) -> int:
    depth = 0
    while pos < len(tokens):
        if tokens[pos] == "{":
            depth += 1
        elif tokens[pos] == "}":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise QASM3Error("missing '}'")


def _parse_compound(tokens: list[str], pos: int, ctx: _Context) -> int:
    head = tokens[pos]
    gate_def = _GATE_DEF_RE.match(head)
    if gate_def:
        name = gate_def.group(1)
        if name not in _standard():
            raise _Unsupported  # a custom gate: leave it to the reference importer
        ctx.gate_names[name] = name
        return _skip_braces(tokens, pos + 1)
    match = _IF_RE.match(head)
    if not match:
        raise _Unsupported
    negate, name, index, value = match.groups()
    condition = _condition(ctx, negate, name, index, value)
    qc = ctx.qc
    ctx.depth += 1
    try:
        with qc.if_test(condition) as else_:
            end = _parse_block(tokens, pos + 2, ctx, top=False)
        pos = end + 1
        if pos + 1 < len(tokens) and tokens[pos] == "else" and tokens[pos + 1] == "{":
            with else_:
                end = _parse_block(tokens, pos + 2, ctx, top=False)
            pos = end + 1
    finally:
        ctx.depth -= 1
    return pos


def _condition(
    ctx: _Context, negate: str | None, name: str, index: str | None, value: str | None
) -> tuple[Any, int]:
    reg = ctx.bits.get(name)
    if reg is None:
        raise QASM3Error(f"unknown classical register {name!r}")
    wanted = 1 if value in (None, "true") else 0 if value == "false" else int(value)
    if negate:
        wanted = 0 if wanted else 1
    if index is not None:
        i = int(index)
        if i >= reg.size:
            raise QASM3Error(f"bit {name}[{i}] is out of range")
        return (reg[i], wanted)
    if reg.size == 1 and value is None:
        return (reg[0], wanted)
    return (reg, wanted)


def _statement(stmt: str, ctx: _Context, top: bool) -> None:
    qc = ctx.qc
    first = stmt.split(None, 1)[0]
    if first == "OPENQASM":
        if not top or not re.match(r"^OPENQASM\s+3(\.\d+)?$", stmt):
            raise QASM3Error(f"unsupported version line {stmt!r}")
        return
    if first == "include":
        if stmt.replace(" ", "") not in ('include"stdgates.inc"',):
            raise _Unsupported
        return
    if first == "input":
        match = _INPUT_RE.match(stmt)
        if not match:
            raise _Unsupported
        name = match.group(1)
        if name in ctx.inputs:
            raise QASM3Error(f"input {name!r} declared twice")
        ctx.inputs[name] = Parameter(name)
        return
    if first in ("bit", "creg") or first.startswith("bit["):
        match = _BIT_DECL_RE.match(stmt)
        if not match:
            raise _Unsupported
        size = int(match.group(1)) if match.group(1) else 1
        name = match.group(2)
        if name in ctx.bits:
            raise QASM3Error(f"register {name!r} declared twice")
        reg = ClassicalRegister(size, name)
        ctx.bits[name] = reg
        qc.add_register(reg)
        return
    match = _MEASURE_ASSIGN_RE.match(stmt)
    if match:
        name, index, q = match.groups()
        ctx.add(Measure(), (qc.qubits[int(q)],), (_bit(ctx, name, index),))
        return
    match = _MEASURE_ARROW_RE.match(stmt)
    if match:
        q, name, index = match.groups()
        ctx.add(Measure(), (qc.qubits[int(q)],), (_bit(ctx, name, index),))
        return
    if first == "reset":
        for q in _QUBITS_RE.findall(stmt):
            ctx.add(Reset(), (qc.qubits[int(q)],), ())
        return
    if first == "barrier":
        qubits = tuple(qc.qubits[int(q)] for q in _QUBITS_RE.findall(stmt)) or tuple(qc.qubits)
        ctx.add(Barrier(len(qubits)), tuple(qubits), ())
        return
    if first.startswith("delay"):
        match = _DELAY_RE.match(stmt)
        if not match:
            raise _Unsupported
        value, unit, operands = match.groups()
        unit = "us" if unit == "µs" else unit
        duration: float | int = int(float(value)) if unit == "dt" else float(value)
        for q in _QUBITS_RE.findall(operands):
            ctx.add(Delay(duration, unit), (qc.qubits[int(q)],), ())
        return
    match = _GATE_CALL_RE.match(stmt)
    if not match:
        raise _Unsupported
    name, params_text, operands = match.groups()
    name = _ALIASES.get(name, name)
    template = _standard().get(name)
    if template is None or name in _SIMPLE_NON_GATES:
        raise _Unsupported
    if name not in STDGATES and name not in ctx.gate_names:
        raise QASM3Error(f"gate {name!r} is used but not defined")
    qubits = tuple(qc.qubits[int(q)] for q in _QUBITS_RE.findall(operands))
    if len(qubits) != template.num_qubits:
        raise QASM3Error(f"{name} acts on {template.num_qubits} qubit(s), got {len(qubits)}")
    if template.params:
        params = _split_args(params_text or "")
        if len(params) != len(template.params):
            raise QASM3Error(f"{name} takes {len(template.params)} parameter(s), got {len(params)}")
        values = [_expression(p, ctx.inputs) for p in params]
        op = type(template)(*values)
    else:
        if params_text:
            raise QASM3Error(f"{name} takes no parameters")
        op = template
    ctx.add(op, qubits, ())


def _bit(ctx: _Context, name: str, index: str | None) -> Clbit:
    reg = ctx.bits.get(name)
    if reg is None:
        raise QASM3Error(f"unknown classical register {name!r}")
    i = int(index) if index is not None else 0
    if index is None and reg.size != 1:
        raise QASM3Error(f"measuring into the whole register {name!r} needs an index")
    if i >= reg.size:
        raise QASM3Error(f"bit {name}[{i}] is out of range")
    return reg[i]


def _split_args(text: str) -> list[str]:
    args, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
    args.append(text[start:])
    return [a.strip() for a in args if a.strip()]


# Expressions ----------------------------------------------------------------------------------

_EXPR_TOKEN = re.compile(
    r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|([A-Za-z_π τ][A-Za-z0-9_]*)"
    r"|(\*\*|[-+*/()]))"
)
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
            sqrt=lambda x: x**0.5,
        )
    return _FUNCTIONS


def _expression(text: str, inputs: dict[str, Parameter]) -> Any:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _EXPR_TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QASM3Error(f"cannot parse expression {text!r}")
        number, name, op = match.groups()
        if number is not None:
            tokens.append(("num", number))
        elif name is not None:
            tokens.append(("name", name.strip()))
        else:
            tokens.append(("op", op))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    parser = _ExprParser(tokens, inputs)
    value = parser.parse_sum()
    if parser.pos != len(tokens):
        raise QASM3Error(f"cannot parse expression {text!r}")
    return value


class _ExprParser:
    def __init__(self, tokens: list[tuple[str, str]], inputs: dict[str, Parameter]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.inputs = inputs

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QASM3Error("unexpected end of expression")
        self.pos += 1
        return token

    def parse_sum(self) -> Any:
        value = self.parse_product()
        while (t := self.peek()) is not None and t in (("op", "+"), ("op", "-")):
            self.pos += 1
            rhs = self.parse_product()
            value = value + rhs if t[1] == "+" else value - rhs
        return value

    def parse_product(self) -> Any:
        value = self.parse_unary()
        while (t := self.peek()) is not None and t in (("op", "*"), ("op", "/")):
            self.pos += 1
            rhs = self.parse_unary()
            value = value * rhs if t[1] == "*" else value / rhs
        return value

    def parse_unary(self) -> Any:
        t = self.peek()
        if t == ("op", "-"):
            self.pos += 1
            return -self.parse_unary()
        if t == ("op", "+"):
            self.pos += 1
            return self.parse_unary()
        return self.parse_power()

    def parse_power(self) -> Any:
        base = self.parse_atom()
        if self.peek() == ("op", "**"):
            self.pos += 1
            return base ** self.parse_unary()
        return base

    def parse_atom(self) -> Any:
        kind, value = self.take()
        if kind == "num":
            return float(value)
        if kind == "op" and value == "(":
            inner = self.parse_sum()
            if self.take() != ("op", ")"):
                raise QASM3Error("missing ')'")
            return inner
        if kind == "name":
            if value in _CONSTANTS:
                return _CONSTANTS[value]
            if value in self.inputs:
                return self.inputs[value]
            funcs = _functions()
            if value in funcs and self.peek() == ("op", "("):
                self.pos += 1
                arg = self.parse_sum()
                if self.take() != ("op", ")"):
                    raise QASM3Error("missing ')'")
                return funcs[value](arg)
            raise QASM3Error(f"unknown identifier {value!r}")
        raise QASM3Error(f"unexpected {value!r} in expression")
