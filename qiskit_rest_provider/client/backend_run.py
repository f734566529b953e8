"""``backend.run()``: the ``BackendV2.run`` contract on top of the sampler program.

Circuits are submitted as one sampler job; the job's ``result()`` is a ``qiskit.result.Result``
whose ``get_counts()`` / ``get_memory()`` use Qiskit's usual keys (registers separated by
spaces, the last register leftmost), and whose experiments carry the header ``AerSimulator``
and ``BasicSimulator`` write (``name``, ``metadata``, ``creg_sizes``, ``memory_slots``,
``clbit_labels``, ...), so code written for ``BackendV2.run`` works unchanged.

Run options (keywords of ``run()``, defaults from ``backend.options``): ``shots``, ``memory``,
``meas_level`` (2 classified; 1 kerneled, where the configuration's ``meas_levels`` lists it),
``meas_return`` (``"single"``/``"avg"``, for ``meas_level=1``), ``parameter_binds`` (one dict
per circuit mapping each ``Parameter`` to a list of values; one experiment per binding, as
Aer does), ``rep_delay``, ``init_qubits``, ``seed_simulator``, ``job_tags``. Options of other
backends that cannot apply here (``noise_model``, ``rep_time``, ...) are refused by name unless
they are ``None``.

Jobs are marked with the tag :data:`BACKEND_RUN_TAG` (and :data:`MEMORY_TAG` when per-shot
memory was asked for) so that :meth:`QiskitRestProvider.job` rebuilds the same kind of job in
another process. A job rebuilt that way has no circuits: its experiments' headers hold what the
result itself tells (register names and sizes) and empty ``metadata``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray
from qiskit.result import Result

from ..errors import PubValidationError, ResultDecodeError
from ..wire.constants import DEFAULT_SHOTS
from .circuit_cache import CircuitCache
from .job import RuntimeJob
from .options import SamplerOptions
from .pipeline import (
    BACKEND_RUN,
    ExecutionTarget,
    coerce_sampler_pubs,
    encode_sampler_pubs,
    job_body,
    sampler_expected_bytes,
    submit,
)

__all__ = [
    "BACKEND_RUN_TAG",
    "MEMORY_TAG",
    "RUN_OPTIONS",
    "BackendRunJob",
    "bind_circuits",
    "experiment_header",
    "run_circuits",
    "to_qiskit_result",
]

BACKEND_RUN_TAG = "qiskit-rest:backend.run"
MEMORY_TAG = "qiskit-rest:memory"

#: The options ``backend.run()`` takes.
RUN_OPTIONS = frozenset(
    {
        "shots",
        "memory",
        "meas_level",
        "meas_return",
        "parameter_binds",
        "rep_delay",
        "init_qubits",
        "seed_simulator",
        "job_tags",
        "use_fractional_gates",
    }
)

#: Options other backends take that cannot apply to a Runtime backend, and why (``None`` values
#: are accepted: they ask for nothing).
_CANNOT_APPLY: Mapping[str, str] = {
    "noise_model": (
        "the service runs each job with the backend's own noise (a device's physics, or the "
        "local service's calibrated model); to simulate your noise model, run "
        "qiskit_aer.AerSimulator(noise_model=...) locally"
    ),
    "rep_time": "Runtime backends set the time between shots with rep_delay, not rep_time",
    "memory_slots": "the memory slots are the circuit's classical bits",
    "memory_slot_size": "kerneled results hold one complex number per shot and bit",
    "use_measure_esp": "excited-state-promoted readout is not offered through the REST API",
    "qubit_lo_freq": "pulse-level settings are not offered through the REST API",
    "meas_lo_freq": "pulse-level settings are not offered through the REST API",
    "schedule_los": "pulse-level settings are not offered through the REST API",
    "method": "the service chooses the simulation method",
    "device": "the service chooses where to simulate",
    "precision": "the service chooses the simulation precision",
}

_MEAS_RETURNS = ("single", "avg")


class BackendRunJob(RuntimeJob):
    """A job made by ``backend.run()``; ``result()`` gives a ``qiskit.result.Result``.

    Args:
        args: :class:`~qiskit_rest_provider.RuntimeJob`'s.
        memory: Keep per-shot results for ``Result.get_memory()``.
        names: The circuits' names, in pub order (used when ``headers`` is not given).
        headers: Each experiment's header (:func:`experiment_header` of the circuit submitted).
        meas_level: The measurement level asked for (``None``: read it from the result).
        meas_return: ``"single"`` or ``"avg"``, for ``meas_level=1``.
        shots: The shots asked for per experiment (reported for averaged kerneled results,
            which do not show them).
        seed_simulator: The seed asked for, if any (reported in each experiment).
        backend_version: The backend's version, reported in the result.
        kw: :class:`~qiskit_rest_provider.RuntimeJob`'s keywords.
    """

    def __init__(
        self,
        *args: Any,
        memory: bool = False,
        names: Sequence[str] = (),
        headers: Sequence[Mapping[str, Any]] = (),
        meas_level: int | None = None,
        meas_return: str = "avg",
        shots: Sequence[int] = (),
        seed_simulator: int | None = None,
        backend_version: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(*args, decoder=_as_qiskit_result, **kw)
        self.memory = memory or MEMORY_TAG in self._tags  # internal tags are not in .tags
        self.headers = [dict(h) for h in headers]
        self.circuit_names = [str(h.get("name", "")) for h in self.headers] or list(names)
        self.meas_level = meas_level
        self.meas_return = meas_return
        self.shots = list(shots)
        self.seed_simulator = seed_simulator
        self.backend_version = backend_version

    def result(self, timeout: float | None = None) -> Result:
        """The ``qiskit.result.Result`` (decoded once, cached)."""
        result: Result = super().result(timeout)
        return result


def _as_qiskit_result(primitive: PrimitiveResult[Any], job: RuntimeJob) -> Result:
    if not isinstance(job, BackendRunJob):
        return to_qiskit_result(
            primitive, job_id=job.job_id(), backend_name=job.backend_name or "", memory=False
        )
    return to_qiskit_result(
        primitive,
        job_id=job.job_id(),
        backend_name=job.backend_name or "",
        memory=job.memory,
        names=job.circuit_names,
        headers=job.headers,
        meas_level=job.meas_level,
        meas_return=job.meas_return,
        shots=job.shots,
        seed_simulator=job.seed_simulator,
        backend_version=job.backend_version,
    )


# Submission -----------------------------------------------------------------------------------


def run_circuits(
    backend: ExecutionTarget,
    circuits: QuantumCircuit | Sequence[QuantumCircuit],
    options: dict[str, Any],
    *,
    defaults: Any = None,
) -> BackendRunJob:
    """Submit ``circuits`` with ``backend.run`` options (see the module's docstring);
    ``defaults`` holds the backend's defaults for them (``backend.options``).

    Raises:
        ValueError: an option is unknown, cannot apply, or has a value the backend does not
            take (the message names it).
        PubValidationError: a circuit has unbound parameters, ``parameter_binds`` does not
            match the circuits, or a circuit cannot run as given.
        ISAValidationError: a circuit is not ISA for the backend's Target.
    """
    _check_option_names(backend, options)
    if isinstance(circuits, QuantumCircuit):
        circuit_list = [circuits]
    elif isinstance(circuits, Sequence) and all(isinstance(c, QuantumCircuit) for c in circuits):
        circuit_list = list(circuits)
    else:
        raise TypeError(
            f"backend.run() takes a QuantumCircuit or a list of them, not {type(circuits).__name__}"
        )

    def option(name: str) -> Any:
        if name in options:
            return options[name]
        return getattr(defaults, name, None) if defaults is not None else None

    shots = option("shots")
    if isinstance(shots, numbers.Integral) and not isinstance(shots, bool):
        shots = int(shots)  # numpy integers too
    memory = option("memory")
    if not isinstance(memory, (bool, np.bool_, type(None))):
        raise ValueError(f"backend.run(memory={memory!r}): memory must be True or False")
    memory = bool(memory)
    meas_level = _meas_level(backend, option("meas_level"))
    meas_return = _meas_return(option("meas_return"))
    seed = option("seed_simulator")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"backend.run(seed_simulator={seed!r}): the seed must be an integer")
    bound = bind_circuits(circuit_list, options.get("parameter_binds"))

    sampler_options = SamplerOptions()
    tags = [BACKEND_RUN_TAG, *([MEMORY_TAG] if memory else []), *_job_tags(options)]
    sampler_options.environment.job_tags = tags
    if seed is not None:
        sampler_options.simulator.seed_simulator = int(seed)
    if meas_level == 1:
        sampler_options.execution.meas_type = (
            "kerneled" if meas_return == "single" else "avg_kerneled"
        )
    rep_delay = option("rep_delay")
    if rep_delay is not None:
        _set_execution(sampler_options, "rep_delay", rep_delay)
    init_qubits = option("init_qubits")
    # Sent only when asked for: init_qubits=True is the service's default (and IBM's).
    if "init_qubits" in options or init_qubits is False:
        _set_execution(sampler_options, "init_qubits", init_qubits)

    items = coerce_sampler_pubs([(c,) for c in bound], shots, BACKEND_RUN)
    wire = encode_sampler_pubs(
        backend,
        items,
        CircuitCache(),
        sampler_options,
        DEFAULT_SHOTS,
        BACKEND_RUN,
        rep_delay_option="backend.run() rep_delay",
    )
    body = job_body(backend, "sampler", wire, sampler_options)
    requested = int(shots) if shots is not None else DEFAULT_SHOTS
    return submit(
        backend,
        body,
        BackendRunJob,
        memory=memory,
        headers=[experiment_header(c) for c in bound],
        meas_level=meas_level,
        meas_return=meas_return,
        shots=[requested] * len(bound),
        seed_simulator=None if seed is None else int(seed),
        backend_version=_backend_version(backend),
        expected_result_bytes=sampler_expected_bytes(
            items, None, sampler_options.execution.meas_type
        ),
    )


def _check_option_names(backend: ExecutionTarget, options: Mapping[str, Any]) -> None:
    for name, value in options.items():
        if name in _CANNOT_APPLY and value is not None:
            raise ValueError(
                f"backend.run({name}=...) cannot apply to {backend.name}: {_CANNOT_APPLY[name]}. "
                f"Remove {name}"
            )
    if "use_fractional_gates" in options:
        wanted = options["use_fractional_gates"]
        have = bool(getattr(backend, "use_fractional_gates", False))
        if wanted is not None and bool(wanted) != have:
            raise ValueError(
                f"backend.run(use_fractional_gates={wanted!r}): fractional gates are chosen when "
                f"the backend is obtained: provider.backend({backend.name!r}, "
                f"use_fractional_gates={bool(wanted)})"
            )
    unknown = set(options) - RUN_OPTIONS - set(_CANNOT_APPLY)
    if unknown:
        raise ValueError(
            f"unknown backend.run option(s) {sorted(unknown)}; "
            f"supported: {', '.join(sorted(RUN_OPTIONS))}"
        )


def _meas_level(backend: ExecutionTarget, value: Any) -> int:
    """2 (classified) or 1 (kerneled, if the configuration's ``meas_levels`` lists it)."""
    if value is None:
        return 2
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"backend.run(meas_level={value!r}): meas_level must be 1 or 2")
    level = int(value)
    if level == 2:
        return 2
    supported = backend.configuration().get("meas_levels") or [2]
    if level == 1 and 1 in supported:
        return 1
    levels = ", ".join(str(v) for v in supported)
    raise ValueError(
        f"backend.run(meas_level={level}): {backend.name} supports meas_level {levels} "
        f"(configuration().meas_levels); use meas_level=2 for classified bits"
    )


def _meas_return(value: Any) -> str:
    if value is None:
        return "avg"
    text = str(getattr(value, "value", value))  # MeasReturnType is a str enum
    if text not in _MEAS_RETURNS:
        raise ValueError(
            f"backend.run(meas_return={value!r}): meas_return must be 'single' or 'avg'"
        )
    return text


def _job_tags(options: Mapping[str, Any]) -> list[str]:
    tags = options.get("job_tags") or ()
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"backend.run(job_tags={tags!r}): job_tags must be a list of strings")
    return list(tags)


