"""Dynamical decoupling: pulse sequences in the idle windows of a scheduled circuit.

What ``dynamical_decoupling`` asks for, as IBM's primitives do it:

* ``sequence_type`` ``"XX"`` (two X), ``"XpXm"`` (X then X with the opposite phase) or
  ``"XY4"`` (X Y X Y) in every idle window long enough to hold it. On the emulator ``Xm`` is an
  X (the two differ by a global phase when pulses are ideal up to their calibrated error, which
  the emulator applies to every pulse), and Y is played as an X in a rotated frame (a virtual
  ``rz``), with X's duration and error.
* Spacing: with ``n`` pulses the free time ``f`` of a window is split
  ``f/2n, f/n, ..., f/n, f/2n`` around them (the pulses sit at the centres of equal slots);
  the ``dt`` left over by rounding goes to the middle gap (``extra_slack_distribution
  "middle"``) or is shared by the two edge gaps (``"edges"``).
* Staggering: neighbouring qubits that idle together would echo nothing of their mutual ZZ
  if they flipped at the same times (``X (x) X`` commutes with ``Z (x) Z``). Qubits are coloured
  so that coupled ones differ (the heavy-hex and square lattices are bipartite); the second
  colour plays its sequence twice as often, which makes the time integral of the two qubits'
  toggling-frame product vanish, so static ZZ between them is echoed as well.
* Windows before a qubit's first operation hold ``|0>`` and are left alone unless
  ``skip_reset_qubits`` is false (then they are filled too, and the pulses cost their error).

Each pulse is a :class:`TimedOp` labelled ``"dd"``; the emulator gives it the error and
relaxation of an X on that qubit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set

from qiskit.circuit import CircuitInstruction, Gate
from qiskit.circuit.library import XGate, YGate

from .schedule import Schedule, TimedOp

__all__ = ["DD_LABEL", "SEQUENCES", "insert_decoupling", "two_colouring"]

#: The label every inserted pulse carries.
DD_LABEL = "dd"
#: The pulses of each ``sequence_type``.
SEQUENCES: Mapping[str, tuple[str, ...]] = {
    "XX": ("x", "x"),
    "XpXm": ("x", "x"),
    "XY4": ("x", "y", "x", "y"),
}


def _pulse(name: str) -> Gate:
    return XGate(label=DD_LABEL) if name == "x" else YGate(label=DD_LABEL)


def two_colouring(qubits: Sequence[int], neighbours: Mapping[int, Set[int]]) -> dict[int, int]:
    """Colour ``qubits`` 0/1 so that neighbours differ where the graph allows (breadth first
    from the lowest index of each component; an odd cycle leaves one clash, harmless)."""
    colour: dict[int, int] = {}
    chosen = set(qubits)
    for root in sorted(chosen):
        if root in colour:
            continue
        colour[root] = 0
        queue = [root]
        while queue:
            q = queue.pop()
            for nb in neighbours.get(q, ()):
                if nb in chosen and nb not in colour:
                    colour[nb] = 1 - colour[q]
                    queue.append(nb)
    return colour


def _gaps(free: int, count: int, extra_slack_distribution: str) -> list[int]:
    """``count + 1`` gap lengths summing to ``free``."""
    fractions = [1 / (2 * count)] + [1 / count] * (count - 1) + [1 / (2 * count)]
    gaps = [int(free * f) for f in fractions]
    slack = free - sum(gaps)
    if extra_slack_distribution == "edges":
        gaps[0] += slack // 2
        gaps[-1] += slack - slack // 2
    else:
        gaps[len(gaps) // 2] += slack
    return gaps


def insert_decoupling(
    schedule: Schedule,
    qubits: Sequence[int],
    pulse_dt: Callable[[int], int],
    *,
    sequence_type: str = "XX",
    extra_slack_distribution: str = "middle",
    skip_reset_qubits: bool = True,
    neighbours: Mapping[int, Set[int]] | None = None,
) -> int:
    """Fill the idle windows of ``qubits`` in ``schedule`` with decoupling pulses.

    Args:
        schedule: The scheduled circuit (changed in place).
        qubits: The circuit indices of the qubits to decouple.
        pulse_dt: The length of an X pulse on a qubit, in ``dt``.
        sequence_type: ``"XX"``, ``"XpXm"`` or ``"XY4"``.
        extra_slack_distribution: ``"middle"`` or ``"edges"``.
        skip_reset_qubits: Leave the windows before each qubit's first operation empty.
        neighbours: Coupled qubits (circuit indices), for staggering.

    Returns:
        The number of pulses inserted.
    """
    base = SEQUENCES[sequence_type]
    colour = two_colouring(qubits, neighbours or {})
    circuit = schedule.circuit
    inserted = 0
    for q in qubits:
        names = base * (2 if colour.get(q) else 1)
        length = pulse_dt(q)
        if length <= 0:
            continue
        windows = schedule.idle_windows(q)
        if not skip_reset_qubits and schedule.busy[q] and schedule.busy[q][0].start > 0:
            windows.insert(0, (0, schedule.busy[q][0].start))
        for start, stop in windows:
            free = stop - start - len(names) * length
            if free < len(names) + 1:
                continue
            gaps = _gaps(free, len(names), extra_slack_distribution)
            t = start
            for name, gap in zip(names, gaps, strict=False):
                t += gap
                instruction = CircuitInstruction(_pulse(name), (circuit.qubits[q],), ())
                schedule.ops.append(TimedOp(t, length, instruction, (q,)))
                t += length
                inserted += 1
    if inserted:
        schedule.reindex()
    return inserted
