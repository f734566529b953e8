"""The kerneled-measurement (IQ) model of the emulator: assignment errors reproduced by the
midpoint discriminator, averaged data, shapes, determinism, bit unpacking, and kerneled results
through our codec and qiskit-ibm-runtime's RuntimeDecoder (the oracle).

Statistical assertions are at 4 binomial / normal standard deviations per compared number
(two-sided false-alarm rate 6.3e-5 each) unless a test says otherwise; every test is seeded, so
a pass or a failure is reproducible.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from numpy.typing import NDArray
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qiskit_ibm_runtime import RuntimeDecoder  # the oracle (tests only)

from qiskit_rest_provider.core.codec.results import decode_result, encode_result
from qiskit_rest_provider.server.emulator.iq import (
    MAX_OVERLAP,
    MIN_OVERLAP,
    IQModel,
    kerneled_data,
    unpack_bits,
)

#: (p01 = prob_meas0_prep1, p10 = prob_meas1_prep0): zero, tiny, typical asymmetric both ways,
#: large symmetric, large asymmetric both ways, past the overlap cap, inverted and certain.
PAIRS = [
    (0.0, 0.0),
    (1e-5, 1e-4),
    (2e-2, 5e-3),
    (5e-3, 2e-2),
    (0.3, 0.3),
    (0.3, 0.05),
    (0.05, 0.3),
    (0.45, 0.42),
    (0.6, 0.1),
    (1.0, 0.0),
]
SIGMAS = 4.0


def _model(pairs: list[tuple[float, float]] = PAIRS, seed_key: int = 11) -> IQModel:
    p01 = np.array([p for p, _ in pairs])
    p10 = np.array([p for _, p in pairs])
    return IQModel.from_assignment_errors(p01, p10, seed_key=seed_key)


def _misread_rates(
    model: IQModel, prepared: int, shots: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """How many of ``shots`` points of qubits measured in ``prepared`` the discriminator misreads,
    per qubit."""
    bits = np.full((shots, model.num_qubits), prepared, dtype=np.uint8)
    read = model.classify(model.sample(bits, rng))
    return np.asarray(np.count_nonzero(read != prepared, axis=0), dtype=np.int64)


def _within_binomial(count: NDArray[np.int64], p: NDArray[np.float64], shots: int) -> bool:
    """``count ~ Binomial(shots, p)`` within SIGMAS standard deviations (plus one count of
    discreteness, so that p = 0 allows none and p = 1e-5 a handful)."""
    tolerance = SIGMAS * np.sqrt(shots * p * (1 - p)) + 1
    return bool((np.abs(count - shots * p) <= tolerance).all())


def test_assignment_errors_reproduced_by_the_midpoint_discriminator() -> None:
    shots = 200_000
    model = _model()
    rng = np.random.default_rng(2024)
    p01 = np.array([p for p, _ in PAIRS])
    p10 = np.array([p for _, p in PAIRS])
    misread0 = _misread_rates(model, 0, shots, rng)
    misread1 = _misread_rates(model, 1, shots, rng)
    assert _within_binomial(misread0, p10, shots), (misread0 / shots, p10)
    assert _within_binomial(misread1, p01, shots), (misread1 / shots, p01)
    # p = 0 means none at all (the overlap floor is 1e-12).
    assert misread0[0] == 0 and misread1[0] == 0 and misread0[-1] == 0


def test_the_check_rejects_a_model_without_its_decay_and_excitation() -> None:
    """The same check fails when the flips that make up the larger error are left out: the
    assignment test above can fail."""
    shots = 200_000
    model = _model()
    flat = dataclasses.replace(
        model, decay=np.zeros(model.num_qubits), excitation=np.zeros(model.num_qubits)
    )
    rng = np.random.default_rng(2024)
    p01 = np.array([p for p, _ in PAIRS])
    misread1 = _misread_rates(flat, 1, shots, rng)
    assert not _within_binomial(misread1, p01, shots)


def test_parameters_follow_the_documented_formulas() -> None:
    model = _model()
    p01 = np.array([p for p, _ in PAIRS])
    p10 = np.array([p for _, p in PAIRS])
    eps = np.clip(np.minimum(p01, p10), MIN_OVERLAP, MAX_OVERLAP)
    np.testing.assert_allclose(model.overlap, eps, rtol=1e-9)
    # Exact expectation: eps + flip * (1 - 2 eps) is the calibrated error (the flip is clipped
    # to [0, 1], which costs at most the 1e-12 overlap floor).
    np.testing.assert_allclose(eps + model.decay * (1 - 2 * eps), p01, atol=2e-12)
    np.testing.assert_allclose(eps + model.excitation * (1 - 2 * eps), p10, atol=2e-12)
    # Below the cap, the smaller error is all overlap and only the larger one has flips.
    capped = np.minimum(p01, p10) > MAX_OVERLAP
    assert ((model.decay == 0) | (model.excitation == 0) | capped).all()
    assert capped.sum() == 1 and (model.decay[capped] > 0).all()
    assert (model.sigma > 0).all()
    assert model.centers0.dtype == np.complex128 and model.sigma.dtype == np.float64


def test_planes_are_rotated_offset_and_of_order_one() -> None:
    model = IQModel.from_assignment_errors(np.full(20, 0.02), np.full(20, 0.01), seed_key=3)
    axis_angles = np.angle(model.centers1 - model.centers0)
    midpoints = 0.5 * (model.centers0 + model.centers1)
    # Not aligned with the axes, and not all alike.
    assert np.ptp(np.mod(axis_angles, np.pi / 2)) > 0.5
    assert np.ptp(np.angle(midpoints)) > 1.0
    magnitude = np.abs(np.concatenate([model.centers0, model.centers1]))
    assert magnitude.max() < 3.0 and np.median(magnitude) > 0.3
    separation = np.abs(model.centers1 - model.centers0)
    assert ((separation >= 0.8) & (separation < 1.2)).all()


def test_planes_are_deterministic_per_key_and_physical_qubit() -> None:
    one = IQModel.from_assignment_errors([0.02, 0.03, 0.01], [0.01, 0.01, 0.02], seed_key=5)
    again = IQModel.from_assignment_errors([0.02, 0.03, 0.01], [0.01, 0.01, 0.02], seed_key=5)
    other = IQModel.from_assignment_errors([0.02, 0.03, 0.01], [0.01, 0.01, 0.02], seed_key=6)
    np.testing.assert_array_equal(one.centers0, again.centers0)
    np.testing.assert_array_equal(one.centers1, again.centers1)
    assert not np.isclose(one.centers0, other.centers0).any()
    # Qubit 2 alone, named by its physical index, keeps its plane.
    alone = IQModel.from_assignment_errors([0.01], [0.02], seed_key=5, qubits=[2])
    np.testing.assert_array_equal(alone.centers0, one.centers0[2:])
    assert IQModel.from_assignment_errors(0.01, 0.02).num_qubits == 1  # scalars: one qubit
    default = IQModel.from_assignment_errors([0.01], [0.02])
    np.testing.assert_array_equal(
        default.centers0, IQModel.from_assignment_errors([0.01], [0.02], seed_key=0).centers0
    )


@pytest.mark.parametrize("pub_shape", [(), (2, 3)])
def test_shapes_and_dtypes(pub_shape: tuple[int, ...]) -> None:
    model = _model(PAIRS[:4])
    shots = 7
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (*pub_shape, shots, 4), dtype=np.uint8)
    single = kerneled_data(bits, model, rng, average=False)
    avg = kerneled_data(bits, model, rng, average=True)
    assert single.shape == (*pub_shape, shots, 4) and single.dtype == np.complex128
    assert avg.shape == (*pub_shape, 4) and avg.dtype == np.complex128
    assert model.classify(single).shape == single.shape
    assert model.classify(single).dtype == np.uint8
    assert kerneled_data(bits.astype(bool), model, rng, average=False).shape == single.shape


def test_same_seed_same_data_other_seed_other_data() -> None:
    model = _model(PAIRS[:5])
    bits = np.random.default_rng(1).integers(0, 2, (3, 50, 5), dtype=np.uint8)
    for average in (False, True):
        a = kerneled_data(bits, model, np.random.default_rng(9), average=average)
        b = kerneled_data(bits, model, np.random.default_rng(9), average=average)
        c = kerneled_data(bits, model, np.random.default_rng(10), average=average)
        np.testing.assert_array_equal(a, b)
        assert not np.isclose(a, c).any()


def _mean_and_variance(
    model: IQModel, bits: NDArray[np.uint8]
) -> tuple[NDArray[np.complex128], NDArray[np.float64], NDArray[np.float64]]:
    """The exact mean of avg_kerneled data and the variances of its component along the axis
    ``c1 - c0`` and of the one across it."""
    shots = bits.shape[-2]
    ones = np.count_nonzero(bits, axis=-2)
    zeros = shots - ones
    delta = model.centers1 - model.centers0
    mean = model.expected_iq(bits).mean(axis=-2)
    landing = (ones * model.decay * (1 - model.decay)) + zeros * model.excitation * (
        1 - model.excitation
    )
    along = model.sigma**2 / shots + np.abs(delta) ** 2 * landing / shots**2
    across = np.broadcast_to(model.sigma**2 / shots, along.shape)
    return mean, along, across


def _normalised_errors(
    model: IQModel, observed: NDArray[np.complex128], bits: NDArray[np.uint8]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    mean, along, across = _mean_and_variance(model, bits)
    unit = (model.centers1 - model.centers0) / np.abs(model.centers1 - model.centers0)
    rotated = (observed - mean) * np.conj(unit)
    return rotated.real / np.sqrt(along), rotated.imag / np.sqrt(across)


def test_avg_kerneled_is_the_mixture_of_the_centres() -> None:
    model = _model()
    rng = np.random.default_rng(77)
    shots = 4000
    # A different mixture of ones per element, between a quarter and three quarters.
    fraction = 0.25 + 0.5 * rng.random((2, 3, 1, model.num_qubits))
    bits = (rng.random((2, 3, shots, model.num_qubits)) < fraction).astype(np.uint8)
    avg = kerneled_data(bits, model, rng, average=True)
    along, across = _normalised_errors(model, avg, bits)
    # Each standardised component is N(0, 1): within 4 sigma.
    assert np.abs(along).max() < SIGMAS and np.abs(across).max() < SIGMAS
    # The check can fail: against the bare centres (decay and excitation ignored) the qubits
    # with one kind of flip (indices 5, 6 and 8) are far outside 4 sigma.
    _, variance, _ = _mean_and_variance(model, bits)
    bare = np.where(bits, model.centers1, model.centers0).mean(axis=-2)
    off = np.abs(avg - bare) / np.sqrt(variance)
    assert (off[..., [5, 6, 8]] > 2 * SIGMAS).all()


def test_avg_kerneled_has_the_distribution_of_the_mean_of_kerneled() -> None:
    """The averaged data (drawn without per-shot points) and the mean of per-shot data agree
    in mean and variance over many pubs."""
    model = _model(PAIRS[1:8])
    rng = np.random.default_rng(5)
    pubs, shots = 4000, 40
    bits = (rng.random((pubs, shots, model.num_qubits)) < 0.5).astype(np.uint8)
    for observed in (
        kerneled_data(bits, model, rng, average=True),
        kerneled_data(bits, model, rng, average=False).mean(axis=-2),
    ):
        along, across = _normalised_errors(model, observed, bits)
        for z in (along, across):
            # The mean of `pubs` standard normals: 4 sigma is 4 / sqrt(pubs).
            assert np.abs(z.mean(axis=0)).max() < SIGMAS / math.sqrt(pubs)
            # Their sample variance: standard error sqrt(2 / (pubs - 1)).
            assert np.abs(z.var(axis=0, ddof=1) - 1).max() < SIGMAS * math.sqrt(2 / (pubs - 1))


@pytest.mark.parametrize("num_bits", [0, 1, 7, 8, 9, 16, 20])
def test_unpack_bits_round_trips_with_bitarray(num_bits: int) -> None:
    rng = np.random.default_rng(num_bits)
    bools = rng.random((2, 3, 25, num_bits)) < 0.5
    bit_array = BitArray.from_bool_array(bools, order="little")  # column j = bit j
    unpacked = unpack_bits(bit_array.array, num_bits)
    assert unpacked.dtype == np.uint8 and unpacked.shape == bools.shape
    np.testing.assert_array_equal(unpacked, bools.astype(np.uint8))
    if num_bits == 0:
        return  # BitArray.get_bitstrings cannot reshape zero-width data
    # Against the bitstrings (bit 0 rightmost).
    strings = bit_array[1, 2].get_bitstrings()
    expected = [[int(s[num_bits - 1 - j]) for j in range(num_bits)] for s in strings]
    np.testing.assert_array_equal(
        unpacked[1, 2], np.array(expected, dtype=np.uint8).reshape(25, -1)
    )


def test_unpack_bits_documented_example_and_errors() -> None:
    # REST reference §6.3: "1100000011" -> [3, 3].
    np.testing.assert_array_equal(
        unpack_bits(np.array([[3, 3]], dtype=np.uint8), 10)[0],
        [1, 1, 0, 0, 0, 0, 0, 0, 1, 1],
    )
    with pytest.raises(ValueError, match="bytes"):
        unpack_bits(np.zeros((4, 1), dtype=np.uint8), 9)
    with pytest.raises(ValueError, match="uint8"):
        unpack_bits(np.zeros((4, 1), dtype=np.int64), 3)


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        IQModel.from_assignment_errors([0.1, 1.2], [0.0, 0.0])
    with pytest.raises(ValueError, match="probabilities"):
        IQModel.from_assignment_errors([np.nan], [0.0])
    with pytest.raises(ValueError, match="one entry per qubit"):
        IQModel.from_assignment_errors([0.1, 0.1], [0.0, 0.0, 0.0])
    model = _model(PAIRS[:2])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="last axis"):
        model.sample(np.zeros((5, 3), dtype=np.uint8), rng)
    with pytest.raises(ValueError, match="0 or 1"):
        model.sample(np.full((5, 2), 2, dtype=np.uint8), rng)
    with pytest.raises(ValueError, match="zero shots"):
        kerneled_data(np.zeros((0, 2), dtype=np.uint8), model, rng, average=True)
    with pytest.raises(ValueError, match="distinct"):
        IQModel(np.array([1j]), np.array([1j]), np.array([0.1]), np.array([0.0]))


# Kerneled results on the wire ----------------------------------------------------------------


def _decoders(text: str) -> list[PrimitiveResult[SamplerPubResult]]:
    return [decode_result(text), json.loads(text, cls=RuntimeDecoder)]


@pytest.mark.official
@pytest.mark.parametrize("pub_shape", [(), (2,)])
@pytest.mark.parametrize("shots", [3, 300])  # small (inline) and large (extracted) payloads
def test_kerneled_result_decodes_with_ours_and_the_official_decoder(
    pub_shape: tuple[int, ...], shots: int
) -> None:
    model = _model(PAIRS[:5])
    rng = np.random.default_rng(shots)
    bits = rng.integers(0, 2, (*pub_shape, shots, 5), dtype=np.uint8)
    single = kerneled_data(bits, model, rng, average=False)
    avg = kerneled_data(bits, model, rng, average=True)
    result = PrimitiveResult(
        [
            SamplerPubResult(DataBin(meas=single, shape=pub_shape), metadata={"shots": shots}),
            SamplerPubResult(DataBin(meas=avg, shape=pub_shape), metadata={"shots": shots}),
        ],
        metadata={"version": 2},
    )
    text = encode_result(result)
    for decoded in _decoders(text):
        assert len(decoded) == 2
        for pub, expected in zip(decoded, (single, avg), strict=True):
            assert pub.data.shape == pub_shape
            array = pub.data.meas
            assert isinstance(array, np.ndarray) and array.dtype == np.complex128
            assert array.shape == expected.shape
            np.testing.assert_array_equal(array, expected)
