"""Decode an ``executor`` job's params (an untrusted quantum-program model) into a
:class:`QuantumProgramJob`.

The params are one of IBM's versioned models, ``ibm_quantum_schemas.executor.version_X_Y``
(``schema_version`` v0.1 to v2.0). Before the models see them, every size they declare is
checked against this module's limits: each tensor's shape (elements and bytes), and every
zlib stream is inflated with a bound, to at most the bytes its shape declares (tensors) or
:data:`MAX_QPY_BYTES` (circuits), so a small body cannot expand into a large allocation. Only
then do the published models validate the params and QPY and samplomatic decode the circuits
and samplexes. Every refusal is a :class:`ProgramError` with a message that names the field.

Decoding QPY and samplexes runs arbitrary-size structures through third-party parsers; the
service does it in a memory- and time-bounded child process (:mod:`.sandbox`).
"""

from __future__ import annotations

import binascii
import importlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pybase64

from ...wire.tensors import TENSOR_ELEMENT_BITS, InflateError, packed_tensor_bytes
from ...wire.tensors import inflated_size as wire_inflated_size

__all__ = [
    "MAX_ITEMS",
    "MAX_QPY_BYTES",
    "MAX_TENSOR_BYTES",
    "MAX_TOTAL_TENSOR_BYTES",
    "MEAS_LEVELS",
    "SCHEMA_VERSIONS",
    "ProgramError",
    "ProgramItem",
    "QuantumProgramJob",
    "check_declared_sizes",
    "decode_program",
    "inflated_size",
    "schema_version",
]

#: The params schema versions the local service accepts (all the official client can send).
SCHEMA_VERSIONS: Final = ("v0.1", "v0.2", "v1.0", "v1.1", "v2.0")
#: Versions whose tensors and circuits are zlib-compressed.
_COMPRESSED: Final = frozenset({"v2.0"})
#: Measurement levels the emulator returns (``both`` is refused at submission).
MEAS_LEVELS: Final = ("classified", "kerneled", "avg_kerneled")
#: Items in one program.
MAX_ITEMS: Final = 1000
#: Bytes of one tensor once decoded (and inflated).
MAX_TENSOR_BYTES: Final = 256 * 1024 * 1024
#: Bytes of all of a program's tensors once decoded.
MAX_TOTAL_TENSOR_BYTES: Final = 512 * 1024 * 1024
#: Bytes of a program's QPY circuits once inflated.
MAX_QPY_BYTES: Final = 128 * 1024 * 1024
#: Axes of one tensor.
_MAX_NDIM: Final = 32


class ProgramError(ValueError):
    """The params do not describe a program the service can run (answered 400)."""


@dataclass
class ProgramItem:
    """One item of a quantum program, decoded."""

    kind: str
    """``"circuit"`` or ``"samplex"``."""
    circuit: Any
    """The item's circuit (a :class:`~qiskit.circuit.QuantumCircuit`)."""
    shape: tuple[int, ...]
    """The item's extrinsic shape: one circuit execution (of ``shots`` shots) per element."""
    arguments: npt.NDArray[np.float64] | None = None
    """A circuit item's parameter values, shape ``(*shape, num_parameters)``."""
    samplex: Any = None
    """A samplex item's samplex (:class:`samplomatic.samplex.Samplex`)."""
    samplex_inputs: Any = None
    """A samplex item's bound inputs (a broadcastable samplomatic ``TensorInterface``)."""


@dataclass
class QuantumProgramJob:
    """An ``executor`` job's program and options, decoded."""

    version: str
    """The params' ``schema_version`` (the result is written in the same version)."""
    shots: int
    """Shots per circuit execution."""
    meas_level: str
    """``classified``, ``kerneled`` or ``avg_kerneled``."""
    items: list[ProgramItem]
    """The program's items, in order."""
    passthrough_data: Any = None
    """The program's passthrough data as the params model decoded it (returned unchanged)."""
    semantic_role: str | None = None
    """How clients post-process the result (``sampler-v2``, ``estimator-v2``, ...)."""
    init_qubits: bool = True
    """Reset qubits before each shot."""
    rep_delay: float | None = None
    """Delay between shots, in seconds."""
    scheduler_timing: bool = False
    """Return each item's schedule."""
    stretch_values: bool = False
    """Return each item's stretch resolutions."""
    experimental: dict[str, Any] = field(default_factory=dict)
    """Options outside the schema."""


