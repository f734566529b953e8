"""Kerneled measurement data: one complex IQ point per shot and classical bit.

With ``execution.meas_type="kerneled"`` a sampler returns, for every classical register, a
complex ``ndarray`` of shape ``(*pub_shape, shots, creg_size)`` instead of a ``BitArray``; with
``"avg_kerneled"`` the points are averaged over the shots, shape ``(*pub_shape, creg_size)``
(qiskit-ibm-runtime's ``SamplerExecutionOptionsV2.meas_type``; the REST reference, §6.3). Each
point is the readout signal integrated against a kernel, in arbitrary units (Ryan et al.,
*Hardware for dynamic quantum computing*, arXiv:1704.08314; Krantz et al., *A quantum
engineer's guide to superconducting qubits*, Appl. Phys. Rev. 6, 021318 (2019), §V).

The model
---------
Per measured qubit ``q`` (one column of the data) the points of a qubit that *lands* in state
``s`` are drawn from a symmetric Gaussian cloud around ``c_s``::

    iq = c_s + sigma * (x + i y),    x, y ~ N(0, 1) independent

(``sigma`` is the standard deviation of each quadrature). A qubit measured in ``|1>`` relaxes
during the readout with probability ``decay`` (T1 during the integration window, Gambetta et
al., Phys. Rev. A 76, 012325 (2007)) and lands in the ``|0>`` cloud; one measured in ``|0>``
lands in the ``|1>`` cloud with probability ``excitation`` (readout-induced excitation; zero
unless the calibration says ``|0>`` is misread more often than ``|1>``). A real trajectory that
decays mid-window ends between the clouds; the two-outcome mixture keeps what a discriminator
sees (the assignment errors) and is what the calibration reports.

The discriminator
-----------------
A user's nearest-centroid discriminator (:meth:`IQModel.classify`) answers 1 when the point is
on the ``c_1`` side of the perpendicular bisector of ``c_0 c_1``. The noise projected on the
axis ``c_1 - c_0`` is ``N(0, sigma**2)``, so a point from either cloud crosses the bisector with
probability ``eps = Phi(-d / (2 sigma))``, ``d = |c_1 - c_0|``, ``Phi`` the normal CDF. Hence::

    P(read 1 | prepared 0) = p10 = eps + excitation * (1 - 2 eps)
    P(read 0 | prepared 1) = p01 = eps + decay      * (1 - 2 eps)

Derivation (|0> side): the point comes from the |1> cloud with probability ``excitation`` and is
then read 1 with probability ``1 - eps``, else from the |0> cloud and read 1 with probability
``eps``: ``excitation (1 - eps) + (1 - excitation) eps``. :meth:`IQModel.from_assignment_errors`
inverts this for calibrated ``p01 = prob_meas0_prep1`` and ``p10 = prob_meas1_prep0``::

    eps        = clip(min(p01, p10), MIN_OVERLAP, MAX_OVERLAP)
    sigma      = d / (2 z),  z = Phi^-1(1 - eps)
    decay      = clip((p01 - eps) / (1 - 2 eps), 0, 1)
    excitation = clip((p10 - eps) / (1 - 2 eps), 0, 1)

so classifying the generated points reproduces both errors exactly in expectation, for every
``p`` in ``[MIN_OVERLAP, 1 - MIN_OVERLAP]``: the clouds overlap by the smaller error and the
excess of the larger one is the decay (or excitation) fraction. Edge cases: ``p = 0`` gives
``eps = MIN_OVERLAP = 1e-12`` (``d / sigma`` about 14; one misread in 10**12 shots); the
overlap is capped at ``MAX_OVERLAP = 0.4`` (``d / sigma`` about 0.5) and errors beyond it, up to
0.5 and past it (an inverted readout), are made of flips, which stay exact. Probabilities
outside ``[0, 1]`` or not finite are refused.

Geometry and scale
------------------
Hardware clouds are not aligned with the axes: each qubit gets a midpoint ``m`` at radius
``scale * [0.5, 1.5)`` and a random phase, and an axis ``c_1 - c_0`` of length
``d = scale * [0.8, 1.2)`` at a random angle, all drawn from a hash (SplitMix64) of ``seed_key``
and the *physical* qubit index, so a qubit keeps its plane whatever else is measured, on every
platform and numpy version. ``scale`` defaults to 1: ``|c_s|`` is of order 1. IBM's values are
arbitrary units too (of order 1e6 to 1e8 on older devices); nothing should depend on them.

``avg_kerneled`` is drawn from the exact distribution of the mean over the shots, without the
per-shot points: the number of shots landing in the |1> cloud is
``Binomial(ones, 1 - decay) + Binomial(zeros, excitation)`` and the mean noise is Gaussian with
``sigma / sqrt(shots)`` per quadrature, so memory is that of the bits, not 16 bytes per point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

__all__ = [
    "DEFAULT_SEED_KEY",
    "MAX_OVERLAP",
    "MIN_OVERLAP",
    "IQModel",
    "kerneled_data",
    "unpack_bits",
]

#: Smallest cloud overlap (misassignment of the clouds alone): ``p = 0`` becomes 1e-12.
MIN_OVERLAP = 1e-12
#: Largest cloud overlap; larger errors are made of decay/excitation flips.
MAX_OVERLAP = 0.4
#: The ``seed_key`` used when none is given.
DEFAULT_SEED_KEY = 0

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
#: Independent per-qubit draws: axis angle, midpoint phase, midpoint radius, separation.
_STREAMS = 4


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The SplitMix64 finalizer (Steele, Lea and Flood, OOPSLA 2014), wrapping arithmetic."""
    with np.errstate(over="ignore"):
        z = x ^ (x >> np.uint64(30))
        z = z * _MIX1
        z = z ^ (z >> np.uint64(27))
        z = z * _MIX2
        return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


