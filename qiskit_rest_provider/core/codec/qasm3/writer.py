"""The OpenQASM 3 writer for ISA circuits (client side).

It emits physical qubits (``$n``), one ``input float[64]`` per parameter in the order of
``circuit.parameters`` (the order of the parameter-values array), classical registers under
their own names, and gate definitions for standard gates outside ``stdgates.inc`` (``ecr``,
``rzz``, ...). Circuits with anything else fall back to ``qiskit.qasm3.dumps``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from qiskit.circuit import (
    CircuitInstruction,
    ClassicalRegister,
    Clbit,
    Parameter,
    ParameterExpression,
    QuantumCircuit,
)

from ....errors import QASM3Error
from .names import IDENT_RE, RESERVED, STDGATES, is_identifier, standard_gates

__all__ = ["dumps_isa"]


@functools.lru_cache(maxsize=64)
def _gate_definition(name: str) -> str:
    """``gate …{…}`` text for a standard gate outside stdgates.inc, via Qiskit's exporter."""
    from qiskit import qasm3

    if name == "u":  # Qiskit's UGate is OpenQASM 3's built-in U, which needs no definition
        return "gate u(_p0, _p1, _p2) _q0 {\n  U(_p0, _p1, _p2) _q0;\n}"
    op = standard_gates()[name]
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


def _identifier(name: str, used: set[str]) -> str:
    base = name if IDENT_RE.match(name) and name not in RESERVED else None
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
    standard = standard_gates()
    used: set[str] = set()
    param_names = _input_names(circuit, used)
    qidx = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_ref: dict[Clbit, str] = {}
    header = ["OPENQASM 3.0;", 'include "stdgates.inc";']
    header.extend(f"input float[64] {param_names[p]};" for p in circuit.parameters)
    for creg in circuit.cregs:
        name = creg.name
        if not IDENT_RE.match(name) or name in RESERVED or name in used:
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