def _set_execution(options: SamplerOptions, name: str, value: Any) -> None:
    try:
        setattr(options.execution, name, value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"backend.run({name}={value!r}): {exc}") from None


def _backend_version(backend: ExecutionTarget) -> str:
    value = backend.configuration().get("backend_version")
    return "" if value is None else str(value)


def bind_circuits(circuits: Sequence[QuantumCircuit], parameter_binds: Any) -> list[QuantumCircuit]:
    """The circuits to submit: each circuit once if it has no parameters, else once per
    binding of ``parameter_binds`` (one dict per circuit mapping every parameter of the circuit
    to a list of values, all lists of one dict equally long), in order, as Aer does.

    Raises:
        PubValidationError: a circuit has parameters that are not bound, or ``parameter_binds``
            does not match the circuits (the message says how).
    """
    if parameter_binds is None:
        for i, circuit in enumerate(circuits):
            if circuit.num_parameters:
                names = ", ".join(p.name for p in circuit.parameters)
                raise PubValidationError(
                    f"{BACKEND_RUN.where(i)} ({circuit.name!r}) has unbound parameters "
                    f"[{names}]; bind them with circuit.assign_parameters(...) or pass "
                    "parameter_binds=[{parameter: [values, ...]}, ...] (one dict per circuit)"
                )
        return list(circuits)
    if isinstance(parameter_binds, Mapping) or not isinstance(parameter_binds, Sequence):
        raise PubValidationError(
            "backend.run(parameter_binds=...) takes a list with one dict per circuit, "
            "e.g. [{theta: [0.1, 0.2]}]"
        )
    if len(parameter_binds) != len(circuits):
        raise PubValidationError(
            f"backend.run(parameter_binds=...) has {len(parameter_binds)} dict(s) for "
            f"{len(circuits)} circuit(s); give one per circuit ({{}} for a circuit without "
            "parameters)"
        )
    bound: list[QuantumCircuit] = []
    for i, (circuit, binds) in enumerate(zip(circuits, parameter_binds, strict=True)):
        bound.extend(_bind_one(i, circuit, binds))
    return bound


