"""Estimator observables against a circuit reduced to the qubits it uses.

Estimator observables may act on qubits that no instruction touches (``"X" * 156`` on a
transpiled circuit). Those *idle* qubits stay in |0> for the whole circuit, so each Pauli term
factors into (the expectation of its part on the active qubits) x (a product over its idle
qubits of I, Z -> 1 and X, Y -> 0): terms with X or Y on an idle qubit are exactly 0, terms that
are Z/I on their idle qubits and identity elsewhere are exactly their coefficient (times the
idle qubits' readout factors), and only the rest, restricted to the active qubits, are
simulated. Any observable therefore evaluates if the circuit's active part fits in memory,
whatever the register's width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparseObservable

__all__ = ["SplitObservables", "observed_qubits", "split_observables"]


#: SparseObservable bit-term flag set for X (0b10) and Y (0b11), clear for Z (0b01).
_XY_FLAG = 0b10


class SplitObservables(NamedTuple):
    """An estimator pub's observables split into what is simulated and what is exact."""

    simulated: ObservablesArray
    """The terms to simulate, restricted to the kept qubits (an element may have none)."""
    constant: npt.NDArray[np.float64]
    """Per observable, the sum of the terms evaluated exactly (the observables' shape)."""
    any_simulated: bool
    """Whether any observable has a term to simulate."""


def split_observables(
    observables: ObservablesArray,
    keep: Sequence[int],
    width: int,
    idle_z_factor: npt.NDArray[np.float64] | None = None,
) -> SplitObservables:
    """Factor the qubits outside ``keep`` (all in |0>) out of every Pauli term.

    A term with X or Y on such a qubit has expectation 0; a term with only Z (or I) there has
    the expectation of its part on ``keep``, which is exactly 1 when that part is the identity
    (every channel the simulator applies preserves the trace). Terms that touch no such qubit
    are only relabelled, in their order, so observables within ``keep`` reach Aer exactly as
    they always did. Vectorized over all terms of all observables.

    ``idle_z_factor`` (per qubit of the register) is what a Z on an idle qubit reads as on
    average: 1 for a perfect readout, ``1 - 2 P(1|0)`` with the qubit's readout error
    (:mod:`.estimator`); each term is scaled by the product over its idle Z.
    """
    elements = observables.sparse_observables_array().ravel()
    count = elements.size
    num_keep = len(keep)
    bits_parts: list[npt.NDArray[np.uint8]] = [np.zeros(0, np.uint8)]
    index_parts: list[npt.NDArray[np.intp]] = [np.zeros(0, np.intp)]
    coeff_parts: list[npt.NDArray[np.complex128]] = [np.zeros(0, np.complex128)]
    length_parts: list[npt.NDArray[np.intp]] = [np.zeros(0, np.intp)]
    for obs in elements:
        bits_parts.append(np.asarray(obs.bit_terms, dtype=np.uint8))
        index_parts.append(np.asarray(obs.indices, dtype=np.intp))
        coeff_parts.append(np.asarray(obs.coeffs, dtype=np.complex128))
        boundaries = np.asarray(obs.boundaries, dtype=np.intp)
        length_parts.append(boundaries[1:] - boundaries[:-1])
    terms_per_element = np.fromiter(
        (len(part) for part in coeff_parts[1:]), dtype=np.intp, count=count
    )
    bits = np.concatenate(bits_parts)
    coeffs = np.concatenate(coeff_parts)
    term_length = np.concatenate(length_parts)
    num_terms = term_length.size
    term_of_entry = np.repeat(np.arange(num_terms), term_length)
    element_of_term = np.repeat(np.arange(count), terms_per_element)

    position = np.full(width, -1, dtype=np.intp)
    position[np.asarray(keep, dtype=np.intp)] = np.arange(num_keep)
    new_index = position[np.concatenate(index_parts)]
    idle = new_index < 0
    idle_per_term = np.bincount(term_of_entry[idle], minlength=num_terms)
    flips_idle = np.bincount(term_of_entry[idle & (bits & _XY_FLAG != 0)], minlength=num_terms)
    active_length = term_length - idle_per_term
    exact = (idle_per_term > 0) & ((flips_idle > 0) | (active_length == 0))
    exact_one = exact & (flips_idle == 0)
    if idle_z_factor is not None and idle.any():
        # scale each term by the product of its idle Z factors (terms with an idle X/Y are 0)
        entry_index = np.concatenate(index_parts)
        log_factor = np.log(np.maximum(idle_z_factor[entry_index[idle]], 1e-300))
        scale = np.exp(np.bincount(term_of_entry[idle], weights=log_factor, minlength=num_terms))
        coeffs = coeffs * scale
    constant = np.bincount(
        element_of_term[exact_one], weights=coeffs.real[exact_one], minlength=count
    ).astype(np.float64)

    simulated = ~exact
    entry_kept = simulated[term_of_entry] & ~idle
    kept_bits = bits[entry_kept]
    kept_index = new_index[entry_kept].astype(np.uint32)
    kept_coeffs = coeffs[simulated]
    term_start = np.zeros(int(simulated.sum()) + 1, dtype=np.intp)
    np.cumsum(active_length[simulated], out=term_start[1:])
    element_start = np.zeros(count + 1, dtype=np.intp)
    np.cumsum(np.bincount(element_of_term[simulated], minlength=count), out=element_start[1:])

    out = np.empty(count, dtype=object)
    nothing = SparseObservable.zero(num_keep)  # for observables whose every term is exact
    for e in range(count):
        t0, t1 = int(element_start[e]), int(element_start[e + 1])
        if t0 == t1:
            out[e] = nothing
            continue
        e0, e1 = int(term_start[t0]), int(term_start[t1])
        # simplify() merges terms that became equal once their idle Z were dropped; it is what
        # ObservablesArray applied to the relabelled terms before, so observables without idle
        # qubits reach Aer with the same terms in the same order (the same sums, bit for bit)
        out[e] = SparseObservable.from_raw_parts(
            num_keep,
            kept_coeffs[t0:t1],
            kept_bits[e0:e1],
            kept_index[e0:e1],
            term_start[t0 : t1 + 1] - e0,
        ).simplify()
    shape = observables.shape
    return SplitObservables(
        ObservablesArray(out.reshape(shape), num_qubits=num_keep, copy=False, validate=False),
        constant.reshape(shape),
        bool(kept_coeffs.size),
    )


def observed_qubits(observables: ObservablesArray) -> set[int]:
    """Indices of the qubits on which some term of some observable is not the identity."""
    elements = observables.sparse_observables_array().ravel()
    parts = [np.asarray(obs.indices, dtype=np.intp) for obs in elements]
    return {int(q) for q in np.unique(np.concatenate([np.zeros(0, np.intp), *parts]))}