def schema_version(params: Mapping[str, Any]) -> str:
    """The params' ``schema_version``, checked to be one the service reads."""
    version = params.get("schema_version")
    if version not in SCHEMA_VERSIONS:
        raise ProgramError(
            f"params.schema_version must be one of {', '.join(SCHEMA_VERSIONS)}, "
            f"not {_short(version)}."
        )
    return str(version)


def inflated_size(b64: str, limit: int, where: str) -> int:
    """The bytes the base64 zlib stream ``b64`` inflates to, counted without holding them
    (:func:`~...wire.tensors.inflated_size`), refused (:class:`ProgramError`) past ``limit``."""
    try:
        packed = pybase64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ProgramError(f"{where}: the data is not valid base64.") from None
    try:
        return wire_inflated_size(packed, limit)
    except InflateError as exc:
        raise ProgramError(f"{where}: {exc}.") from None


def check_declared_sizes(params: Mapping[str, Any]) -> None:
    """Check every size ``params`` declare before anything is decoded or allocated (streams
    are inflated a megabyte at a time to count their bytes, none kept).

    Tensors (objects with ``data``, ``shape`` and ``dtype``) must declare a shape whose bytes
    stay within :data:`MAX_TENSOR_BYTES` (all of them within :data:`MAX_TOTAL_TENSOR_BYTES`), and
    in the compressed versions inflate to exactly those bytes; compressed QPY inflates to at
    most :data:`MAX_QPY_BYTES`; a program has at most :data:`MAX_ITEMS` items.
    """
    version = schema_version(params)
    program = params.get("quantum_program")
    if not isinstance(program, Mapping):
        raise ProgramError("params.quantum_program must be an object.")
    items = program.get("items")
    if not isinstance(items, list):
        raise ProgramError("params.quantum_program.items must be a list.")
    if len(items) > MAX_ITEMS:
        raise ProgramError(
            f"the program has {len(items)} items; the service runs at most {MAX_ITEMS} a job."
        )
    compressed = version in _COMPRESSED
    circuits = program.get("circuits")
    if compressed and isinstance(circuits, Mapping) and isinstance(circuits.get("b64_data"), str):
        inflated_size(circuits["b64_data"], MAX_QPY_BYTES, "quantum_program.circuits")
    total = 0
    for where, tensor in _tensors(params, "params"):
        total += _check_tensor(tensor, where, compressed)
        if total > MAX_TOTAL_TENSOR_BYTES:
            raise ProgramError(
                f"the program's arrays hold more than {MAX_TOTAL_TENSOR_BYTES:,} bytes "
                f"(reached at {where}); split it into several jobs."
            )