def _bind_one(index: int, circuit: QuantumCircuit, binds: Any) -> list[QuantumCircuit]:
    where = f"backend.run(parameter_binds=...): circuit {index} ({circuit.name!r})"
    if binds is None:
        binds = {}
    if not isinstance(binds, Mapping):
        raise PubValidationError(f"{where}: expected a dict of parameter -> list of values")
    parameters = set(circuit.parameters)
    unknown = [k for k in binds if not isinstance(k, Parameter) or k not in parameters]
    if unknown:
        raise PubValidationError(
            f"{where}: {[str(k) for k in unknown]} are not parameters of the circuit"
        )
    missing = [p.name for p in circuit.parameters if p not in binds]
    if missing:
        raise PubValidationError(f"{where}: no values for parameter(s) {missing}")
    if not binds:
        return [circuit]
    columns: dict[Parameter, NDArray[np.float64]] = {}
    for parameter, values in binds.items():
        columns[parameter] = _values(where, parameter, values)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise PubValidationError(
            f"{where}: every parameter needs the same number of values, got "
            f"{ {p.name: len(v) for p, v in columns.items()} }"
        )
    bound = []
    for k in range(lengths.pop()):
        one = circuit.assign_parameters({p: float(v[k]) for p, v in columns.items()})
        one.name = circuit.name  # the copy gets a fresh name; the experiment keeps the circuit's
        bound.append(one)
    return bound


