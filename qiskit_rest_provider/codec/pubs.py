"""Primitive inputs (``params`` of ``POST /v1/jobs``) both ways.

Client side, :func:`encode_sampler_pub` / :func:`encode_estimator_pub` produce the wire form with
OpenQASM 3 circuits. Service side, :func:`decode_pubs` accepts every form the official client
and raw REST users send — QPY-typed circuits, OpenQASM 3 strings, short pubs, ``null`` shots or
precision, Pauli-string observables — and returns Qiskit ``SamplerPub``/``EstimatorPub`` objects
plus the parameter order of each circuit.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers import EstimatorPub, SamplerPub
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.observables_array import ObservablesArray

from ..exceptions import MALFORMED_INPUT_ERRORS
from .ndarray import decode_ndarray, encode_ndarray
from .qasm3 import QASM3Error, loads_isa

__all__ = [
    "PubError",
    "decode_circuit",
    "decode_pubs",
    "encode_estimator_pub",
    "encode_observables",
    "encode_sampler_pub",
]

_MAX_QPY_BYTES = 256 * 1024 * 1024


class PubError(ValueError):
    """A pub cannot be decoded; the message names the pub and the problem."""


# Client side ----------------------------------------------------------------------------------


def encode_observables(observables: ObservablesArray) -> Any:
    """``ObservablesArray.tolist()`` with real coefficients: ``{"IIZZ": 1.0}`` or nested lists."""

    def clean(item: Any) -> Any:
        if isinstance(item, list):
            return [clean(i) for i in item]
        return {str(k): float(np.real(v)) for k, v in item.items()}

    return clean(observables.tolist())


def encode_sampler_pub(qasm: str, values: NDArray[Any], shots: int | None) -> list[Any]:
    """``[circuit, parameter_values, shots]`` with the circuit as OpenQASM 3 text and the values
    (last axis in ``circuit.parameters`` order) as an ndarray wrapper; ``None`` shots lets the
    service apply ``default_shots``."""
    return [qasm, encode_ndarray(values), shots]


def encode_estimator_pub(pub: EstimatorPub, qasm: str) -> list[Any]:
    """``[circuit, observables, parameter_values, precision]``."""
    values = pub.parameter_values.as_array(pub.circuit.parameters)
    return [qasm, encode_observables(pub.observables), encode_ndarray(values), pub.precision]


# Service side ---------------------------------------------------------------------------------


@dataclass
class DecodedCircuit:
    circuit: QuantumCircuit
    #: Parameter names in the column order of the parameter-values array.
    parameter_order: list[str]


def decode_circuit(
    value: Any, *, num_qubits: int | None = None, where: str = "pub"
) -> DecodedCircuit:
    """A circuit from OpenQASM 3 text or a ``{"__type__": "QuantumCircuit"}`` QPY wrapper."""
    if isinstance(value, str):
        try:
            circuit, order = loads_isa(value, max_qubits=num_qubits)
        except QASM3Error as exc:
            raise PubError(f"{where}: invalid OpenQASM 3: {exc}") from None
        return DecodedCircuit(circuit, order)
    if isinstance(value, Mapping) and value.get("__type__") == "QuantumCircuit":
        circuit = _load_qpy(value.get("__value__"), where)
        if num_qubits is not None and circuit.num_qubits > num_qubits:
            raise PubError(
                f"{where}: the circuit has {circuit.num_qubits} qubits; "
                f"the backend has {num_qubits}"
            )
        return DecodedCircuit(circuit, [p.name for p in circuit.parameters])
    raise PubError(f"{where}: the circuit must be OpenQASM 3 text or a QPY QuantumCircuit wrapper")


def _load_qpy(value: Any, where: str) -> QuantumCircuit:
    from qiskit import qpy

    if not isinstance(value, str):
        raise PubError(f"{where}: QPY circuit value must be a base64 string")
    try:
        compressed = base64.b64decode(value, validate=True)
        decompressor = zlib.decompressobj()
        raw = decompressor.decompress(compressed, _MAX_QPY_BYTES)
        if decompressor.unconsumed_tail:
            raise PubError(f"{where}: QPY payload too large")
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise PubError(f"{where}: QPY circuit is not base64/zlib data ({exc})") from None
    if not raw.startswith(b"QISKIT"):
        raise PubError(f"{where}: not a QPY payload")
    try:
        circuits = qpy.load(io.BytesIO(raw))
    except Exception as exc:  # QPY raises many kinds of errors on bad input
        raise PubError(f"{where}: cannot load QPY: {exc}") from None
    if len(circuits) != 1 or not isinstance(circuits[0], QuantumCircuit):
        raise PubError(f"{where}: the QPY payload must hold exactly one circuit")
    return circuits[0]


def _values(value: Any, decoded: DecodedCircuit, where: str) -> BindingsArray:
    circuit = decoded.circuit
    n = circuit.num_parameters
    if value is None:
        if n:
            raise PubError(f"{where}: the circuit has {n} parameter(s) but no values were given")
        return BindingsArray()
    if isinstance(value, Mapping) and value.get("__type__") == "ndarray":
        try:
            array = np.asarray(decode_ndarray(value.get("__value__")), dtype=float)
        except (ValueError, TypeError) as exc:
            raise PubError(f"{where}: parameter values: {exc}") from None
    elif isinstance(value, Mapping):  # {name: values}
        by_name = {p.name: p for p in circuit.parameters}
        data = {}
        for key, vals in value.items():
            if key not in by_name:
                raise PubError(f"{where}: unknown parameter {key!r}")
            data[by_name[key]] = np.asarray(vals, dtype=float)
        try:
            return BindingsArray.coerce(data)
        except (ValueError, TypeError) as exc:
            raise PubError(f"{where}: parameter values: {exc}") from None
    else:
        try:
            array = np.asarray(value, dtype=float)
        except (ValueError, TypeError):
            raise PubError(f"{where}: parameter values must be numbers") from None
    if n == 0:
        if array.size and array.shape[-1:] != (0,):
            raise PubError(f"{where}: the circuit has no parameters but values were given")
        return BindingsArray(shape=array.shape[:-1] if array.ndim else ())
    if array.ndim == 0 or array.shape[-1] != n:
        raise PubError(
            f"{where}: expected parameter values with last axis {n} (one per parameter), "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise PubError(f"{where}: parameter values must be finite")
    by_name = {p.name: p for p in circuit.parameters}
    try:
        ordered = [by_name[name] for name in decoded.parameter_order]
    except KeyError as exc:
        raise PubError(f"{where}: parameter {exc} is declared but not used") from None
    if len(ordered) != n:
        raise PubError(f"{where}: {n} parameters used but {len(ordered)} declared as inputs")
    return BindingsArray({tuple(ordered): array})


def _observables(value: Any, num_qubits: int, where: str) -> ObservablesArray:
    def convert(item: Any) -> Any:
        if isinstance(item, list):
            return [convert(i) for i in item]
        if isinstance(item, str):
            return {_pad(item, num_qubits, where): 1.0}
        if isinstance(item, Mapping):
            out = {}
            for label, coeff in item.items():
                if isinstance(coeff, bool) or not isinstance(coeff, (int, float)):
                    raise PubError(f"{where}: observable coefficients must be real numbers")
                out[_pad(str(label), num_qubits, where)] = float(coeff)
            return out
        raise PubError(f"{where}: observables must be Pauli strings or {{pauli: coeff}} objects")

    try:
        return ObservablesArray(convert(value))
    except (ValueError, TypeError) as exc:
        raise PubError(f"{where}: invalid observables: {exc}") from None


def _pad(label: str, num_qubits: int, where: str) -> str:
    if not label or any(c not in "IXYZ" for c in label):
        raise PubError(f"{where}: invalid Pauli label {label!r}")
    if len(label) > num_qubits:
        if set(label[: len(label) - num_qubits]) <= {"I"}:
            return label[len(label) - num_qubits :]
        raise PubError(f"{where}: observable {label!r} is wider than the circuit ({num_qubits})")
    return "I" * (num_qubits - len(label)) + label


def decode_pubs(
    program: str,
    pubs: Any,
    *,
    num_qubits: int | None,
    default_shots: int | None = None,
    default_precision: float | None = None,
) -> list[SamplerPub] | list[EstimatorPub]:
    """Decode ``params["pubs"]`` into Qiskit pubs with shots/precision resolved."""
    if not isinstance(pubs, list) or not pubs:
        raise PubError("params.pubs must be a non-empty list")
    out: list[Any] = []
    for i, raw in enumerate(pubs):
        where = f"pub {i}"
        items = list(raw) if isinstance(raw, list) else [raw]
        if not items:
            raise PubError(f"{where}: empty pub")
        try:
            decoded = decode_circuit(items[0], num_qubits=num_qubits, where=where)
            circuit = decoded.circuit
            if program == "sampler":
                if len(items) > 3:
                    raise PubError(f"{where}: a sampler pub has at most 3 entries")
                values = _values(items[1] if len(items) > 1 else None, decoded, where)
                shots = items[2] if len(items) > 2 and items[2] is not None else default_shots
                if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
                    raise PubError(f"{where}: shots must be an integer")
                if shots is not None and shots <= 0:
                    raise PubError(f"{where}: shots must be positive")
                out.append(SamplerPub(circuit, values, shots))
            else:
                if len(items) < 2 or len(items) > 4:
                    raise PubError(f"{where}: an estimator pub is [circuit, observables, ...]")
                observables = _observables(items[1], circuit.num_qubits, where)
                values = _values(items[2] if len(items) > 2 else None, decoded, where)
                precision = (
                    items[3] if len(items) > 3 and items[3] is not None else default_precision
                )
                if precision is not None and (
                    isinstance(precision, bool)
                    or not isinstance(precision, (int, float))
                    or precision <= 0
                ):
                    raise PubError(f"{where}: precision must be a positive number")
                out.append(
                    EstimatorPub(
                        circuit,
                        observables,
                        values,
                        None if precision is None else float(precision),
                    )
                )
        except PubError:
            raise
        except MALFORMED_INPUT_ERRORS as exc:
            # Shape mismatches raised by Qiskit's containers, and a safety net for payloads no
            # specific check anticipated: a bad pub is the client's error, never the service's.
            raise PubError(f"{where}: {exc}") from None
    return out