def _tensors(value: Any, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Every tensor-shaped object in ``value`` with its path (iterative: no recursion limit)."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, Mapping):
            if {"data", "shape", "dtype"} <= node.keys():
                found.append((path, node))
                continue
            stack.extend((f"{path}.{key}", child) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(node))
    return found


def _check_tensor(tensor: Mapping[str, Any], where: str, compressed: bool) -> int:
    """The bytes ``tensor`` declares, after checking its shape, dtype and (compressed) data."""
    shape, dtype, data = tensor.get("shape"), tensor.get("dtype"), tensor.get("data")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_NDIM
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ProgramError(
            f"{where}.shape must be a list of at most {_MAX_NDIM} non-negative integers."
        )
    if not isinstance(dtype, str) or dtype not in TENSOR_ELEMENT_BITS:
        raise ProgramError(f"{where}.dtype {_short(dtype)} is not a tensor dtype.")
    if not isinstance(data, str):
        raise ProgramError(f"{where}.data must be a string.")
    nbytes = packed_tensor_bytes(shape, dtype)
    if nbytes > MAX_TENSOR_BYTES:
        raise ProgramError(
            f"{where}: shape {shape} of {dtype} holds {nbytes:,} bytes; the limit per array is "
            f"{MAX_TENSOR_BYTES:,}."
        )
    if compressed:
        inflated = inflated_size(data, nbytes, where)
        if inflated != nbytes:
            raise ProgramError(
                f"{where}: the data inflate to {inflated:,} bytes, but shape {shape} of "
                f"{dtype} holds {nbytes:,}."
            )
    return nbytes


def decode_program(params: Mapping[str, Any]) -> QuantumProgramJob:
    """Validate ``params`` with the published model of their version and decode the program.

    Raises:
        ProgramError: the params are invalid, or describe a program that cannot run.
    """
    check_declared_sizes(params)
    version = schema_version(params)
    from pydantic import ValidationError

    module = importlib.import_module(
        "ibm_quantum_schemas.executor.version_" + version[1:].replace(".", "_")
    )
    try:
        model = module.ParamsModel.model_validate(dict(params))
    except ValidationError as exc:
        raise ProgramError(_validation_message(exc)) from None
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        raise ProgramError(f"params: {_short(str(exc), 300)}") from None
    program = model.quantum_program
    circuits = _circuits(program, version)
    if len(circuits) != len(program.items):
        raise ProgramError(
            f"the program has {len(program.items)} items but {len(circuits)} circuits."
        )
    items = [
        _item(i, item_model, circuit)
        for i, (item_model, circuit) in enumerate(zip(program.items, circuits, strict=True))
    ]
    options = model.options
    experimental = dict(getattr(options, "experimental", None) or {})
    seed = experimental.get("seed_simulator")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63
    ):
        raise ProgramError("options.experimental.seed_simulator must be an integer in [0, 2**63).")
    meas_level = str(getattr(program, "meas_level", "classified"))
    if meas_level not in MEAS_LEVELS:
        raise ProgramError(
            f"meas_level {meas_level!r} is not supported by the local service; use one of "
            f"{', '.join(MEAS_LEVELS)}."
        )
    return QuantumProgramJob(
        version=version,
        shots=int(program.shots),
        meas_level=meas_level,
        items=items,
        passthrough_data=getattr(program, "passthrough_data", None),
        semantic_role=getattr(program, "semantic_role", None),
        init_qubits=bool(options.init_qubits),
        rep_delay=options.rep_delay,
        scheduler_timing=bool(getattr(options, "scheduler_timing", False)),
        stretch_values=bool(getattr(options, "stretch_values", False)),
        experimental=experimental,
    )


def _circuits(program: Any, version: str) -> list[Any]:
    """The program's circuits (one per item), loaded from QPY."""
    if version in ("v0.1", "v0.2"):
        loaded = []
        for i, item in enumerate(program.items):
            try:
                loaded.append(item.circuit.to_quantum_circuit())
            except Exception as exc:  # QPY raises many kinds of errors on bad input
                raise ProgramError(
                    f"item {i}: the circuit does not load: {_short(str(exc))}"
                ) from None
        return loaded
    data = program.circuits
    if not hasattr(data, "b64_data"):
        raise ProgramError(
            "quantum_program.circuits: only QPY circuits are supported by the local service."
        )
    try:
        circuits = list(data.to_python())
    except Exception as exc:  # QPY raises many kinds of errors on bad input
        raise ProgramError(f"quantum_program.circuits do not load: {_short(str(exc))}") from None
    return circuits


