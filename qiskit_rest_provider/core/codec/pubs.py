"""Primitive inputs (``params`` of ``POST /v1/jobs``) both ways.

Client side, :func:`encode_sampler_pub` / :func:`encode_estimator_pub` produce the wire form with
OpenQASM 3 circuits. Service side, :func:`decode_pubs` accepts every form the official client
and raw REST users send — QPY-typed circuits, OpenQASM 3 strings, short pubs, ``null`` shots or
precision, Pauli-string observables — and returns Qiskit ``SamplerPub``/``EstimatorPub`` objects
plus the parameter order of each circuit.

Hostile input is normal input here: every size a request declares is checked before anything of
that size is built. A QPY payload's structure (every circuit header, register, nested block and
custom definition) is walked in linear time and checked against the backend's width and the
limits below before ``qpy.load`` sees it; an ndarray's declared shape is checked before it is
inflated; observables are counted before they are built. All pubs of one request share one
budget of decoded bytes (:data:`MAX_DECODED_BYTES`). Every refusal is a :class:`PubError` that
names the pub, the size and the limit.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers import EstimatorPub, SamplerPub
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.observables_array import ObservablesArray

from ...errors import MALFORMED_INPUT_ERRORS, PubError, ResultDecodeError
from .ndarray import DecodeBudget, decode_ndarray, encode_ndarray, npy_header
from .qasm3 import QASM3Error, loads_isa

__all__ = [
    "MAX_CLBITS",
    "MAX_DECODED_BYTES",
    "MAX_PARAMETER_SETS",
    "MAX_QPY_BYTES",
    "MAX_QPY_INSTRUCTIONS",
    "MAX_QPY_NESTING",
    "MAX_QUBITS",
    "PubError",
    "decode_circuit",
    "decode_pubs",
    "encode_estimator_pub",
    "encode_observables",
    "encode_sampler_pub",
]

# Limits (service side) ------------------------------------------------------------------------
#
# None of these refuses a realistic job: the largest IBM devices have 156 qubits, a transpiled
# 156-qubit circuit with 100,000 instructions is a 5 MB QPY payload, and a 100-pub sweep of
# 10,000 parameter sets x 50 parameters is 400 MB of float64 values.

#: Decoded bytes all pubs of one request may hold together: parameter values (as decoded plus
#: their float64 cast), observables, QPY payloads and the circuits built from them, OpenQASM
#: text (see the ``_*_COST`` estimates below). 512 MiB passes the 400 MB sweep above; it is the
#: most one request can make the service's decoder hold.
MAX_DECODED_BYTES = 512 * 1024**2
#: Parameter sets per pub (the size of its broadcast shape, observables included). A shape is
#: checked before its array is inflated: an ndarray of shape ``(10**8, 0)`` holds no bytes but
#: would be 10**8 circuit executions.
MAX_PARAMETER_SETS = 1_000_000
#: Qubits of a circuit when the backend's width is not known (the client reading a job's inputs);
#: the service passes the backend's qubit count instead. Same as the OpenQASM reader's default.
MAX_QUBITS = 2048
#: Classical bits per circuit (the OpenQASM reader's limit too): 156 qubits measured 400 times.
MAX_CLBITS = 65_536
#: Decompressed size of one QPY payload.
MAX_QPY_BYTES = 256 * 1024 * 1024
#: Instructions of one QPY circuit, nested blocks and custom definitions included (the
#: OpenQASM reader's limit too).
MAX_QPY_INSTRUCTIONS = 1_000_000
#: Nesting of circuits inside a QPY payload (control-flow blocks, custom definitions, tuples of
#: parameters), as for OpenQASM blocks.
MAX_QPY_NESTING = 64
#: Elements of one ``ParameterVector`` declared in a QPY payload (Qiskit builds them all).
MAX_QPY_VECTOR = 1_000_000
#: Nesting of an observables array (its number of dimensions), as numpy allows at most 64.
MAX_OBSERVABLE_DIMS = 32

# Decoded-size estimates charged to the request's budget (measured on Qiskit 2.6, rounded up).
#: Per qubit or clbit of a circuit (a bit object, about 130 bytes).
_BIT_COST = 256
#: Per byte of an inflated QPY payload (the bytes themselves while loading, plus the circuit:
#: about 1.5 bytes per byte).
_QPY_BYTE_COST = 3
#: Per bit index of a QPY register (registers may alias bits).
_REGISTER_BIT_COST = 16
#: Per element of a QPY ParameterVector.
_VECTOR_ELEMENT_COST = 256
#: Per character of OpenQASM text (a circuit instruction costs about 76 bytes, a statement is
#: 10 to 25 characters).
_QASM_CHAR_COST = 8
#: Per Pauli term of an observable, plus :data:`_TERM_QUBIT_COST` per qubit of its width (the
#: padded label and the SparseObservable: about 900 bytes for a dense 156-qubit term).
_TERM_COST = 512
_TERM_QUBIT_COST = 8
#: Per parameter value after the float64 cast.
_FLOAT_COST = 8


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
    """A circuit decoded from a pub (see :func:`decode_circuit`), with the order in which the
    pub's parameter values bind to its parameters."""

    circuit: QuantumCircuit
    #: Parameter names in the column order of the parameter-values array.
    parameter_order: list[str]