def _values(where: str, parameter: Parameter, values: Any) -> NDArray[np.float64]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise PubValidationError(
            f"{where}: give a list of values for {parameter.name} (one experiment per value), "
            f"not {values!r}"
        )
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise PubValidationError(
            f"{where}: the values of {parameter.name} must be real numbers"
        ) from None
    if array.ndim != 1 or array.size == 0:
        raise PubValidationError(
            f"{where}: give a non-empty flat list of values for {parameter.name}"
        )
    if not np.isfinite(array).all():
        raise PubValidationError(f"{where}: the values of {parameter.name} must be finite")
    return array


def experiment_header(circuit: QuantumCircuit) -> dict[str, Any]:
    """The header ``BasicSimulator`` and ``AerSimulator`` give a circuit's experiment: name,
    widths, register layout, labels, global phase and a copy of the circuit's ``metadata``."""
    phase = circuit.global_phase
    return {
        "name": circuit.name,
        "n_qubits": circuit.num_qubits,
        "qreg_sizes": [[reg.name, reg.size] for reg in circuit.qregs],
        "creg_sizes": [[reg.name, reg.size] for reg in circuit.cregs],
        "qubit_labels": [[reg.name, j] for reg in circuit.qregs for j in range(reg.size)],
        "clbit_labels": [[reg.name, j] for reg in circuit.cregs for j in range(reg.size)],
        "memory_slots": circuit.num_clbits,
        "global_phase": float(phase) if isinstance(phase, numbers.Real) else 0.0,
        "metadata": copy.deepcopy(circuit.metadata) if circuit.metadata else {},
    }