def _item(index: int, model: Any, circuit: Any) -> ProgramItem:
    """One item, with its shape and inputs checked against its circuit."""
    from qiskit.circuit import QuantumCircuit

    if not isinstance(circuit, QuantumCircuit):
        raise ProgramError(f"item {index}: its program is not a circuit.")
    raw_shape = list(getattr(model, "shape", ()) or ())
    if len(raw_shape) > _MAX_NDIM:
        raise ProgramError(f"item {index}: its shape has more than {_MAX_NDIM} axes.")
    if any(n < 0 for n in raw_shape):
        raise ProgramError(f"item {index}: its shape has a negative extent.")
    declared = tuple(int(n) for n in raw_shape)
    if model.item_type == "circuit":
        arguments = np.asarray(model.circuit_arguments.to_numpy(), dtype=float)
        nparams = circuit.num_parameters
        if arguments.ndim == 0 or arguments.shape[-1] != nparams:
            raise ProgramError(
                f"item {index}: circuit_arguments of shape {list(arguments.shape)} must end in "
                f"the circuit's {nparams} parameters."
            )
        if not np.all(np.isfinite(arguments)):
            raise ProgramError(f"item {index}: circuit_arguments must be finite numbers.")
        shape = _broadcast(index, arguments.shape[:-1], declared)
        # the item's extra axes repeat the arguments (a read-only view, nothing copied)
        arguments = np.broadcast_to(arguments, (*shape, nparams))
        return ProgramItem("circuit", circuit, shape, arguments=arguments)
    samplex = _samplex(index, model)
    inputs = samplex.inputs().make_broadcastable()
    for name, value in model.samplex_arguments.items():
        try:
            inputs[name] = _argument(value)
        except (ValueError, TypeError) as exc:
            raise ProgramError(
                f"item {index}: samplex argument {name!r}: {_short(str(exc), 300)}"
            ) from None
    if not inputs.fully_bound:
        missing = sorted(spec.name for spec in inputs.get_specs() if spec.name not in inputs)
        raise ProgramError(f"item {index}: the samplex needs the argument(s) {', '.join(missing)}.")
    shape = _broadcast(index, tuple(inputs.shape), declared)
    outputs = {spec.name: spec for spec in samplex.outputs().get_specs()}
    spec = outputs.get("parameter_values")
    width = spec.shape[-1] if spec is not None and spec.shape else None
    if circuit.num_parameters and width != circuit.num_parameters:
        raise ProgramError(
            f"item {index}: the samplex generates {width} parameter values, the circuit has "
            f"{circuit.num_parameters} parameters."
        )
    return ProgramItem("samplex", circuit, shape, samplex=samplex, samplex_inputs=inputs)


def _samplex(index: int, model: Any) -> Any:
    """The item's samplex, deserialized by samplomatic."""
    try:
        samplex = model.samplex.to_samplex()
        # a deserialized samplex is not finalized (its sampling order is not yet planned)
        samplex.finalize()
        return samplex
    except Exception as exc:  # samplomatic raises many kinds of errors on bad input
        raise ProgramError(f"item {index}: the samplex does not load: {_short(str(exc))}") from None


def _argument(value: Any) -> Any:
    """A samplex argument as samplomatic takes it."""
    if hasattr(value, "to_pauli_lindblad_map"):
        return value.to_pauli_lindblad_map()
    if hasattr(value, "to_numpy"):
        return value.to_numpy()
    return value


def _broadcast(index: int, implied: Sequence[int], declared: tuple[int, ...]) -> tuple[int, ...]:
    """The item's shape: its inputs' extrinsic shape broadcast to the declared one."""
    if not declared:
        return tuple(int(n) for n in implied)
    try:
        shape = np.broadcast_shapes(tuple(implied), declared)
    except ValueError:
        raise ProgramError(
            f"item {index}: its arguments' shape {_short(list(implied))} does not broadcast "
            f"to the item's shape {_short(list(declared))}."
        ) from None
    if tuple(shape) != declared:
        raise ProgramError(
            f"item {index}: its arguments' shape {_short(list(implied))} does not broadcast "
            f"to the item's shape {_short(list(declared))}."
        )
    return declared


def _validation_message(exc: Any) -> str:
    """The first few of a pydantic error's problems, each with its location."""
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{loc or 'params'}: {_short(error.get('msg', ''), 200)}")
    more = exc.error_count() - len(parts)
    return "invalid executor params: " + "; ".join(parts) + (f" (and {more} more)" if more else "")


def _short(value: Any, limit: int = 120) -> str:
    """``value``'s repr, cut to ``limit`` characters (error messages quote user input)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