class _Budget:
    """The request's decode budget, with refusals that name the pub and the limit."""

    __slots__ = ("budget",)

    def __init__(self, budget: DecodeBudget) -> None:
        self.budget = budget

    def take(self, nbytes: int, where: str, what: str) -> None:
        if not self.budget.take(nbytes):
            raise PubError(
                f"{where}: {what} would need about {nbytes:,} bytes decoded; with "
                f"{self.budget.used:,} already decoded for this request that exceeds the limit "
                f"of {self.budget.limit:,} bytes per request"
            )


def decode_circuit(
    value: Any,
    *,
    num_qubits: int | None = None,
    where: str = "pub",
    max_clbits: int = MAX_CLBITS,
    budget: DecodeBudget | None = None,
) -> DecodedCircuit:
    """A circuit from OpenQASM 3 text or a ``{"__type__": "QuantumCircuit"}`` QPY wrapper.

    Widths are bounded by ``num_qubits`` (else :data:`MAX_QUBITS`) and ``max_clbits``, and the
    decoded size is charged to ``budget`` (else a fresh one of :data:`MAX_DECODED_BYTES`), all
    before anything of the declared size is built.
    """
    spend = _Budget(budget if budget is not None else DecodeBudget(MAX_DECODED_BYTES))
    if isinstance(value, str):
        spend.take(
            len(value) * _QASM_CHAR_COST, where, f"an OpenQASM program of {len(value):,} characters"
        )
        try:
            circuit, order = loads_isa(value, max_qubits=num_qubits)
        except QASM3Error as exc:
            raise PubError(f"{where}: invalid OpenQASM 3: {exc}") from None
        return DecodedCircuit(circuit, order)
    if isinstance(value, Mapping) and value.get("__type__") == "QuantumCircuit":
        max_qubits = MAX_QUBITS if num_qubits is None else num_qubits
        circuit = _load_qpy(value.get("__value__"), where, max_qubits, max_clbits, spend)
        if circuit.num_qubits > max_qubits:
            raise PubError(
                f"{where}: the circuit has {circuit.num_qubits} qubits; "
                f"the backend has {max_qubits}"
            )
        return DecodedCircuit(circuit, [p.name for p in circuit.parameters])
    raise PubError(f"{where}: the circuit must be OpenQASM 3 text or a QPY QuantumCircuit wrapper")


