"""Run a quantum program (an ``executor`` job) on the device emulator.

Each item is one circuit over an array of parameter values (its *elements*), each element run
for the program's ``shots``:

- a circuit item's values are its ``circuit_arguments``;
- a samplex item's values are drawn by samplomatic: the samplex is sampled once per element
  of the item's shape, broadcast axes (where the arguments vary) taking the matching slice of
  the arguments and the other axes enumerating independent randomizations. Its
  ``parameter_values`` bind the circuit; every other output (measurement flips, signs...) is
  returned with the item's data, as IBM's service returns them for the client to apply.

The circuits run on the same :class:`~..emulator.engine.DeviceEmulator` as sampler jobs, with
the device's calibrated gate, idle and readout noise, but with nothing added by the service:
an executor program carries its own twirling, noise injection and decoupling, so the
emulator's twirling and decoupling stay off. Registers come back as IBM's executor returns
them: booleans ``(*shape, shots, bits)`` (``classified``) or complex IQ points
``(*shape, shots, bits)`` / ``(*shape, bits)`` (``kerneled`` / ``avg_kerneled``).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..emulator.circuits import active_qubits
from ..emulator.engine import DeviceEmulator
from ..emulator.methods import is_clifford, simulation_method
from ..emulator.sampler import run_sampler
from ..emulator.schedule import schedule_circuit
from .decode import ProgramItem, QuantumProgramJob, decode_program
from .results import ItemOutcome, encode_program_result

__all__ = [
    "MAX_BOUND_ELEMENTS",
    "clifford_elements",
    "run_program",
    "sample_item",
    "scheduler_timing",
]

#: Elements of an item bound one by one when they are Clifford (:func:`clifford_elements`).
MAX_BOUND_ELEMENTS: Final = 1024
#: How far from a multiple of pi/2 a float32 angle may be and still count as one.
_ANGLE_TOLERANCE: Final = 1e-5


def run_program(
    params: Mapping[str, Any], emulator: DeviceEmulator, seed: int | None = None
) -> str:
    """Run the program ``params`` describe on ``emulator``; returns the result JSON text in
    the params' schema version. ``seed`` (or ``options.experimental.seed_simulator``) makes
    the samplex draws and the shots reproducible.

    Raises:
        ValueError: the program cannot run (the message says why).
    """
    program = decode_program(params)
    requested = program.experimental.get("seed_simulator")
    if isinstance(requested, int) and not isinstance(requested, bool) and seed is None:
        seed = requested
    rng = np.random.default_rng(seed)
    outcomes = [_run_item(i, item, program, emulator, rng) for i, item in enumerate(program.items)]
    return encode_program_result(program, outcomes)


def _run_item(
    index: int,
    item: ProgramItem,
    program: QuantumProgramJob,
    emulator: DeviceEmulator,
    rng: np.random.Generator,
) -> ItemOutcome:
    """Sample (a samplex item), simulate and collect one item's data."""
    from qiskit.primitives.containers.bindings_array import BindingsArray
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    started = _dt.datetime.now(_dt.timezone.utc)
    if item.kind == "samplex":
        outputs = sample_item(item, rng)
        values: npt.NDArray[np.float64] | None = np.asarray(
            outputs.pop("parameter_values", np.zeros((*item.shape, 0))), dtype=float
        )
    else:
        outputs = {}
        values = item.arguments
    circuit = item.circuit
    data: dict[str, Any] = {}
    if math.prod(item.shape) == 0:
        data = _empty_registers(circuit, item.shape, program)
    else:
        options = {
            "twirling": {"enable_gates": False, "enable_measure": False},
            "execution": {"meas_type": program.meas_level},
        }
        seed = int(rng.integers(2**31))
        bound = clifford_elements(circuit, values, program.shots, emulator)
        if bound is not None:
            pubs = [SamplerPub(element, None, program.shots) for element in bound]
        else:
            parameters = tuple(circuit.parameters)
            if parameters and values is not None:
                binding = BindingsArray({parameters: values}, shape=item.shape)
            else:
                binding = BindingsArray(shape=item.shape)
            pubs = [SamplerPub(circuit, binding, program.shots)]
        try:
            result = run_sampler(pubs, emulator, options, seed, started)
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}") from None
        for name in result[0].data:
            fields = [_register_array(pub_result.data[name]) for pub_result in result]
            stacked = fields[0] if len(fields) == 1 else np.stack(fields)
            data[name] = stacked.reshape(
                *item.shape, *stacked.shape[stacked.ndim - _intrinsic(program) :]
            )
    data.update(outputs)
    timing = scheduler_timing(circuit, emulator) if program.scheduler_timing else None
    stopped = _dt.datetime.now(_dt.timezone.utc)
    return ItemOutcome(data, started, stopped, math.prod(item.shape), len(item.shape), timing)