# Results --------------------------------------------------------------------------------------


def _register_data(data: Any, index: int) -> tuple[list[tuple[str, Any]], bool]:
    """The pub's registers in order, and whether they are kerneled (complex) arrays."""
    registers = [(name, value) for name, value in data.items()]
    if not registers:
        raise ResultDecodeError(f"experiment {index}: the result holds no classical register data")
    if all(isinstance(value, BitArray) for _, value in registers):
        return registers, False
    if all(isinstance(value, np.ndarray) and np.iscomplexobj(value) for _, value in registers):
        return registers, True
    raise ResultDecodeError(
        f"experiment {index}: the result mixes or holds unknown register data types "
        f"({sorted({type(v).__name__ for _, v in registers})})"
    )


def _combined(registers: Sequence[tuple[str, Any]]) -> BitArray:
    """All registers of one pub as one BitArray, the first register in the lowest bits."""
    arrays = [value for _, value in registers]
    if len(arrays) == 1:
        return arrays[0]
    return BitArray.concatenate_bits(arrays)  # the first array takes the lowest bits


def _hex_per_shot(bits: BitArray) -> list[str]:
    array = bits.array.reshape(-1, bits.array.shape[-1])
    if array.shape[1] <= 8:
        padded = np.zeros((array.shape[0], 8), dtype=np.uint8)
        padded[:, 8 - array.shape[1] :] = array
        values = padded.view(">u8").ravel()
        return [hex(v) for v in values.tolist()]
    return [hex(int.from_bytes(row.tobytes(), "big")) for row in array]


def _classified(
    index: int, registers: Sequence[tuple[str, Any]], memory: bool
) -> tuple[int, dict[str, Any], int]:
    bits = _combined(registers)
    if bits.ndim:
        bits = bits.reshape(-1) if bits.size == 1 else bits
        if bits.ndim:
            raise ResultDecodeError(
                f"experiment {index} has shape {bits.shape}; backend.run results need scalar pubs"
            )
    counts = {hex(k): int(v) for k, v in bits.get_int_counts().items()}
    data: dict[str, Any] = {"counts": counts}
    if memory:
        data["memory"] = _hex_per_shot(bits)
    return int(bits.num_shots), data, int(bits.num_bits)


