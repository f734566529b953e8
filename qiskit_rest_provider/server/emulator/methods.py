"""Which simulation method runs a circuit, and the memory it needs: decided before it runs.

The emulator simulates only the qubits a circuit uses (``width``). With noise:

* ``density_matrix``: one exact run serves every shot, but holds ``4**width`` amplitudes; it is
  chosen up to :data:`DENSITY_MATRIX_MAX_QUBITS` qubits when the circuit has at least
  ``2**width`` shots to share it (otherwise trajectories are cheaper);
* ``statevector``: one noisy trajectory per shot, ``2**width`` amplitudes;
* ``stabilizer``: a Clifford circuit otherwise, with its noise Pauli-twirled, on Stim
  (:mod:`.stabilizer`): a tableau of ``width**2`` bits, so any width of the devices fits.

Without noise (the simulator device) the state vector is what Aer needs at most. Each amplitude
is a complex double (16 bytes). The service refuses at submission a job whose simulation would
need more than its per-job memory budget (``max_job_memory_bytes``, default half the machine's
memory divided among the workers), with a 400 that names the width, the method and the budget;
the worker checks again before it simulates.
"""

from __future__ import annotations

import math
import os
from typing import Final

from qiskit.circuit import QuantumCircuit

__all__ = [
    "DENSITY_MATRIX_MAX_QUBITS",
    "default_job_memory",
    "is_clifford",
    "machine_memory",
    "simulation_bytes",
    "simulation_method",
]

#: Widths up to which a noisy circuit may run on the density-matrix method.
DENSITY_MATRIX_MAX_QUBITS: Final = 10
#: Bytes of one amplitude.
_AMPLITUDE_BYTES: Final = 16


#: Gates that are Clifford whatever their parameters (rotations are checked by angle).
_CLIFFORD_GATES: Final = frozenset(
    {
        "id",
        "x",
        "y",
        "z",
        "h",
        "s",
        "sdg",
        "sx",
        "sxdg",
        "cx",
        "cy",
        "cz",
        "swap",
        "ecr",
        "iswap",
        "pauli",
        "measure",
        "reset",
        "barrier",
        "delay",
    }
)
#: Rotations that are Clifford at multiples of pi/2.
_QUARTER_TURN_GATES: Final = frozenset({"rz", "rx", "ry", "p", "rzz", "rxx", "ryy"})


def is_clifford(circuit: QuantumCircuit) -> bool:
    """Whether every instruction of ``circuit`` is a Clifford operation (rotations by bound
    multiples of pi/2 included), so that Aer can simulate it on the stabilizer method."""
    for inst in circuit.data:
        operation = inst.operation
        name = operation.name
        if name in _CLIFFORD_GATES:
            continue
        if name not in _QUARTER_TURN_GATES:
            return False
        angle = operation.params[0]
        if not isinstance(angle, (int, float)):
            return False
        turns = float(angle) / (math.pi / 2)
        if abs(turns - round(turns)) > 1e-9:
            return False
    return True


def simulation_method(width: int, shots: int, *, noisy: bool, clifford: bool = False) -> str:
    """The Aer method the emulator uses for a circuit of ``width`` qubits and ``shots`` shots
    (per circuit and binding); ``clifford``: the circuit is Clifford (Aer's automatic choice
    then simulates a noiseless circuit on the stabilizer method)."""
    if not noisy:
        return "stabilizer" if clifford else "statevector"
    if width <= DENSITY_MATRIX_MAX_QUBITS and 2**width <= shots:
        return "density_matrix"
    return "stabilizer" if clifford else "statevector"


def simulation_bytes(method: str, width: int) -> int:
    """Bytes the state of ``method`` on ``width`` qubits holds."""
    if method == "density_matrix":
        return int(_AMPLITUDE_BYTES * 4**width)
    if method == "stabilizer":
        return 4 * width * width + 1024  # a tableau of 2 width x 2 width bits, and change
    return int(_AMPLITUDE_BYTES * 2**width)


def machine_memory() -> int:
    """Bytes of physical memory (8 GiB when the platform does not tell)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_job_memory(workers: int) -> int:
    """The default per-job memory budget: half the machine's memory, shared by the workers."""
    return machine_memory() // (2 * max(1, workers))