def clifford_elements(
    circuit: Any,
    values: npt.NDArray[np.float64] | None,
    shots: int,
    emulator: DeviceEmulator,
) -> list[Any] | None:
    """The item's elements as bound Clifford circuits, when they all are and the emulator
    would otherwise simulate the parameterized circuit on state vectors or MPS; else None.

    A twirled Clifford circuit is a parameterized circuit (its Pauli frames are ``rz``
    angles) whose every binding is Clifford: bound, each element is the circuit the sampler
    would get, and the emulator runs it on the stabilizer method with the noise Pauli-twirled
    (:mod:`..emulator.methods`), at any width, where the parameterized circuit would need
    trajectories. Angles are Clifford when they are multiples of pi/2 to within float32
    precision (samplomatic draws float32 values); they are rounded to those multiples. Items
    of more than :data:`MAX_BOUND_ELEMENTS` elements, or narrow enough for one density matrix
    per element, keep the parameterized circuit.
    """
    if values is None or not circuit.num_parameters or emulator.noise is None:
        return None
    elements = values.reshape(-1, circuit.num_parameters)
    if len(elements) > MAX_BOUND_ELEMENTS:
        return None
    width = len(active_qubits(circuit, delays_idle=True, measures_idle=True)) or 1
    method = simulation_method(width, shots, noisy=True, budget=emulator.memory_budget)
    if method == "density_matrix":
        return None
    quarter_turns = np.round(elements / (np.pi / 2))
    if not np.allclose(elements, quarter_turns * (np.pi / 2), rtol=0, atol=_ANGLE_TOLERANCE):
        return None
    parameters = list(circuit.parameters)
    bound = []
    for row in quarter_turns * (np.pi / 2):
        element = circuit.assign_parameters(dict(zip(parameters, row.tolist(), strict=True)))
        if not is_clifford(element):
            return None
        bound.append(element)
    return bound


def _register_array(field: Any) -> npt.NDArray[Any]:
    """A register's data as the executor returns them (booleans, little-endian columns)."""
    if hasattr(field, "to_bool_array"):
        return np.asarray(field.to_bool_array(order="little"))
    return np.asarray(field)


def _intrinsic(program: QuantumProgramJob) -> int:
    """Axes of a register's data after the item's shape: (shots, bits), or (bits,) averaged."""
    return 1 if program.meas_level == "avg_kerneled" else 2


def scheduler_timing(circuit: Any, emulator: DeviceEmulator) -> tuple[str, int] | None:
    """The circuit's schedule as IBM's executor reports it: ``(timing, duration)``, where
    ``timing`` has one line ``branch,instruction,channel,start,duration,pulse`` per instruction
    and qubit (times in ``dt``), and ``duration`` is the circuit's length in ``dt``. The emulator
    times circuits as late as possible with the calibration's durations (``rz`` and barriers
    are virtual); None when it cannot (control flow, stretches) or has no calibration."""
    if emulator.noise is None:
        return None
    schedule = schedule_circuit(circuit, emulator.dt, emulator.duration)
    if schedule is None:
        return None
    lines = []
    for op in schedule.ops:
        name = op.instruction.operation.name
        if name == "barrier":
            continue
        label = f"{name}_{'_'.join(map(str, op.qubits))}"
        for qubit in op.qubits:
            lines.append(f"main,{label},Qubit {qubit},{op.start},{op.duration},{name}")
    return "\n".join(lines), int(schedule.total)


def sample_item(item: ProgramItem, rng: np.random.Generator) -> dict[str, npt.NDArray[Any]]:
    """Draw a samplex item's outputs, each of shape ``(*item.shape, *intrinsic)``.

    Axes of ``item.shape`` where the bound inputs have extent 1 (or which they lack) are
    randomization axes: one call of ``samplex.sample`` draws all their elements at once, per
    index of the remaining (broadcast) axes, with the inputs sliced at that index.
    """
    shape = item.shape
    inputs = item.samplex_inputs
    in_shape = tuple(inputs.shape)
    offset = len(shape) - len(in_shape)
    padded = (1,) * offset + in_shape
    swept = [d for d, n in enumerate(padded) if n > 1]
    randomized = [d for d, n in enumerate(padded) if n <= 1]
    draws = math.prod(shape[d] for d in randomized)
    out: dict[str, npt.NDArray[Any]] = {}
    if math.prod(shape) == 0:
        return out
    for sweep_index in np.ndindex(*(shape[d] for d in swept)):
        where = dict(zip(swept, sweep_index, strict=True))
        sliced = inputs[tuple(where.get(offset + k, 0) for k in range(len(in_shape)))]
        sample = dict(item.samplex.sample(sliced, num_randomizations=draws, rng=rng))
        target = tuple(where[d] if d in where else slice(None) for d in range(len(shape)))
        for name, value in sample.items():
            array = np.asarray(value)
            if name not in out:
                out[name] = np.empty((*shape, *array.shape[1:]), dtype=array.dtype)
            out[name][target] = array.reshape(*(shape[d] for d in randomized), *array.shape[1:])
    return out


def _empty_registers(
    circuit: Any, shape: tuple[int, ...], program: QuantumProgramJob
) -> dict[str, Any]:
    """The registers of an item without elements (zero-size arrays of the right shapes)."""
    data: dict[str, Any] = {}
    for creg in circuit.cregs:
        if program.meas_level == "classified":
            data[creg.name] = np.zeros((*shape, program.shots, creg.size), dtype=bool)
        elif program.meas_level == "kerneled":
            data[creg.name] = np.zeros((*shape, program.shots, creg.size), dtype=complex)
        else:
            data[creg.name] = np.zeros((*shape, creg.size), dtype=complex)
    return data
