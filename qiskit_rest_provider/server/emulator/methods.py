"""Which simulation method runs a circuit, and the memory it needs: decided before it runs.

The emulator simulates only the qubits a circuit uses (``width``). With noise:

* ``density_matrix``: one exact run serves every shot, but holds ``4**width`` amplitudes; it is
  chosen up to :data:`DENSITY_MATRIX_MAX_QUBITS` qubits when the circuit has at least
  ``2**width`` shots to share it (otherwise trajectories are cheaper);
* ``statevector``: one noisy trajectory per shot, ``2**width`` amplitudes;
* ``stabilizer``: a Clifford circuit otherwise, with its noise Pauli-twirled, on Stim
  (:mod:`.stabilizer`): a tableau of ``width**2`` bits, so any width of the devices fits;
* ``matrix_product_state``: a non-Clifford circuit whose state vector would not fit the job's
  memory budget: Aer's MPS, one noisy trajectory per shot with the noise Pauli-twirled (Aer's
  MPS samples Pauli errors reliably; general Kraus channels on wide states fail in its
  eigensolver), its bond dimension capped at :data:`MPS_MAX_BOND_DIMENSION` so memory stays
  bounded. Exact while the circuit's entanglement needs no more (shallow or low-entanglement
  circuits, as on a device's coupling map); beyond that the state is truncated, an
  approximation the result metadata report.

``options.simulator.method`` (one of :data:`SIMULATION_METHODS`) overrides the choice; a
method the circuit cannot use (``stabilizer`` for a non-Clifford circuit, a state that does not
fit the budget) is refused at submission.

Without noise (the simulator device) the state vector is what Aer needs at most. Each amplitude
is a complex double (16 bytes). The service refuses at submission a job whose simulation would
need more than its per-job memory budget (``max_job_memory_bytes``, default half the machine's
memory divided among the workers), with a 400 that names the width, the method and the budget;
the worker checks again before it simulates.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Final

from qiskit.circuit import QuantumCircuit

from ...wire.options import SIMULATION_METHODS

__all__ = [
    "DENSITY_MATRIX_MAX_QUBITS",
    "MPS_MAX_BOND_DIMENSION",
    "SIMULATION_METHODS",
    "default_job_memory",
    "is_clifford",
    "machine_memory",
    "method_approximation",
    "method_problem",
    "requested_method",
    "simulation_bytes",
    "simulation_method",
]

#: Widths up to which a noisy circuit may run on the density-matrix method.
DENSITY_MATRIX_MAX_QUBITS: Final = 10
#: Bytes of one amplitude.
_AMPLITUDE_BYTES: Final = 16
#: Largest bond dimension of the matrix-product-state method (memory per qubit ~ 64 chi**2 B).
MPS_MAX_BOND_DIMENSION: Final = 128


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


def simulation_method(
    width: int,
    shots: int,
    *,
    noisy: bool,
    clifford: bool = False,
    requested: str = "automatic",
    budget: int | None = None,
) -> str:
    """The method the emulator uses for a circuit of ``width`` qubits and ``shots`` shots
    (per circuit and binding); ``clifford``: the circuit is Clifford. ``requested`` (not
    ``"automatic"``) is taken as it is (:func:`method_problem` says whether it can run);
    ``budget`` (bytes) moves a non-Clifford circuit whose state vector would not fit onto the
    matrix-product-state method."""
    if requested != "automatic":
        return requested
    if noisy and width <= DENSITY_MATRIX_MAX_QUBITS and 2**width <= shots:
        return "density_matrix"
    if clifford:
        return "stabilizer"
    if budget is not None and simulation_bytes("statevector", width) > budget:
        return "matrix_product_state"
    return "statevector"


def requested_method(options: Mapping[str, Any]) -> str:
    """``options.simulator.method`` of a job's options (``"automatic"`` when not set)."""
    simulator = options.get("simulator")
    method = simulator.get("method") if isinstance(simulator, Mapping) else None
    return method if isinstance(method, str) and method else "automatic"


def method_problem(method: str, width: int, *, clifford: bool, budget: int) -> str | None:
    """Why ``method`` cannot simulate a circuit of ``width`` qubits within ``budget`` bytes,
    or None."""
    if method not in SIMULATION_METHODS:
        return f"simulator.method must be one of {', '.join(SIMULATION_METHODS)}"
    if method == "stabilizer" and not clifford:
        return (
            "simulator.method 'stabilizer' simulates Clifford circuits only (Clifford gates, "
            "rotations by multiples of pi/2); this circuit is not one"
        )
    return None


def method_approximation(method: str, *, noisy: bool = True, pauli_noise: bool = True) -> str:
    """What running on ``method`` implies for the results (for the result metadata);
    ``pauli_noise``: whether the stabilizer and MPS methods got their noise Pauli-twirled (a
    circuit that could not be scheduled keeps its gate channels as they are)."""
    if not noisy:
        return "noiseless"
    twirled = "every noise Pauli-twirled" if pauli_noise else "exact gate noise"
    return {
        "density_matrix": "exact noise",
        "statevector": "exact noise, one trajectory per shot",
        "stabilizer": "every noise Pauli-twirled (as twirling makes it on hardware)",
        "matrix_product_state": (
            f"{twirled}, one trajectory per shot; the state is truncated where it needs a "
            f"bond dimension above {MPS_MAX_BOND_DIMENSION}"
        ),
    }.get(method, "exact noise")


def simulation_bytes(method: str, width: int) -> int:
    """Bytes the state of ``method`` on ``width`` qubits holds (at most, for the MPS)."""
    if method == "density_matrix":
        return int(_AMPLITUDE_BYTES * 4**width)
    if method == "stabilizer":
        return 4 * width * width + 1024  # a tableau of 2 width x 2 width bits, and change
    if method == "matrix_product_state":
        # per qubit two chi x chi matrices of amplitudes, and as much again while gates act
        return int(4 * _AMPLITUDE_BYTES * MPS_MAX_BOND_DIMENSION**2 * max(1, width))
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