def _uniforms(seed_key: int, qubits: NDArray[np.int64]) -> NDArray[np.float64]:
    """``(len(qubits), _STREAMS)`` uniforms in ``[0, 1)``, a pure function of the key and the
    physical qubit indices."""
    key = _splitmix64(np.array([seed_key & _MASK64], dtype=np.uint64))
    counters = qubits.astype(np.uint64)[:, None] * np.uint64(_STREAMS) + np.arange(
        1, _STREAMS + 1, dtype=np.uint64
    )
    with np.errstate(over="ignore"):
        mixed = _splitmix64(key + counters * _GOLDEN)
    return np.asarray((mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53, dtype=np.float64)


def _probabilities(name: str, value: ArrayLike) -> NDArray[np.float64]:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if array.ndim != 1:
        raise ValueError(f"{name} must be one probability per qubit (1-D), got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any() or (array > 1).any():
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {array.tolist()}")
    return array


def _frozen(array: NDArray[Any]) -> NDArray[Any]:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def _check_bits(model: IQModel, true_bits: ArrayLike) -> NDArray[Any]:
    """``true_bits`` as an array whose last axis has one 0/1 entry per qubit of ``model``."""
    bits = np.asarray(true_bits)
    if bits.ndim < 1 or bits.shape[-1] != model.num_qubits:
        raise ValueError(
            f"true bits of shape {bits.shape}: the last axis must have {model.num_qubits} "
            "entries (one per measured qubit)"
        )
    if bits.dtype != np.bool_:
        if bits.dtype.kind not in "ui":
            raise ValueError(f"true bits must be integers 0/1, got dtype {bits.dtype}")
        if bits.size and (bits.max() > 1 or bits.min() < 0):
            raise ValueError("true bits must be 0 or 1")
    return bits


@dataclass(frozen=True, eq=False)
class IQModel:
    """Gaussian IQ clouds of the measured qubits, one entry per data column (see the module).

    ``centers0`` / ``centers1``: the clouds' centres (complex128); ``sigma``: each quadrature's
    standard deviation; ``decay``: probability that a qubit measured in ``|1>`` lands in the
    ``|0>`` cloud; ``excitation``: probability that one measured in ``|0>`` lands in the ``|1>``
    cloud (default 0). Scalars broadcast to the number of qubits; arrays are stored read-only.
    """

    centers0: NDArray[np.complex128]
    centers1: NDArray[np.complex128]
    sigma: NDArray[np.float64]
    decay: NDArray[np.float64]
    excitation: NDArray[np.float64] = field(default_factory=lambda: np.zeros((), np.float64))

    def __post_init__(self) -> None:
        c0 = np.atleast_1d(np.asarray(self.centers0, dtype=np.complex128))
        if c0.ndim != 1:
            raise ValueError(f"centers0 must be 1-D (one per qubit), got shape {c0.shape}")
        n = c0.shape[0]
        try:
            c1, sigma, decay, excitation = (
                np.broadcast_to(np.asarray(value, dtype=dtype), (n,))
                for value, dtype in (
                    (self.centers1, np.complex128),
                    (self.sigma, np.float64),
                    (self.decay, np.float64),
                    (self.excitation, np.float64),
                )
            )
        except ValueError:
            raise ValueError(
                f"centers1, sigma, decay and excitation must have one entry per qubit ({n})"
            ) from None
        if not (np.isfinite(c0).all() and np.isfinite(c1).all()) or (c0 == c1).any():
            raise ValueError("the centres must be finite and each qubit's two centres distinct")
        if not np.isfinite(sigma).all() or (sigma <= 0).any():
            raise ValueError("sigma must be positive and finite")
        for name, p in (("decay", decay), ("excitation", excitation)):
            if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
                raise ValueError(f"{name} must hold probabilities in [0, 1]")
        for name, value in (
            ("centers0", c0),
            ("centers1", c1),
            ("sigma", sigma),
            ("decay", decay),
            ("excitation", excitation),
        ):
            object.__setattr__(self, name, _frozen(value))

    @property
    def num_qubits(self) -> int:
        """The number of measured qubits (data columns) the model describes."""
        return int(self.centers0.shape[0])

    @property
    def overlap(self) -> NDArray[np.float64]:
        """Per qubit, the probability that a point crosses the bisector: ``Phi(-d / 2 sigma)``."""
        d = np.abs(self.centers1 - self.centers0)
        return np.asarray(ndtr(-d / (2.0 * self.sigma)), dtype=np.float64)

    @classmethod
    def from_assignment_errors(
        cls,
        p01: ArrayLike,
        p10: ArrayLike,
        *,
        seed_key: int | None = None,
        qubits: ArrayLike | None = None,
        scale: float = 1.0,
    ) -> IQModel:
        """The model whose midpoint discriminator reproduces the assignment errors exactly.

        Args:
            p01: Per qubit, ``prob_meas0_prep1`` (read 0 having prepared 1).
            p10: Per qubit, ``prob_meas1_prep0`` (read 1 having prepared 0).
            seed_key: Key of the per-qubit rotations and offsets (:data:`DEFAULT_SEED_KEY`
                when ``None``); any int.
            qubits: The physical qubit index of each entry (default ``0 .. n-1``): a qubit's
                IQ plane depends on the key and its index only.
            scale: Length unit of the plane (``|centre|`` is of order ``scale``).

        Raises:
            ValueError: probabilities not in ``[0, 1]``, mismatched lengths, a bad scale.
        """
        a01 = _probabilities("p01", p01)
        a10 = _probabilities("p10", p10)
        try:
            a01, a10 = np.broadcast_arrays(a01, a10)
        except ValueError:
            raise ValueError(
                f"p01 and p10 must have one entry per qubit ({a01.shape[0]} != {a10.shape[0]})"
            ) from None
        n = a01.shape[0]
        index = (
            np.arange(n, dtype=np.int64)
            if qubits is None
            else np.atleast_1d(np.asarray(qubits, dtype=np.int64))
        )
        if index.shape != (n,) or (index < 0).any():
            raise ValueError(f"qubits must be {n} non-negative indices, got {index.tolist()}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        key = DEFAULT_SEED_KEY if seed_key is None else int(seed_key)

        eps = np.clip(np.minimum(a01, a10), MIN_OVERLAP, MAX_OVERLAP)
        z = -ndtri(eps)  # Phi^-1(1 - eps) > 0
        u = _uniforms(key, index)
        axis = np.exp(2j * np.pi * u[:, 0])
        midpoint = scale * (0.5 + u[:, 2]) * np.exp(2j * np.pi * u[:, 1])
        separation = scale * (0.8 + 0.4 * u[:, 3])
        half = 0.5 * separation * axis
        return cls(
            centers0=midpoint - half,
            centers1=midpoint + half,
            sigma=separation / (2.0 * z),
            decay=np.clip((a01 - eps) / (1.0 - 2.0 * eps), 0.0, 1.0),
            excitation=np.clip((a10 - eps) / (1.0 - 2.0 * eps), 0.0, 1.0),
        )

    def expected_iq(self, true_bits: ArrayLike) -> NDArray[np.complex128]:
        """The mean IQ point of each entry given its post-measurement bit:
        ``(1 - excitation) c0 + excitation c1`` for 0, ``decay c0 + (1 - decay) c1`` for 1."""
        bits = _check_bits(self, true_bits).astype(bool)
        delta = self.centers1 - self.centers0
        mean0 = self.centers0 + self.excitation * delta
        mean1 = self.centers1 - self.decay * delta
        return np.asarray(np.where(bits, mean1, mean0), dtype=np.complex128)

    def _landed(self, bits: NDArray[Any], rng: np.random.Generator) -> NDArray[np.bool_]:
        """The cloud each entry lands in (``True``: the |1> cloud), decay and excitation
        applied."""
        landed = bits.astype(bool)
        if (self.decay > 0).any() or (self.excitation > 0).any():
            u = rng.random(bits.shape)
            landed ^= np.where(landed, u < self.decay, u < self.excitation)
        return landed

    def sample(
        self, true_bits: NDArray[np.uint8], rng: np.random.Generator
    ) -> NDArray[np.complex128]:
        """One IQ point per entry of ``true_bits`` (shape ``(..., num_qubits)``, the bits
        measured *before* any readout error); complex128 of the same shape.

        Raises:
            ValueError: the last axis is not ``num_qubits`` long, or the bits are not 0/1.
        """
        bits = _check_bits(self, true_bits)
        out = np.empty(bits.shape, dtype=np.complex128)
        if out.size == 0:
            return out
        # Both quadratures of every point in one call: a complex128 array viewed as float64
        # pairs (re, im), (..., 2n).
        rng.standard_normal(out=out.view(np.float64))
        out *= self.sigma
        landed = self._landed(bits, rng)
        out += self.centers0
        # In place where landed in the |1> cloud: no full-size complex temporary.
        np.add(out, self.centers1 - self.centers0, out=out, where=landed)
        return out

    def classify(self, iq: ArrayLike) -> NDArray[np.uint8]:
        """The nearest-centroid (midpoint) discriminator: 1 where the point lies on the ``c1``
        side of the perpendicular bisector of ``c0 c1``, else 0; shape of ``iq``."""
        points = np.asarray(iq, dtype=np.complex128)
        if points.ndim < 1 or points.shape[-1] != self.num_qubits:
            raise ValueError(
                f"IQ points of shape {points.shape}: the last axis must have "
                f"{self.num_qubits} entries"
            )
        delta = self.centers1 - self.centers0
        mid = 0.5 * (self.centers0 + self.centers1)
        projection = (points.real - mid.real) * delta.real + (points.imag - mid.imag) * delta.imag
        return (projection > 0).astype(np.uint8)


def kerneled_data(
    true_bits: NDArray[np.uint8],
    model: IQModel,
    rng: np.random.Generator,
    *,
    average: bool,
) -> NDArray[np.complex128]:
    """A classical register's kerneled data from its true bits ``(*pub_shape, shots, n)``.

    ``average=False`` (``meas_type="kerneled"``): one point per shot and bit, the shape of
    ``true_bits``. ``average=True`` (``"avg_kerneled"``): the mean over the shots axis (-2),
    shape ``(*pub_shape, n)``, drawn from the exact distribution of that mean (see the module)
    without making the per-shot points.

    Raises:
        ValueError: bad bits (see :meth:`IQModel.sample`), or no shots axis / no shots to
            average.
    """
    if not average:
        return model.sample(true_bits, rng)
    bits = _check_bits(model, true_bits)
    if bits.ndim < 2:
        raise ValueError(f"true bits of shape {bits.shape} have no shots axis (-2)")
    shots = bits.shape[-2]
    if shots == 0:
        raise ValueError("cannot average kerneled data over zero shots")
    ones = np.count_nonzero(bits, axis=-2)
    zeros = shots - ones
    in_one = rng.binomial(ones, 1.0 - model.decay) + rng.binomial(zeros, model.excitation)
    fraction = in_one / shots
    out = np.empty(ones.shape, dtype=np.complex128)
    rng.standard_normal(out=out.view(np.float64))
    out *= model.sigma / np.sqrt(shots)
    out += model.centers0 + fraction * (model.centers1 - model.centers0)
    return out


def unpack_bits(packed: NDArray[np.uint8], num_bits: int) -> NDArray[np.uint8]:
    """A ``BitArray``'s packed array ``(..., shots, ceil(num_bits / 8))`` as one column per
    classical bit: ``(..., shots, num_bits)``, column ``j`` = bit ``j``.

    The packing (REST reference §6.3): bytes big-endian, the last byte holds bits 0-7 with bit 0
    its least significant bit.

    Raises:
        ValueError: not uint8, or the last axis is not ``ceil(num_bits / 8)`` bytes long.
    """
    array = np.asarray(packed)
    if array.dtype != np.uint8:
        raise ValueError(f"packed bits must be uint8, got {array.dtype}")
    if num_bits < 0:
        raise ValueError(f"num_bits must be non-negative, got {num_bits}")
    nbytes = (num_bits + 7) // 8
    if array.ndim < 1 or array.shape[-1] != nbytes:
        raise ValueError(
            f"packed bits of shape {array.shape}: {num_bits} bits need {nbytes} bytes per shot"
        )
    return np.unpackbits(array[..., ::-1], axis=-1, count=num_bits, bitorder="little")
