"""The circuit the emulator simulates: ideal instructions interleaved with their noise.

From a :class:`~.schedule.Schedule` of a circuit on physical qubits ``physical``:

* every gate is followed by its calibrated error channel (:meth:`.DeviceNoise.gate_channel`:
  relaxation over its length composed with the depolarizing rest of its calibrated error);
  decoupling pulses carry the error of an X; the emulator's own frame changes (twirling) and
  virtual ``rz`` carry none;
* every idle window of a qubit (between two of its operations, ``delay`` included) gets
  thermal relaxation over its length;
* wherever two coupled qubits idle at the same time, their static ZZ acts as a controlled
  phase ``exp(-2 pi i zeta t)`` on ``|11>`` over the overlap. Idle windows are cut at every
  boundary of such an overlap so that relaxation and ZZ are applied piecewise in time order,
  which is what lets a decoupling pulse in the middle of a window echo the ZZ around it.

Windows before a qubit's first operation are skipped (the qubit is in ``|0>``: relaxation and
a controlled phase leave it alone); those after its last one count (its state still acts on
its neighbours through ZZ).
Readout error is applied by the caller to the measured bits. Measurements take their
calibrated ``readout_length``; the relaxation during readout is part of the calibrated
assignment error, so none is added.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from qiskit.circuit import Gate, QuantumCircuit
from qiskit.circuit.library import CPhaseGate

from .device_noise import DeviceNoise
from .schedule import Schedule
from .stabilizer import gate_pauli_noise, pauli_noise_of, relaxation_pauli_noise, zz_pauli_noise

__all__ = ["NOISELESS_LABELS", "calibration_name", "noisy_circuit", "zz_overlaps"]

#: Labels of instructions the emulator adds that carry no error of their own (frame changes
#: merged into neighbouring single-qubit gates on hardware).
NOISELESS_LABELS = frozenset({"twirl"})
#: Instructions with no gate error.
_NO_GATE_ERROR = frozenset({"barrier", "measure", "reset", "delay", "rz", "cp"})
#: Gates merged with their error (:func:`_merged`), least recently used first: (gate name,
#: angles, id of the error) -> (the error, kept alive, and the merged channel).
_MERGED: OrderedDict[tuple[str, tuple[Any, ...], int], tuple[Any, Any]] = OrderedDict()
_MERGED_LOCK = threading.Lock()
_MERGED_CACHE_SIZE: Final = 1024


#: Instructions the emulator adds, played as a calibrated gate in a rotated frame: Y pulses of
#: decoupling as X, measurement basis changes (``h``) as one ``sx`` between virtual ``rz``.
_PLAYED_AS = {"y": "x", "h": "sx"}


def calibration_name(name: str) -> str:
    """The calibrated gate whose error and duration an instruction named ``name`` gets."""
    return _PLAYED_AS.get(name, name)


def zz_overlaps(
    windows_a: Sequence[tuple[int, int]], windows_b: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The intervals in which both of two qubits idle (two sorted window lists)."""
    out = []
    i = j = 0
    while i < len(windows_a) and j < len(windows_b):
        start = max(windows_a[i][0], windows_b[j][0])
        stop = min(windows_a[i][1], windows_b[j][1])
        if stop > start:
            out.append((start, stop))
        if windows_a[i][1] < windows_b[j][1]:
            i += 1
        else:
            j += 1
    return out


def noisy_circuit(
    schedule: Schedule,
    physical: Sequence[int],
    noise: DeviceNoise,
    *,
    gate_channel: Callable[[str, tuple[int, ...]], Any] | None = None,
    idle: bool = True,
    pauli: bool = False,
    merge_gates: bool = False,
) -> QuantumCircuit:
    """The circuit to simulate for ``schedule`` (see the module docstring).

    Args:
        schedule: The scheduled circuit; its qubit ``i`` is device qubit ``physical[i]``.
        physical: Device qubit of each circuit qubit.
        noise: The device's noise.
        gate_channel: The error after a gate, by calibrated name and device qubits (default
            :meth:`.DeviceNoise.gate_channel`; ZNE's noise amplification passes its own).
        idle: Apply relaxation and static ZZ to idle windows.
        pauli: Give every noise its Pauli twirl (:class:`.stabilizer.PauliNoise`), for the
            stabilizer method.
        merge_gates: Append each gate of fixed angles and its error as one channel (the
            error composed with the gate): the same circuit, one instruction less per noisy
            gate for a trajectory simulator to apply (not with ``pauli``).
    """
    channel_of = gate_channel or noise.gate_channel
    if pauli:
        if gate_channel is None:  # the calibrated channels: their twirl in closed form

            def channel_of(name: str, qubits: tuple[int, ...]) -> Any:
                return gate_pauli_noise(noise, name, qubits)

        else:
            channel_of = _pauli_channels(channel_of)
    merge = _merged if merge_gates and not pauli else None
    source = schedule.circuit
    out = QuantumCircuit(source.qubits, source.clbits, global_phase=source.global_phase)
    for register in source.cregs:
        if register not in out.cregs:
            out.add_register(register)
    # (time, class, sequence) -> what to append; class 0: operations, 1: idle pieces
    events: list[tuple[int, int, int, Any, tuple[int, ...]]] = []
    for seq, op in enumerate(schedule.ops):
        events.append((op.start, 0, seq, op.instruction, op.qubits))
    if idle:
        events.extend(_idle_events(schedule, physical, noise, len(events), pauli=pauli))
    events.sort(key=lambda event: event[:3])
    qubits = out.qubits
    for _time, kind, _seq, item, where in events:
        if kind == 1:
            out.append(item, [qubits[q] for q in where])
            continue
        operation = item.operation
        if operation.name == "barrier":
            continue
        if operation.name in _NO_GATE_ERROR or (operation.label in NOISELESS_LABELS):
            out.append(item, copy=False)
            continue
        channel = channel_of(calibration_name(operation.name), tuple(physical[q] for q in where))
        if channel is None:
            out.append(item, copy=False)
        elif merge is not None and _has_matrix(operation):
            out.append(merge(operation, channel), item.qubits)
        else:
            out.append(item, copy=False)
            out.append(channel, [qubits[q] for q in where])
    return out


