"""Changing a gate's noise on purpose: folding, exact amplification (PEA) and cancellation (PEC).

**Gate folding** (``zne.amplifier`` ``"gate_folding"``, ``"gate_folding_front"``,
``"gate_folding_back"``): a two-qubit gate ``G`` becomes ``G (G^dagger G)^k``, which is the same
operation with ``2k + 1`` times its noise (and its duration, so the other qubits idle longer,
as on hardware). A noise factor ``lambda`` folds ``k = floor((lambda - 1) / 2 * n + 1/2)`` times
(rounded half *up*: factor 2 on one gate folds it once) over the ``n`` two-qubit gates of the
circuit's top level (gates inside control-flow blocks are not folded): every gate ``floor`` of
``k / n``, the remainder on randomly chosen gates (``gate_folding``), the first ones (``_front``)
or the last ones (``_back``). Folding is discrete, so the factor really run is
``1 + 2 k / n`` (:func:`achieved_noise_factor`), not ``lambda``: an extrapolation must fit
against that.

**Pauli channels.** Twirled, a gate's error channel is the Pauli channel with probabilities
``p_P = chi_PP / d`` (the diagonal of its process matrix in the Pauli basis). Its Pauli
fidelities are ``f_Q = sum_P p_P s(P, Q)`` with ``s = +1`` where ``P`` and ``Q`` commute and -1
where they anticommute; ``S = [s(P, Q)]`` satisfies ``S S = d^2 I``, so ``p = S f / d^2``. A
sparse Pauli-Lindblad model (what IBM learns on hardware) is ``f_Q = exp(-2 sum lambda_k
[P_k, Q anticommute])``; scaling every rate by ``g`` gives ``f_Q^g`` whatever the model's
generators, so on the emulator, where the channel is known exactly, noise is amplified
exactly (``"pea"``: the channel with fidelities ``f^g``) and inverted exactly (PEC).

**PEC** applies, after each noisy two-qubit gate, the quasi-probability channel with
fidelities ``f^(gain - 1)`` (``noise_gain`` 0: the exact inverse): ``q = S f^(gain-1) / d^2``,
``gamma = sum |q|``. Each circuit instance draws one Pauli per gate with probability
``|q_P| / gamma``; the estimate is ``gamma_total * sign * value`` with ``gamma_total`` the product
over gates and ``sign`` the product of the drawn signs. The sampling overhead is
``gamma_total ** 2``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import RZZGate
from qiskit.quantum_info import Chi, pauli_basis

from .twirling import TWIRLED_GATES

__all__ = [
    "FOLDABLE_GATES",
    "AmplifiedChannel",
    "PauliChannel",
    "PecSampler",
    "achieved_noise_factor",
    "amplified_channel_factory",
    "fold_gates",
    "foldable_gate_count",
]

#: Two-qubit gates that folding and PEA/PEC act on.
FOLDABLE_GATES = frozenset({*TWIRLED_GATES, "rzz"})


#: Slack for the rounding of the fold count: ``(1.2 - 1) / 2 * 5`` is ``0.4999...`` in floats.
_ROUNDING_SLACK = 1e-9


def _fold_total(num_gates: int, factor: float) -> int:
    """Folds over ``num_gates`` gates for noise factor ``factor``: ``(factor - 1) / 2`` times
    ``num_gates``, rounded half up (0 without gates or for ``factor <= 1``)."""
    if num_gates <= 0 or factor <= 1:
        return 0
    return math.floor((factor - 1) / 2 * num_gates + 0.5 + _ROUNDING_SLACK)


def achieved_noise_factor(num_gates: int, factor: float) -> float:
    """The noise factor :func:`fold_gates` really runs when asked for ``factor`` on a circuit
    with ``num_gates`` foldable gates: ``1 + 2 k / num_gates`` for ``k`` folds (``factor``
    itself without gates or for ``factor <= 1``, where nothing is folded)."""
    if num_gates <= 0 or factor <= 1:
        return float(factor)
    return 1.0 + 2.0 * _fold_total(num_gates, factor) / num_gates


def foldable_gate_count(circuit: QuantumCircuit) -> int:
    """The gates :func:`fold_gates` may fold: the two-qubit :data:`FOLDABLE_GATES` of the
    circuit's top level."""
    return sum(1 for inst in circuit.data if inst.operation.name in FOLDABLE_GATES)


