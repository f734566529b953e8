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
from typing import Any

import numpy as np
import numpy.typing as npt

from ..emulator.engine import DeviceEmulator
from ..emulator.sampler import run_sampler
from ..emulator.schedule import schedule_circuit
from .decode import ProgramItem, QuantumProgramJob, decode_program
from .results import ItemOutcome, encode_program_result

__all__ = ["run_program", "sample_item", "scheduler_timing"]


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
        parameters = tuple(circuit.parameters)
        if parameters and values is not None:
            binding = BindingsArray({parameters: values}, shape=item.shape)
        else:
            binding = BindingsArray(shape=item.shape)
        pub = SamplerPub(circuit, binding, program.shots)
        options = {
            "twirling": {"enable_gates": False, "enable_measure": False},
            "execution": {"meas_type": program.meas_level},
        }
        seed = int(rng.integers(2**31))
        try:
            result = run_sampler([pub], emulator, options, seed, started)
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}") from None
        for name, field in result[0].data.items():
            data[name] = (
                field.to_bool_array(order="little") if hasattr(field, "to_bool_array") else field
            )
    data.update(outputs)
    timing = scheduler_timing(circuit, emulator) if program.scheduler_timing else None
    stopped = _dt.datetime.now(_dt.timezone.utc)
    return ItemOutcome(data, started, stopped, math.prod(item.shape), len(item.shape), timing)


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