def _kerneled(
    index: int, registers: Sequence[tuple[str, Any]], meas_return: str | None, shots: int | None
) -> tuple[int, dict[str, Any], int, str]:
    arrays = [np.asarray(value) for _, value in registers]
    iq = np.concatenate(arrays, axis=-1) if len(arrays) > 1 else arrays[0]
    if iq.ndim == 2:
        kind, count = "single", int(iq.shape[0])
    elif iq.ndim == 1:
        kind, count = "avg", int(shots or 1)
    else:
        raise ResultDecodeError(
            f"experiment {index}: kerneled data of shape {iq.shape}; backend.run results need "
            "scalar pubs"
        )
    if meas_return is not None and meas_return != kind:
        raise ResultDecodeError(
            f"experiment {index}: asked for meas_return={meas_return!r} but the service "
            f"returned {kind!r} kerneled data"
        )
    memory = np.stack([iq.real, iq.imag], axis=-1).tolist()
    return count, {"memory": memory}, int(iq.shape[-1]), kind


def to_qiskit_result(
    primitive: PrimitiveResult[Any],
    *,
    job_id: str,
    backend_name: str,
    memory: bool,
    names: Sequence[str] = (),
    headers: Sequence[Mapping[str, Any]] = (),
    meas_level: int | None = None,
    meas_return: str | None = None,
    shots: Sequence[int] = (),
    seed_simulator: int | None = None,
    backend_version: str = "",
) -> Result:
    """A ``qiskit.result.Result`` with one experiment per sampler pub.

    Classified pubs (bits) give ``meas_level=2`` experiments (``counts``, and ``memory`` when
    asked for); kerneled pubs (complex IQ arrays) give ``meas_level=1`` experiments whose
    ``memory`` is ``[I, Q]`` per shot and slot (``meas_return="single"``) or per slot
    (``"avg"``). ``headers`` (one per pub, see :func:`experiment_header`) are completed with
    what the result tells (register sizes, memory slots) where they lack it.

    Raises:
        ResultDecodeError: a pub is not scalar, its data are not registers of bits or IQ
            points, or they are not the measurement level asked for.
    """
    experiments = []
    for index, pub in enumerate(primitive):
        registers, kerneled = _register_data(pub.data, index)
        if meas_level == 1 and not kerneled:
            raise ResultDecodeError(
                f"backend.run(meas_level=1): the service returned classified bits for "
                f"experiment {index} instead of kerneled IQ data (it does not produce "
                "meas_level=1 results for this backend); use meas_level=2"
            )
        if meas_level == 2 and kerneled:
            raise ResultDecodeError(
                f"experiment {index}: the service returned kerneled IQ data for a meas_level=2 job"
            )
        header: dict[str, Any] = {
            "name": names[index] if index < len(names) else f"circuit-{index}",
            "creg_sizes": [[name, int(_num_bits(value))] for name, value in registers],
            "metadata": {},
        }
        experiment: dict[str, Any] = {"success": True, "status": "DONE"}
        if kerneled:
            requested = shots[index] if index < len(shots) else None
            count, data, slots, kind = _kerneled(index, registers, meas_return, requested)
            experiment.update(meas_level=1, meas_return=kind)
        else:
            count, data, slots = _classified(index, registers, memory)
            experiment["meas_level"] = 2
        header["memory_slots"] = slots
        if index < len(headers):
            header.update(headers[index])
        experiment.update(shots=count, data=data, header=header)
        if seed_simulator is not None:
            experiment["seed_simulator"] = seed_simulator
        experiments.append(experiment)
    return Result.from_dict(
        {
            "backend_name": backend_name,
            "backend_version": backend_version,
            "job_id": job_id,
            "qobj_id": job_id,
            "success": True,
            "status": "COMPLETED",
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "header": {},
            "results": experiments,
        }
    )


def _num_bits(value: Any) -> int:
    if isinstance(value, BitArray):
        return int(value.num_bits)
    shape = np.shape(value)
    return int(shape[-1]) if shape else 1
