"""Whether a circuit's simulation fits the per-job memory budget, decided before it runs.

The width that counts is the qubits the circuit's instructions use (qubits that are only
measured rest in ``|0>`` and are not simulated); the method is the one the emulator would
choose (:func:`.methods.simulation_method`) or the one the job asks for. Used at submission
for sampler and estimator pubs and for executor programs.
"""

from __future__ import annotations

from typing import Any

from .circuits import active_qubits
from .methods import (
    DENSITY_MATRIX_MAX_QUBITS,
    is_clifford,
    method_problem,
    simulation_bytes,
    simulation_method,
)

__all__ = ["memory_problem"]


def memory_problem(circuit: Any, *, noisy: bool, requested: str, budget: int) -> str | None:
    """Why simulating ``circuit`` on the ``requested`` method (``"automatic"``: the one the
    emulator would choose) cannot run or would exceed ``budget`` bytes, or None."""
    width = len(active_qubits(circuit, delays_idle=True, measures_idle=True)) or 1
    clifford = is_clifford(circuit)
    problem = method_problem(requested, width, clifford=clifford, budget=budget)
    if problem:
        return problem
    method = simulation_method(
        width, 0, noisy=noisy, clifford=clifford, requested=requested, budget=budget
    )
    needed = simulation_bytes(method, width)
    if requested == "automatic" and noisy and width <= DENSITY_MATRIX_MAX_QUBITS:
        needed = max(needed, simulation_bytes("density_matrix", width))
    if needed <= budget:
        return None
    return (
        f"the circuit acts on {width} qubits: its {method} simulation needs "
        f"{needed / (1 << 30):,.1f} GiB, more than this service's per-job memory budget "
        f"({budget / (1 << 30):,.1f} GiB); qubits no instruction "
        "touches cost nothing: only the qubits the circuit uses count"
    )