def fold_gates(
    circuit: QuantumCircuit, factor: float, amplifier: str, rng: np.random.Generator
) -> QuantumCircuit:
    """``circuit`` with its two-qubit gates folded to noise factor ``factor`` (as nearly as
    whole folds allow: :func:`achieved_noise_factor`)."""
    positions = [i for i, inst in enumerate(circuit.data) if inst.operation.name in FOLDABLE_GATES]
    n = len(positions)
    if n == 0 or factor <= 1:
        return circuit
    total = _fold_total(n, factor)
    folds = np.full(n, total // n, dtype=np.int64)
    remainder = total - int(folds.sum())
    if remainder:
        if amplifier == "gate_folding_front":
            chosen = np.arange(remainder)
        elif amplifier == "gate_folding_back":
            chosen = np.arange(n - remainder, n)
        else:
            chosen = rng.choice(n, size=remainder, replace=False)
        folds[chosen] += 1
    fold_at = dict(zip(positions, folds.tolist(), strict=True))
    out = circuit.copy_empty_like()
    for i, inst in enumerate(circuit.data):
        out.append(inst)
        for _ in range(fold_at.get(i, 0)):
            operation = inst.operation
            inverse = RZZGate(-operation.params[0]) if operation.name == "rzz" else operation
            out.append(inverse, inst.qubits, inst.clbits)
            out.append(inst)
    return out


@functools.lru_cache(maxsize=4)
def _signs(num_qubits: int) -> npt.NDArray[np.float64]:
    """``S[P, Q]`` = +1 if Paulis ``P`` and ``Q`` (qiskit's ``pauli_basis`` order) commute."""
    basis = pauli_basis(num_qubits)
    x = np.asarray(basis.x, dtype=np.int64)
    z = np.asarray(basis.z, dtype=np.int64)
    anticommute = (x @ z.T + z @ x.T) % 2
    return np.asarray(1 - 2 * anticommute, dtype=np.float64)


@dataclass(frozen=True)
class PauliChannel:
    """A Pauli channel by its probabilities in qiskit's ``pauli_basis`` order."""

    num_qubits: int
    probabilities: npt.NDArray[np.float64]
    labels: tuple[str, ...] = field(repr=False)

    @classmethod
    def twirl_of(cls, channel: Any, num_qubits: int) -> PauliChannel:
        """The Pauli twirl of an Aer ``QuantumError`` (or any qiskit channel)."""
        to_channel = getattr(channel, "to_quantumchannel", None)
        chi = Chi(to_channel() if to_channel is not None else channel)
        d = 2**num_qubits
        probabilities = np.clip(np.real(np.diag(chi.data)) / d, 0.0, None)
        probabilities = probabilities / probabilities.sum()
        return cls(num_qubits, probabilities, tuple(pauli_basis(num_qubits).to_labels()))

    @staticmethod
    def signs(num_qubits: int) -> npt.NDArray[np.float64]:
        """``S[P, Q]`` = +1 where Paulis ``P`` and ``Q`` commute, else -1 (``pauli_basis``
        order): fidelities are ``S @ probabilities``, probabilities ``S @ fidelities / 4**n``."""
        return _signs(num_qubits)

    @property
    def fidelities(self) -> npt.NDArray[np.float64]:
        """Pauli fidelities ``f_Q``."""
        return _signs(self.num_qubits) @ self.probabilities

    def quasi_probabilities(self, power: float) -> npt.NDArray[np.float64]:
        """The (quasi-)probabilities of the channel with fidelities ``f ** power``."""
        d2 = 4**self.num_qubits
        f = np.clip(self.fidelities, 1e-12, None)
        return np.asarray(_signs(self.num_qubits) @ (f**power) / d2, dtype=np.float64)

    def power(self, exponent: float) -> Any:
        """The channel raised to ``exponent`` (fidelities ``f ** exponent``), an Aer error."""
        from qiskit_aer.noise import pauli_error

        q = np.clip(self.quasi_probabilities(exponent), 0.0, None)
        q = q / q.sum()
        return pauli_error(
            [(label, float(p)) for label, p in zip(self.labels, q, strict=True) if p > 0]
        )


class AmplifiedChannel:
    """``gate_channel`` for PEA: two-qubit gates get their twirled channel to the power
    ``factor``, other gates their calibrated channel. Deterministic (one channel per gate and
    qubits), so a noise model can carry it; equal (and hashing equal) for the same ``base``
    and ``factor``, so the emulator's model cache recognises it across pubs.

    Args:
        base: The calibrated ``gate_channel``.
        factor: The noise factor.
    """

    draws_per_instance = False
    """Every instance of a gate gets the same channel."""

    def __init__(self, base: Callable[[str, tuple[int, ...]], Any], factor: float) -> None:
        self.base = base
        """The calibrated ``gate_channel``."""
        self.factor = float(factor)
        """The noise factor."""
        self._cache: dict[tuple[str, tuple[int, ...]], Any] = {}

    def __call__(self, name: str, qubits: tuple[int, ...]) -> Any:
        """The channel after gate ``name`` on ``qubits``."""
        calibrated = self.base(name, qubits)
        if calibrated is None or name not in FOLDABLE_GATES or len(qubits) != 2:
            return calibrated
        key = (name, qubits)
        if key not in self._cache:
            self._cache[key] = PauliChannel.twirl_of(calibrated, 2).power(self.factor)
        return self._cache[key]

    def __eq__(self, other: object) -> bool:
        """Same base channels, same factor."""
        if not isinstance(other, AmplifiedChannel):
            return NotImplemented
        return self.base == other.base and self.factor == other.factor

    def __hash__(self) -> int:
        """Hash of (base, factor)."""
        return hash((self.base, self.factor))


def amplified_channel_factory(
    base: Callable[[str, tuple[int, ...]], Any], factor: float
) -> Callable[[str, tuple[int, ...]], Any]:
    """``gate_channel`` for PEA (an :class:`AmplifiedChannel`): two-qubit gates get their
    twirled channel to the power ``factor``, other gates their calibrated channel."""
    return AmplifiedChannel(base, factor)


class PecSampler:
    """``gate_channel`` for one PEC circuit instance: each two-qubit gate's twirled channel,
    then a Pauli drawn from the quasi-probability inverse (see the module docstring).

    Args:
        base: The calibrated ``gate_channel``.
        noise_gain: 0 cancels the noise; ``g`` leaves ``g`` times it.
        rng: Draws the Paulis.
    """

    draws_per_instance = True
    """Each gate instance draws its own channel, which one noise-model entry per gate and
    qubits cannot express (the emulator refuses PEC on circuits it cannot schedule)."""

    def __init__(
        self,
        base: Callable[[str, tuple[int, ...]], Any],
        noise_gain: float,
        rng: np.random.Generator,
        cache: dict[tuple[Any, ...], Any] | None = None,
    ) -> None:
        self._base = base
        self._gain = noise_gain
        self._rng = rng
        self._cache: dict[tuple[Any, ...], Any] = {} if cache is None else cache
        """Per gate its twirled channel and quasi-probabilities; per draw the drawn channel
        (shared by the samplers of one pub)."""
        self.sign = 1.0
        """Product of the signs drawn so far."""
        self.gamma = 1.0
        """Product of the gates' ``gamma`` so far."""

    def _entry(self, name: str, qubits: tuple[int, ...]) -> Any:
        key = (name, qubits)
        if key not in self._cache:
            calibrated = self._base(name, qubits)
            if calibrated is None:
                self._cache[key] = None
            else:
                twirled = PauliChannel.twirl_of(calibrated, 2)
                q = twirled.quasi_probabilities(self._gain - 1)
                gamma = float(np.abs(q).sum())
                self._cache[key] = (twirled.power(1.0), twirled.labels, q, gamma)
        return self._cache[key]

    def gamma_of(self, name: str, qubits: tuple[int, ...]) -> float:
        """``gamma`` of one gate (1 for gates PEC leaves alone)."""
        if name not in FOLDABLE_GATES or len(qubits) != 2:
            return 1.0
        entry = self._entry(name, qubits)
        return 1.0 if entry is None else float(entry[3])

    def __call__(self, name: str, qubits: tuple[int, ...]) -> Any:
        """The channel after gate ``name`` on ``qubits`` in this instance."""
        if name not in FOLDABLE_GATES or len(qubits) != 2:
            return self._base(name, qubits)
        entry = self._entry(name, qubits)
        if entry is None:
            return None
        from qiskit_aer.noise import pauli_error

        channel, labels, q, gamma = entry
        k = int(self._rng.choice(len(q), p=np.abs(q) / gamma))
        self.sign *= float(np.sign(q[k]))
        self.gamma *= gamma
        if k == 0:
            return channel
        key = (name, qubits, k)  # the same draw is the same channel object (twirls cache on it)
        if key not in self._cache:
            self._cache[key] = channel.compose(pauli_error([(labels[k], 1.0)]))
        return self._cache[key]