def _has_matrix(operation: Any) -> bool:
    """Whether ``operation`` is a gate with fixed angles and a matrix (one that can be
    merged with its error)."""
    return (
        isinstance(operation, Gate)
        and not operation.is_parameterized()
        and hasattr(operation, "__array__")
    )


def _merged(gate: Any, channel: Any) -> Any:
    """The Aer ``QuantumError`` of ``channel`` after ``gate``; cached by gate and channel
    object (the calibrated channels are shared by every circuit of a device, and composing
    Aer errors is slow)."""
    from qiskit_aer.noise import QuantumError

    key = (gate.name, tuple(gate.params), id(channel))
    with _MERGED_LOCK:
        hit = _MERGED.get(key)
        if hit is not None and hit[0] is channel:
            _MERGED.move_to_end(key)
            return hit[1]
    merged = QuantumError(gate).compose(channel)
    with _MERGED_LOCK:
        _MERGED[key] = (channel, merged)  # the channel kept alive: its id is not reused
        while len(_MERGED) > _MERGED_CACHE_SIZE:
            _MERGED.popitem(last=False)
    return merged


def _pauli_channels(
    channel_of: Callable[[str, tuple[int, ...]], Any],
) -> Callable[[str, tuple[int, ...]], Any]:
    """``channel_of`` with each channel replaced by its Pauli twirl, cached by channel object
    (not by gate: a PEC sampler answers each gate instance with its own draw)."""
    cache: dict[int, tuple[Any, Any]] = {}  # id -> (channel kept alive, its twirl)

    def twirled(name: str, qubits: tuple[int, ...]) -> Any:
        channel = channel_of(name, qubits)
        if channel is None:
            return None
        hit = cache.get(id(channel))
        if hit is None or hit[0] is not channel:
            hit = cache[id(channel)] = (channel, pauli_noise_of(channel, len(qubits)))
        return hit[1]

    return twirled


def _idle_events(
    schedule: Schedule,
    physical: Sequence[int],
    noise: DeviceNoise,
    first_seq: int,
    *,
    pauli: bool = False,
) -> list[tuple[int, int, int, Any, tuple[int, ...]]]:
    width = schedule.circuit.num_qubits
    windows = [schedule.idle_windows(q) for q in range(width)]
    index = {p: i for i, p in enumerate(physical)}
    cuts: list[set[int]] = [set() for _ in range(width)]
    events: list[tuple[int, int, int, Any, tuple[int, ...]]] = []
    seq = first_seq
    zz: Mapping[tuple[int, int], float] = noise.zz_on(physical)
    for (pa, pb), zeta in sorted(zz.items()):
        a, b = index[pa], index[pb]
        for start, stop in zz_overlaps(windows[a], windows[b]):
            angle = -2 * math.pi * zeta * (stop - start) * schedule.dt
            phase_error = zz_pauli_noise(angle) if pauli else CPhaseGate(angle)
            events.append((start, 1, seq, phase_error, (a, b)))
            seq += 1
            cuts[a].update((start, stop))
            cuts[b].update((start, stop))
    for q in range(width):
        for start, stop in windows[q]:
            points = sorted({start, stop, *(t for t in cuts[q] if start < t < stop)})
            for piece_start, piece_stop in itertools.pairwise(points):
                length = (piece_stop - piece_start) * schedule.dt
                if pauli and noise.relaxes(physical[q]):
                    p = physical[q]
                    channel = relaxation_pauli_noise(noise.t1[p], noise.t2[p], length)
                else:
                    channel = noise.relaxation(physical[q], length)
                if channel is not None:
                    events.append((piece_start, 1, seq, channel, (q,)))
                    seq += 1
    return events