def _load_qpy(
    value: Any, where: str, max_qubits: int, max_clbits: int, spend: _Budget
) -> QuantumCircuit:
    from qiskit import qpy

    if not isinstance(value, str):
        raise PubError(f"{where}: QPY circuit value must be a base64 string")
    # The payload's own bytes are charged first, so a decompression bomb stops at the budget.
    limit = min(MAX_QPY_BYTES, spend.budget.remaining // _QPY_BYTE_COST)
    raw = _inflate_qpy(value, limit, where)
    if raw is None:
        raise PubError(
            f"{where}: the QPY payload inflates to more than {limit:,} bytes (the limit is "
            f"{MAX_QPY_BYTES:,} bytes per payload, within the request's decode budget of "
            f"{spend.budget.limit:,} bytes)"
        )
    spend.take(len(raw) * _QPY_BYTE_COST, where, f"a QPY payload of {len(raw):,} bytes")
    walk = _check_qpy(raw, where, max_qubits, max_clbits)
    spend.take(walk.cost(), where, "the circuits of the QPY payload")
    try:
        circuits = qpy.load(io.BytesIO(raw))
    except (KeyboardInterrupt, SystemExit):  # pragma: no cover - not input errors
        raise
    except BaseException as exc:  # QPY raises many kinds of errors, Rust panics included
        raise PubError(f"{where}: cannot load QPY: {exc}") from None
    if len(circuits) != 1 or not isinstance(circuits[0], QuantumCircuit):
        raise PubError(f"{where}: the QPY payload must hold exactly one circuit")
    return circuits[0]


def _inflate_qpy(value: str, limit: int, where: str) -> bytes | None:
    """base64(zlib(QPY)) inflated in pieces; ``None`` once it exceeds ``limit`` bytes. Anything
    but a QPY file is refused after its first piece."""
    try:
        pending = base64.b64decode(value, validate=True)
        decompressor = zlib.decompressobj()
        pieces: list[bytes] = []  # joined once complete: no reallocation while inflating
        size = 0
        while not decompressor.eof and size <= limit:
            before = len(pending)
            piece = decompressor.decompress(pending, min(1 << 20, limit + 1 - size))
            pending = decompressor.unconsumed_tail
            pieces.append(piece)
            size += len(piece)
            if not pieces[0].startswith(b"QISKIT"[: len(pieces[0])]):
                raise PubError(f"{where}: not a QPY payload")
            if not piece and len(pending) >= before:
                break  # the stream is truncated: QPY will say what is missing
    except (binascii.Error, ValueError, zlib.error) as exc:
        if isinstance(exc, PubError):
            raise
        raise PubError(f"{where}: QPY circuit is not base64/zlib data ({exc})") from None
    if size > limit:
        return None
    raw = b"".join(pieces)
    if not raw.startswith(b"QISKIT"):
        raise PubError(f"{where}: not a QPY payload")
    return raw


# The QPY structure walker. Formats from qiskit.qpy's documentation (versions 1 to 18); all
# integers are big-endian. Only what has a declared count or size is read; everything else is
# skipped by its length prefix.
_S = struct.Struct
_FILE_HEADER = _S("!6sBBBBQ")
_FILE_HEADER_V10 = _S("!6sBBBBQc")
_U16, _U32, _U64 = _S("!H"), _S("!I"), _S("!Q")
_CIRCUIT_V1 = _S("!HdIIQIQ")
_CIRCUIT_V2 = _S("!H1cHIIQIQ")
_CIRCUIT_V12 = _S("!H1cHIIQIQI")
_REGISTER_V1 = _S("!1c?IH")
_REGISTER_V4 = _S("!1c?IH?")
_REGISTER_V18 = _S("!1c?IH?B")
_VAR_DECLARATION = _S("!16scH")
_SIZED_PAIR = _S("!IQ")  # annotation namespace/state sizes; instruction annotation index/size
_VECTOR_ENTRY = _S("!HQ16s")
_CUSTOM_V1 = _S("!H1cII?Q")
_CUSTOM_V5 = _S("!H1cII?QIIQ")
_INSTRUCTION_V1 = _S("!HHHII?Hq")
_INSTRUCTION_V5 = _S("!HHHIIBHqII")
_INSTRUCTION_V5_HEAD = _S("!HHHIIBH")  # the fields the hot loop needs
_ARG_SIZE = 5
_PARAM = _S("!cQ")
_LAYOUT_V8 = _S("!?iiiI")
_LAYOUT_V10 = _S("!?iiiIi")
_LAYOUT_BIT = _S("!ii")
_PAULI_EVOLUTION = _S("!Q?1cQQ")
_SPARSE_OBSERVABLE = _S("!IQQQQ")
_EXPR_TYPE_PAYLOAD = {b"b": 0, b"f": 0, b"d": 0, b"u": 4}
_HAS_ANNOTATIONS = 0x80


class _QpyWalk:
    """Walks every circuit of a QPY payload (nested blocks and custom definitions included) in
    time linear in its length, checking each declared count against the limits and against the
    bytes that must hold it, before ``qpy.load`` allocates anything for them."""

    def __init__(
        self, raw: bytes, version: int, where: str, max_qubits: int, max_clbits: int
    ) -> None:
        self.raw = raw
        self.version = version
        self.where = where
        self.max_qubits = max_qubits
        self.max_clbits = max_clbits
        self.instruction_count = 0
        self.bits = 0
        self.register_bits = 0
        self.vector_elements = 0
        #: Circuit payloads whose length was given and which did not end where it said (the
        #: format tests check this stays empty for everything Qiskit writes).
        self.loose_ends: list[int] = []
        #: Where the top-level circuit ended (Qiskit ignores anything after it).
        self.end = 0

    def cost(self) -> int:
        """Bytes charged for what the payload declares (beyond its own bytes)."""
        return (
            self.bits * _BIT_COST
            + self.register_bits * _REGISTER_BIT_COST
            + self.vector_elements * _VECTOR_ELEMENT_COST
        )

    def fail(self, message: str) -> NoReturn:
        raise PubError(f"{self.where}: QPY payload refused: {message}")

    def read(self, layout: struct.Struct, pos: int, end: int) -> tuple[tuple[Any, ...], int]:
        stop = pos + layout.size
        if stop > end:
            self.fail(f"truncated at byte {pos}")
        return layout.unpack_from(self.raw, pos), stop

    def skip(self, pos: int, size: int, end: int) -> int:
        if size < 0 or pos + size > end:
            self.fail(f"a field of {size:,} bytes at byte {pos} overruns its container")
        return pos + size

    def fits(self, count: int, unit: int, pos: int, end: int, what: str) -> None:
        """``count`` items of at least ``unit`` bytes each must fit in ``[pos, end)``."""
        if count * unit > end - pos:
            self.fail(
                f"{count:,} {what} declared at byte {pos}, more than the {end - pos:,} bytes "
                "that follow can hold"
            )

    def width(self, qubits: int, clbits: int, what: str) -> None:
        if qubits > self.max_qubits:
            self.fail(f"{what} declares {qubits:,} qubits; the limit is {self.max_qubits:,}")
        if clbits > self.max_clbits:
            self.fail(f"{what} declares {clbits:,} clbits; the limit is {self.max_clbits:,}")

    # Sections -----------------------------------------------------------------------------------

    def circuit(self, pos: int, end: int, depth: int) -> int:
        if depth > MAX_QPY_NESTING:
            self.fail(f"circuits nested more than {MAX_QPY_NESTING} deep")
        version = self.version
        num_vars = 0
        if version < 2:
            (name_size, _, qubits, clbits, meta, registers, instructions), pos = self.read(
                _CIRCUIT_V1, pos, end
            )
            phase_size = 0
        elif version < 12:
            fields, pos = self.read(_CIRCUIT_V2, pos, end)
            name_size, _, phase_size, qubits, clbits, meta, registers, instructions = fields
        else:
            fields, pos = self.read(_CIRCUIT_V12, pos, end)
            name_size, _, phase_size, qubits, clbits, meta, registers, instructions, num_vars = (
                fields
            )
        self.width(qubits, clbits, "a circuit")
        self.bits += qubits + clbits
        pos = self.skip(pos, name_size + phase_size + meta, end)
        pos = self.registers(pos, end, registers)
        if version >= 12:
            self.fits(num_vars, _VAR_DECLARATION.size + 1, pos, end, "variables")
            for _ in range(num_vars):
                (_, _, var_name_size), pos = self.read(_VAR_DECLARATION, pos, end)
                payload = _EXPR_TYPE_PAYLOAD.get(self.raw[pos : pos + 1])
                if payload is None:
                    self.fail(f"unknown variable type {self.raw[pos : pos + 1]!r} at byte {pos}")
                pos = self.skip(pos, 1 + payload + var_name_size, end)
        if version >= 15:
            (namespaces,), pos = self.read(_U32, pos, end)
            self.fits(namespaces, _SIZED_PAIR.size, pos, end, "annotation namespaces")
            for _ in range(namespaces):
                (namespace_size, state_size), pos = self.read(_SIZED_PAIR, pos, end)
                pos = self.skip(pos, namespace_size + state_size, end)
        if version >= 18:
            (vectors,), pos = self.read(_U16, pos, end)
            for _ in range(vectors):
                (vector_name_size, size, _), pos = self.read(_VECTOR_ENTRY, pos, end)
                if size > MAX_QPY_VECTOR:
                    self.fail(
                        f"a ParameterVector of {size:,} elements; the limit is {MAX_QPY_VECTOR:,}"
                    )
                self.vector_elements += size
                pos = self.skip(pos, vector_name_size, end)
        (customs,), pos = self.read(_U64, pos, end)
        custom_layout = _CUSTOM_V1 if version < 5 else _CUSTOM_V5
        self.fits(customs, custom_layout.size, pos, end, "custom instructions")
        for _ in range(customs):
            pos = self.custom(pos, end, depth)
        self.instruction_count += instructions
        if self.instruction_count > MAX_QPY_INSTRUCTIONS:
            self.fail(
                f"{self.instruction_count:,} instructions or more; the limit is "
                f"{MAX_QPY_INSTRUCTIONS:,} per circuit"
            )
        instruction_layout = _INSTRUCTION_V1 if version < 5 else _INSTRUCTION_V5
        self.fits(instructions, instruction_layout.size, pos, end, "instructions")
        pos = self.instructions(pos, end, instructions, depth)
        if 5 <= version < 18:
            (calibrations,), pos = self.read(_U16, pos, end)
            if calibrations:
                self.fail("pulse calibrations are not supported (Qiskit 2 has no pulse)")
        if version >= 8:
            pos = self.layout(pos, end)
        return pos

    def registers(self, pos: int, end: int, count: int) -> int:
        version = self.version
        if version < 4:
            layout, index_size = _REGISTER_V1, 4
        elif version < 18:
            layout, index_size = _REGISTER_V4, 8
        else:
            layout, index_size = _REGISTER_V18, 4
        self.fits(count, layout.size, pos, end, "registers")
        for _ in range(count):
            fields, pos = self.read(layout, pos, end)
            kind, size, name_size = fields[0], fields[2], fields[3]
            attached = version >= 18 and fields[5] == 1
            if kind == b"c":
                if size > self.max_clbits:
                    self.fail(f"a register of {size:,} clbits; the limit is {self.max_clbits:,}")
            elif kind in (b"q", b"a"):
                if size > self.max_qubits:
                    self.fail(f"a register of {size:,} qubits; the limit is {self.max_qubits:,}")
            else:
                self.fail(f"unknown register type {kind!r}")
            self.register_bits += size
            pos = self.skip(pos, name_size + (index_size if attached else index_size * size), end)
        return pos

    def custom(self, pos: int, end: int, depth: int) -> int:
        if self.version < 5:
            (name_size, kind, qubits, clbits, has_definition, size), pos = self.read(
                _CUSTOM_V1, pos, end
            )
            base_size = 0
        else:
            fields, pos = self.read(_CUSTOM_V5, pos, end)
            name_size, kind, qubits, clbits, has_definition, size, _, _, base_size = fields
        self.width(qubits, clbits, "a custom instruction")
        name = self.raw[pos : pos + name_size]
        pos = self.skip(pos, name_size, end)
        if has_definition:
            stop = self.skip(pos, size, end)
            if kind == b"p" or (self.version >= 3 and name.startswith(b"###PauliEvolutionGate_")):
                self.pauli_evolution(pos, stop)
            else:
                self.nested(pos, stop, depth + 1)
            pos = stop
        if base_size:  # the base gate, as an instruction without operands
            stop = self.skip(pos, base_size, end)
            self.instruction(pos, stop, depth + 1, operands=False)
            pos = stop
        return pos

    def nested(self, pos: int, stop: int, depth: int) -> None:
        if self.circuit(pos, stop, depth) != stop:
            self.loose_ends.append(pos)

    def instructions(self, pos: int, end: int, count: int, depth: int) -> int:
        """``count`` instructions. The hot loop, inlined: an ordinary gate costs one struct
        read plus one per parameter; anything unusual goes through :meth:`instruction`."""
        if self.version < 5:
            for _ in range(count):
                pos = self.instruction(pos, end, depth)
            return pos
        raw = self.raw
        unpack = _INSTRUCTION_V5_HEAD.unpack_from
        size = _INSTRUCTION_V5.size
        unpack_param = _PARAM.unpack_from
        param_size = _PARAM.size
        unusual = 0b11 | (_HAS_ANNOTATIONS if self.version >= 15 else 0)
        max_qubits, max_clbits = self.max_qubits, self.max_clbits
        for _ in range(count):
            if pos + size > end:
                self.fail(f"truncated at byte {pos}")
            names, label, params, qargs, cargs, extras, condition = unpack(raw, pos)
            if qargs > max_qubits or cargs > max_clbits or extras & unusual:
                pos = self.instruction(pos, end, depth)
                continue
            pos += size + names + label + condition + _ARG_SIZE * (qargs + cargs)
            for _ in range(params):
                if pos + param_size > end:
                    self.fail(f"truncated at byte {pos}")
                kind, length = unpack_param(raw, pos)
                if kind in b"qtn":  # values that hold sizes of their own
                    pos = self.param(pos, end, depth)
                else:
                    pos += param_size + length
        if pos > end:
            self.fail(f"the instructions overrun their container (byte {pos} of {end})")
        return pos

    def instruction(self, pos: int, end: int, depth: int, *, operands: bool = True) -> int:
        if self.version < 5:
            fields, pos = self.read(_INSTRUCTION_V1, pos, end)
            name_size, label_size, params, qargs, cargs, has_condition, condition_size, _ = fields
            condition, annotated = (1 if has_condition else 0), False
        else:
            fields, pos = self.read(_INSTRUCTION_V5, pos, end)
            name_size, label_size, params, qargs, cargs, extras, condition_size = fields[:7]
            condition = extras & 0b11
            annotated = self.version >= 15 and bool(extras & _HAS_ANNOTATIONS)
        self.width(qargs, cargs, "an instruction")
        pos = self.skip(pos, name_size + label_size + condition_size, end)
        if condition == 2:  # an expression, as one typed value
            pos = self.param(pos, end, depth)
        if operands:
            pos = self.skip(pos, _ARG_SIZE * (qargs + cargs), end)
        self.fits(params, _PARAM.size, pos, end, "instruction parameters")
        for _ in range(params):
            pos = self.param(pos, end, depth)
        if annotated:
            (annotations,), pos = self.read(_U32, pos, end)
            self.fits(annotations, _SIZED_PAIR.size, pos, end, "annotations")
            for _ in range(annotations):
                (_, size), pos = self.read(_SIZED_PAIR, pos, end)
                pos = self.skip(pos, size, end)
        return pos

    def param(self, pos: int, end: int, depth: int) -> int:
        (kind, size), pos = self.read(_PARAM, pos, end)
        stop = self.skip(pos, size, end)
        if kind == b"q":  # a circuit: a control-flow block
            self.nested(pos, stop, depth + 1)
        elif kind == b"t":  # a tuple of typed values (switch cases, for-loop parameters)
            if depth >= MAX_QPY_NESTING:
                self.fail(f"values nested more than {MAX_QPY_NESTING} deep")
            (count,), inner = self.read(_U64, pos, stop)
            self.fits(count, _PARAM.size, inner, stop, "tuple items")
            for _ in range(count):
                inner = self.param(inner, stop, depth + 1)
        elif kind == b"n":  # a numpy array: its header must not declare more than it holds
            self.npy(pos, stop)
        return stop

    def npy(self, pos: int, stop: int) -> None:
        try:
            dtype, shape, _, offset = npy_header(self.raw[pos : min(stop, pos + 70000)])
        except ResultDecodeError as exc:
            self.fail(f"a numpy parameter: {exc}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > stop - pos - offset:
            self.fail(f"a numpy parameter declares {nbytes:,} bytes but holds {stop - pos:,}")

    def pauli_evolution(self, pos: int, end: int) -> None:
        (operators, _, _, time_size, synth_size), pos = self.read(_PAULI_EVOLUTION, pos, end)
        self.fits(operators, 1 if self.version >= 17 else 8, pos, end, "operators")
        for _ in range(operators):
            sparse = False
            if self.version >= 17:
                sparse = self.raw[pos : pos + 1] not in (b"\x00", b"")
                pos = self.skip(pos, 1, end)
            if sparse:
                (qubits, *lengths), pos = self.read(_SPARSE_OBSERVABLE, pos, end)
                self.width(qubits, 0, "an operator")
                for length in lengths:
                    pos = self.skip(pos, length, end)
            else:  # an .npy array of (label, coefficient): bounded by its bytes
                (size,), pos = self.read(_U64, pos, end)
                pos = self.skip(pos, size, end)
        self.skip(pos, time_size + synth_size, end)

    def layout(self, pos: int, end: int) -> int:
        if self.version >= 10:
            (exists, initial, mapping, final, extra, inputs), pos = self.read(_LAYOUT_V10, pos, end)
        else:
            (exists, initial, mapping, final, extra), pos = self.read(_LAYOUT_V8, pos, end)
            inputs = -1
        if not exists:
            return pos
        for size in (initial, mapping, final, inputs):
            if size < -1 or size > self.max_qubits:
                self.fail(f"a layout of {size:,} qubits; the limit is {self.max_qubits:,}")
        pos = self.registers(pos, end, extra)
        self.fits(initial, _LAYOUT_BIT.size, pos, end, "layout qubits")
        for _ in range(max(initial, 0)):
            (index, name_size), pos = self.read(_LAYOUT_BIT, pos, end)
            if name_size >= 0:
                pos = self.skip(pos, name_size, end)
            elif (index, name_size) != (-1, -1):
                self.fail(f"invalid layout entry at byte {pos}")
        return self.skip(pos, 4 * (max(mapping, 0) + max(final, 0)), end)


def _check_qpy(raw: bytes, where: str, max_qubits: int, max_clbits: int) -> _QpyWalk:
    """Check a whole QPY file (one circuit) before it is loaded; returns the walk's counts."""
    from qiskit.qpy import QPY_VERSION

    version = raw[6] if len(raw) > 6 else 0
    if not 1 <= version <= QPY_VERSION:
        raise PubError(f"{where}: QPY version {version} is not supported (1 to {QPY_VERSION})")
    walk = _QpyWalk(raw, version, where, max_qubits, max_clbits)
    end = len(raw)
    header = _FILE_HEADER_V10 if version >= 10 else _FILE_HEADER
    fields, pos = walk.read(header, 0, end)
    if fields[5] != 1:
        walk.fail(f"it holds {fields[5]:,} programs; exactly one circuit is expected")
    if version >= 5:
        if raw[pos : pos + 1] != b"q":
            walk.fail("the program is not a circuit")
        pos += 1
    if version >= 16:
        (offset,), pos = walk.read(_U64, pos, end)
        if not pos <= offset < end:
            walk.fail(f"the circuit offset {offset:,} is outside the payload")
        pos = offset
    walk.end = walk.circuit(pos, end, 0)
    return walk


def _values(
    value: Any,
    decoded: DecodedCircuit,
    where: str,
    spend: _Budget,
    max_sets: int,
) -> BindingsArray:
    circuit = decoded.circuit
    n = circuit.num_parameters
    if value is None:
        if n:
            raise PubError(f"{where}: the circuit has {n} parameter(s) but no values were given")
        return BindingsArray()

    def check_sets(shape: tuple[int, ...]) -> None:
        sets = math.prod(shape[:-1]) if shape else 1
        if sets > max_sets:
            raise PubError(
                f"{where}: {sets:,} parameter sets (values of shape {shape}) exceed the limit "
                f"of {max_sets:,} per pub"
            )

    if isinstance(value, Mapping) and value.get("__type__") == "ndarray":

        def check(dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
            # Before the array is inflated: its kind, its number of sets, and its decoded size
            # together with the float64 copy the cast makes.
            if dtype.kind not in "biuf" or dtype.itemsize > 8:
                raise PubError(f"{where}: parameter values must be real numbers, not {dtype}")
            check_sets(shape)
            count = math.prod(shape)
            cast = 0 if dtype == np.dtype(np.float64) else count * _FLOAT_COST
            spend.take(
                count * dtype.itemsize + cast,
                where,
                f"parameter values of shape {shape} ({dtype})",
            )

        try:
            array = np.asarray(decode_ndarray(value.get("__value__"), check=check), dtype=float)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, PubError):
                raise
            raise PubError(f"{where}: parameter values: {exc}") from None
    elif isinstance(value, Mapping):  # {name: values}
        by_name = {p.name: p for p in circuit.parameters}
        data = {}
        for key, vals in value.items():
            if key not in by_name:
                raise PubError(f"{where}: unknown parameter {key!r}")
            column = np.asarray(vals, dtype=float)
            spend.take(column.nbytes, where, f"values of parameter {key!r}")
            data[by_name[key]] = column
        try:
            bindings = BindingsArray.coerce(data)
        except (ValueError, TypeError) as exc:
            raise PubError(f"{where}: parameter values: {exc}") from None
        check_sets((*bindings.shape, 0))
        return bindings
    else:
        try:
            array = np.asarray(value, dtype=float)
        except (ValueError, TypeError):
            raise PubError(f"{where}: parameter values must be numbers") from None
        # JSON numbers: already parsed (and larger as Python objects than as float64).
        check_sets(array.shape)
        spend.take(array.nbytes, where, f"parameter values of shape {array.shape}")
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


def _count_observables(value: Any, where: str) -> tuple[int, int]:
    """``(elements, Pauli terms)`` of an observables array in wire form, without building it;
    refuses arrays nested deeper than :data:`MAX_OBSERVABLE_DIMS`."""
    elements = terms = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth >= MAX_OBSERVABLE_DIMS:
                raise PubError(
                    f"{where}: observables nested more than {MAX_OBSERVABLE_DIMS} levels deep"
                )
            stack.extend((i, depth + 1) for i in item)
        elif isinstance(item, Mapping):
            elements += 1
            terms += len(item)
        else:
            elements += 1
            terms += 1
    return elements, terms


def _observables(
    value: Any, num_qubits: int, where: str, spend: _Budget, max_sets: int
) -> ObservablesArray:
    elements, terms = _count_observables(value, where)
    if elements > max_sets:
        raise PubError(
            f"{where}: {elements:,} observables exceed the limit of {max_sets:,} per pub"
        )
    spend.take(
        terms * (_TERM_COST + _TERM_QUBIT_COST * num_qubits),
        where,
        f"{terms:,} Pauli terms on {num_qubits} qubits",
    )

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
        raise PubError(f"{where}: invalid Pauli label {label[:64]!r}")
    if len(label) > num_qubits:
        if set(label[: len(label) - num_qubits]) <= {"I"}:
            return label[len(label) - num_qubits :]
        raise PubError(
            f"{where}: observable {label[:64]!r} is wider than the circuit ({num_qubits})"
        )
    return "I" * (num_qubits - len(label)) + label


def decode_pubs(
    program: str,
    pubs: Any,
    *,
    num_qubits: int | None,
    default_shots: int | None = None,
    default_precision: float | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
    max_parameter_sets: int = MAX_PARAMETER_SETS,
    max_clbits: int = MAX_CLBITS,
) -> list[SamplerPub] | list[EstimatorPub]:
    """Decode ``params["pubs"]`` into Qiskit pubs with shots/precision resolved.

    Every declared size is checked before it is built: circuit widths against ``num_qubits``
    (the backend's; :data:`MAX_QUBITS` if ``None``) and ``max_clbits``, parameter sets and
    observables per pub against ``max_parameter_sets``, and everything decoded, over all pubs,
    against ``max_decoded_bytes``. Raises :class:`PubError` naming the pub, the size and the
    limit.
    """
    if not isinstance(pubs, list) or not pubs:
        raise PubError("params.pubs must be a non-empty list")
    budget = DecodeBudget(max_decoded_bytes)
    spend = _Budget(budget)
    out: list[Any] = []
    for i, raw in enumerate(pubs):
        where = f"pub {i}"
        items = list(raw) if isinstance(raw, list) else [raw]
        if not items:
            raise PubError(f"{where}: empty pub")
        try:
            decoded = decode_circuit(
                items[0], num_qubits=num_qubits, where=where, max_clbits=max_clbits, budget=budget
            )
            circuit = decoded.circuit
            if program == "sampler":
                if len(items) > 3:
                    raise PubError(f"{where}: a sampler pub has at most 3 entries")
                values = _values(
                    items[1] if len(items) > 1 else None, decoded, where, spend, max_parameter_sets
                )
                shots = items[2] if len(items) > 2 and items[2] is not None else default_shots
                if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int)):
                    raise PubError(f"{where}: shots must be an integer")
                if shots is not None and shots <= 0:
                    raise PubError(f"{where}: shots must be positive")
                out.append(SamplerPub(circuit, values, shots))
            else:
                if len(items) < 2 or len(items) > 4:
                    raise PubError(f"{where}: an estimator pub is [circuit, observables, ...]")
                observables = _observables(
                    items[1], circuit.num_qubits, where, spend, max_parameter_sets
                )
                values = _values(
                    items[2] if len(items) > 2 else None, decoded, where, spend, max_parameter_sets
                )
                try:
                    shape = np.broadcast_shapes(observables.shape, values.shape)
                except ValueError:
                    raise PubError(
                        f"{where}: observables of shape {observables.shape} do not broadcast "
                        f"with parameter values of shape {values.shape}"
                    ) from None
                if math.prod(shape) > max_parameter_sets:
                    raise PubError(
                        f"{where}: {math.prod(shape):,} expectation values (shape {shape}) "
                        f"exceed the limit of {max_parameter_sets:,} per pub"
                    )
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
        except (*MALFORMED_INPUT_ERRORS, MemoryError, RecursionError) as exc:
            # Shape mismatches raised by Qiskit's containers, and a safety net for payloads no
            # specific check anticipated: a bad pub is the client's error, never the service's.
            raise PubError(f"{where}: {exc}") from None
    return out
