"""Zero-noise extrapolation maths of the emulated estimator (server.emulator.extrapolation).

Exact recovery of every model on noiseless data, the choice between extrapolators (order,
ideal range, smallest error, nothing finite), the propagated standard errors against Monte
Carlo, shapes, degenerate inputs, and agreement with IBM's own fitting code (qiskit-mitigation,
which qiskit-ibm-runtime 0.51's client-side estimator post-processes with) as an oracle.
"""

from __future__ import annotations

import typing
import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from qiskit_rest_provider.server.emulator.extrapolation import (
    EXTRAPOLATORS,
    NO_EXTRAPOLATOR,
    ZneEstimate,
    extrapolate,
)
from qiskit_rest_provider.wire.options import ZNE_EXTRAPOLATORS

X3 = np.array([1.0, 3.0, 5.0])
X8 = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0])
EVAL = [0.0, 0.5, 2.0, 7.0]


def _noiseless(
    f: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    x: npt.NDArray[np.float64],
    name: str,
) -> ZneEstimate:
    return extrapolate(x, f(x), np.full(x.size, 0.01), [name], EVAL)


def _assert_recovers(
    result: ZneEstimate,
    f: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    atol: float,
) -> None:
    assert result.chosen == 0
    np.testing.assert_allclose(result.evs, f(np.array(0.0)), atol=atol, rtol=0)
    np.testing.assert_allclose(result.evs_extrapolated[0], f(np.array(EVAL)), atol=atol, rtol=0)
    # a perfect fit leaves no residual scatter: the (residual-scaled) errors vanish
    np.testing.assert_allclose(result.stds_extrapolated[0], 0.0, atol=atol)


# Models ------------------------------------------------------------------------------------


def test_extrapolators_are_the_protocols_and_ibms() -> None:
    assert tuple(ZNE_EXTRAPOLATORS) == EXTRAPOLATORS
    zne_options = pytest.importorskip("qiskit_ibm_runtime.options.zne_options")
    assert set(EXTRAPOLATORS) == set(typing.get_args(zne_options.ExtrapolatorType))


@pytest.mark.parametrize("name", ["linear", "polynomial_degree_1"])
def test_linear_recovers_a_line(name: str) -> None:
    _assert_recovers(_noiseless(lambda x: 0.8 - 0.1 * x, X3, name), lambda x: 0.8 - 0.1 * x, 1e-12)


@pytest.mark.parametrize("degree", range(1, 8))
def test_polynomial_recovers_its_degree(degree: int) -> None:
    coefficients = np.random.default_rng(degree).normal(scale=0.1, size=degree + 1)

    def f(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(np.polynomial.polynomial.polyval(x, coefficients))

    points = np.concatenate([X8, [7.0]])  # one more point than degree 7 needs
    _assert_recovers(_noiseless(f, points, f"polynomial_degree_{degree}"), f, 1e-7)


@pytest.mark.parametrize(("a", "b"), [(0.9, -0.2), (-0.7, -0.35), (0.4, 0.05)])
def test_exponential_recovers_a_exp_bx(a: float, b: float) -> None:
    def f(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return a * np.exp(b * x)

    _assert_recovers(_noiseless(f, X3, "exponential"), f, 1e-8)


@pytest.mark.parametrize(
    ("a1", "b1", "a2", "b2"),
    [(0.6, -0.1, 0.3, -0.9), (0.5, -0.05, -0.2, -0.6), (-0.8, -0.3, 0.2, -1.5)],
)
def test_double_exponential_recovers_two_decays(a1: float, b1: float, a2: float, b2: float) -> None:
    def f(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return a1 * np.exp(b1 * x) + a2 * np.exp(b2 * x)

    _assert_recovers(_noiseless(f, X8, "double_exponential"), f, 1e-6)


def test_fallback_is_the_lowest_noise_measurement_everywhere() -> None:
    result = extrapolate([3.0, 1.0, 5.0], [0.5, 0.7, 0.2], [0.02, 0.03, 0.04], "fallback", EVAL)
    assert result.evs == 0.7 and result.stds == 0.03 and result.chosen == 0
    np.testing.assert_array_equal(result.evs_extrapolated, [[0.7] * 4])
    np.testing.assert_array_equal(result.stds_extrapolated, [[0.03] * 4])


# Choice between extrapolators ----------------------------------------------------------------


def test_a_failed_fit_falls_to_the_next_extrapolator() -> None:
    # double_exponential needs 4 noise factors: with 3 it fails (NaN) and linear is used
    result = extrapolate(X3, 0.8 - 0.1 * X3, [0.01] * 3, ["double_exponential", "linear"], EVAL)
    assert result.chosen == 1
    assert (
        np.all(np.isnan(result.evs_extrapolated[0])) and np.isnan(result.stds_extrapolated[0]).all()
    )
    assert result.evs == pytest.approx(0.8)


def test_an_extrapolation_outside_the_ideal_range_falls_to_the_next() -> None:
    # the parabola through these points is -2.25 at 0: outside [-1, 1] widened by t = 1
    y, s = [-0.5, 0.9, -0.5], [0.01] * 3
    names = ["polynomial_degree_2", "linear"]
    bounded = extrapolate(X3, y, s, names, EVAL, ideal_range=(-1, 1), absolute_sigma=True)
    assert bounded.chosen == 1
    assert bounded.evs == pytest.approx(-1 / 30)
    assert bounded.evs_extrapolated[0, 0] == pytest.approx(-2.25)
    unbounded = extrapolate(X3, y, s, names, EVAL, absolute_sigma=True)
    assert unbounded.chosen == 0 and unbounded.evs == pytest.approx(-2.25)


def test_an_error_beyond_the_range_margin_is_rejected() -> None:
    # linear from sigma = 1 at 1, 3, 5: the intercept's error is sqrt(35 / 24) = 1.21 > t = 1,
    # although 0 +- 1.21 lies inside [-2, 2]; fallback's error is 1.0, which is allowed
    names = ["linear", "fallback"]
    result = extrapolate(
        X3, [0.0] * 3, [1.0] * 3, names, EVAL, ideal_range=(-1, 1), absolute_sigma=True
    )
    assert result.stds_extrapolated[0, 0] == pytest.approx(np.sqrt(35 / 24))
    assert result.chosen == 1
    wide = extrapolate(
        X3, [0.0] * 3, [1.0] * 3, names, EVAL, ideal_range=(-2, 2), absolute_sigma=True
    )
    assert wide.chosen == 0


def test_the_first_acceptable_extrapolator_wins_whatever_its_error() -> None:
    y = 0.9 * np.exp(-0.2 * X3) + np.array([0.004, -0.003, 0.002])
    names = ["exponential", "linear", "fallback"]
    result = extrapolate(X3, y, [0.01] * 3, names, EVAL, ideal_range=(-1, 1), absolute_sigma=True)
    assert result.chosen == 0  # fallback has a smaller error but comes last
    assert result.stds_extrapolated[0, 0] > result.stds_extrapolated[2, 0]


def test_when_none_is_acceptable_the_smallest_error_wins() -> None:
    # range [-0.01, 0.01]: every extrapolation of values near 0.6 is rejected
    y, s = 0.8 - 0.1 * X3 + np.array([0.01, -0.02, 0.01]), [0.01] * 3
    forward = ["polynomial_degree_2", "linear"]
    for names in (forward, forward[::-1]):
        result = extrapolate(X3, y, s, names, EVAL, ideal_range=(-0.01, 0.01), absolute_sigma=True)
        errors = result.stds_extrapolated[:, 0]
        assert result.chosen == int(np.argmin(errors))
        assert names[int(result.chosen)] == "linear"


def test_dof_zero_errors_are_infinite_and_ibms_tie_rule_applies() -> None:
    # two noise factors: exponential and linear fit exactly, so the residual-scaled errors are
    # not estimable (inf); both are rejected and the tie on the error goes to the first
    result = extrapolate([1.0, 3.0], [0.7, 0.4], [0.01, 0.01], ["exponential", "linear"], EVAL)
    assert result.chosen == 0 and np.isinf(result.stds)
    assert result.evs == pytest.approx(0.7 * (0.7 / 0.4) ** 0.5)
    # with the errors taken as absolute the same fits have finite errors and are accepted
    absolute = extrapolate(
        [1.0, 3.0], [0.7, 0.4], [0.01, 0.01], ["linear"], EVAL, absolute_sigma=True
    )
    assert absolute.chosen == 0 and absolute.stds == pytest.approx(0.01 * np.sqrt(10) / 2)


def test_the_choice_is_per_element_with_per_element_ranges() -> None:
    y = np.array([[-0.5, 0.9, -0.5], [-0.5, 0.9, -0.5]])
    result = extrapolate(
        X3,
        y,
        np.full_like(y, 0.01),
        ["polynomial_degree_2", "linear"],
        EVAL,
        ideal_range=(np.array([-1.0, -10.0]), np.array([1.0, 10.0])),
        absolute_sigma=True,
    )
    np.testing.assert_array_equal(result.chosen, [1, 0])
    np.testing.assert_array_equal(
        result.chosen_names(["polynomial_degree_2", "linear"]), ["linear", "polynomial_degree_2"]
    )


# Standard errors ----------------------------------------------------------------------------

# Monte Carlo: N seeded noisy repetitions of one noiseless curve, all fitted in one call (one
# element each). The sample standard deviation of N Gaussian-ish estimates has a relative
# standard error of about 1 / sqrt(2 (N - 1)); the bounds below are at least 4.5 of those
# (two-sided false-failure probability below 1e-5 per comparison).


@pytest.mark.parametrize(
    ("name", "f"),
    [
        ("linear", lambda x: 0.8 - 0.1 * x),
        ("polynomial_degree_2", lambda x: 0.8 - 0.1 * x + 0.01 * x**2),
    ],
)
def test_polynomial_errors_match_monte_carlo(
    name: str, f: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]
) -> None:
    n = 8000  # relative standard error of a sample sd: 0.8 %; bound 4 %
    rng = np.random.default_rng(11)
    sigma = np.array([0.01, 0.015, 0.02])
    x = np.array([1.0, 3.0, 5.0, 7.0]) if name == "linear" else X3
    sigma = np.resize(sigma, x.size)
    y = f(x) + rng.normal(size=(n, x.size)) * sigma
    result = extrapolate(x, y, np.broadcast_to(sigma, y.shape), [name], EVAL, absolute_sigma=True)
    values = result.evs_extrapolated[:, 0, :]
    empirical = values.std(axis=0, ddof=1)
    reported = result.stds_extrapolated[:, 0, :]
    np.testing.assert_allclose(
        reported, np.broadcast_to(reported[0], reported.shape), rtol=1e-9
    )  # exact, the same for all
    np.testing.assert_allclose(empirical, reported[0], rtol=0.04)
    # unbiased: the mean is within 4.5 standard errors of the mean of the truth
    np.testing.assert_array_less(
        np.abs(values.mean(axis=0) - f(np.array(EVAL))), 4.5 * empirical / np.sqrt(n)
    )
    if name == "linear":  # two degrees of freedom: the residual-scaled variance is unbiased
        scaled = extrapolate(x, y, np.broadcast_to(sigma, y.shape), [name], EVAL)
        mean_variance = np.mean(scaled.stds_extrapolated[:, 0, :] ** 2, axis=0)
        # chi2_2 / 2 has relative sd 1, so the mean of n has 1 / sqrt(n) = 1.1 %; bound 5 %
        np.testing.assert_allclose(mean_variance, reported[0] ** 2, rtol=0.05)


def test_exponential_errors_match_monte_carlo() -> None:
    n = 1000  # sample sd relative error 2.2 %; first-order propagation adds < 1 % here; bound 12 %
    rng = np.random.default_rng(12)
    sigma = np.array([0.005, 0.0075, 0.01])

    def f(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 0.9 * np.exp(-0.2 * x)

    y = f(X3) + rng.normal(size=(n, 3)) * sigma
    result = extrapolate(
        X3, y, np.broadcast_to(sigma, y.shape), ["exponential"], EVAL, absolute_sigma=True
    )
    empirical = result.evs_extrapolated[:, 0, :].std(axis=0, ddof=1)
    reported = np.sqrt(np.mean(result.stds_extrapolated[:, 0, :] ** 2, axis=0))
    np.testing.assert_allclose(empirical, reported, rtol=0.12)


# Shapes and degenerate input ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_shapes_follow_the_pub_shape(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    y = 0.7 * np.exp(-0.15 * X3) + rng.normal(scale=0.01, size=(*shape, 3))
    s = np.full_like(y, 0.01)
    names = ["exponential", "linear", "polynomial_degree_2"]
    result = extrapolate(X3, y, s, names, EVAL)
    assert result.evs.shape == result.stds.shape == result.chosen.shape == shape
    assert result.evs_extrapolated.shape == result.stds_extrapolated.shape == (*shape, 3, 4)
    assert result.evs.dtype == np.float64 and result.chosen.dtype == np.intp
    for index in np.ndindex(shape):  # batched == one element at a time
        alone = extrapolate(X3, y[index], s[index], names, EVAL)
        np.testing.assert_allclose(
            result.evs_extrapolated[index], alone.evs_extrapolated, rtol=1e-12
        )
        np.testing.assert_allclose(
            result.stds_extrapolated[index], alone.stds_extrapolated, rtol=1e-9
        )
        assert result.chosen[index] == alone.chosen and result.evs[index] == alone.evs
    assert extrapolate(X3, y, s, names, []).evs_extrapolated.shape == (*shape, 3, 0)


def test_all_zero_stds_fit_unweighted() -> None:
    y = np.array([0.71, 0.52, 0.30])
    result = extrapolate(X3, y, [0.0, 0.0, 0.0], ["linear"], EVAL)
    slope, intercept = np.polyfit(X3, y, 1)
    assert result.chosen == 0 and result.evs == pytest.approx(intercept)
    residual = y - (intercept + slope * X3)
    design = np.stack([np.ones(3), X3], axis=1)
    variance = residual @ residual / 1 * np.linalg.inv(design.T @ design)[0, 0]
    assert result.stds == pytest.approx(np.sqrt(variance))


def test_degenerate_stds_are_clamped_not_fatal() -> None:
    y = 0.8 - 0.1 * X3
    for stds in ([0.0, 0.01, 0.02], [np.nan, 0.01, np.inf], [-1.0, 0.01, 0.01]):
        result = extrapolate(X3, y, stds, ["exponential", "linear"], EVAL)
        assert np.isfinite(result.evs)


def test_a_single_noise_factor_never_raises() -> None:
    only_linear = extrapolate([1.0], [0.6], [0.02], ["linear"], EVAL)
    assert only_linear.chosen == NO_EXTRAPOLATOR
    assert (only_linear.evs, only_linear.stds) == (0.6, 0.02)
    assert np.isnan(only_linear.evs_extrapolated).all()
    assert list(only_linear.chosen_names(["linear"]).ravel()) == ["fallback"]
    with_fallback = extrapolate([1.0], [0.6], [0.02], ["exponential", "linear", "fallback"], EVAL)
    assert with_fallback.chosen == 2 and with_fallback.evs == 0.6


def test_nan_values_never_raise() -> None:
    names = ["exponential", "linear"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and nothing leaks a warning either
        middle = extrapolate(X3, [0.7, np.nan, 0.3], [0.01] * 3, names, EVAL)
        lowest = extrapolate(X3, [np.nan, 0.5, 0.3], [0.01] * 3, names, EVAL)
        everything = extrapolate(X3, [np.nan] * 3, [np.nan] * 3, names, EVAL)
    # a NaN point fails every fit: the lowest noise factor's measurement stands in
    assert middle.chosen == NO_EXTRAPOLATOR and middle.evs == 0.7
    assert np.isnan(middle.evs_extrapolated).all()
    assert lowest.chosen == NO_EXTRAPOLATOR and np.isnan(lowest.evs)
    assert everything.chosen == NO_EXTRAPOLATOR and np.isnan(everything.evs)


def test_repeated_noise_factors_fail_the_fit_not_the_call() -> None:
    result = extrapolate(
        [1.0, 1.0, 1.0], [0.5, 0.6, 0.55], [0.01] * 3, ["linear", "exponential"], EVAL
    )
    assert result.chosen == NO_EXTRAPOLATOR and result.evs == 0.5


def test_overflowing_exponentials_fail_quietly() -> None:
    y = np.array([1e-300, 1.0, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = extrapolate(X3, y, [1e-3, 1e-3, 1e-3], ["exponential", "double_exponential"], EVAL)
    assert result.evs.shape == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"extrapolators": ["cubic"]}, "unknown extrapolator"),
        ({"extrapolators": []}, "at least one"),
        ({"evs": np.zeros((2, 4))}, "one value per noise factor"),
        ({"stds": np.zeros(3)}, "one value per noise factor"),
        ({"noise_factors": [1.0, np.nan, 3.0]}, "finite"),
        ({"eval_points": [[0.0]]}, "1-D"),
    ],
)
def test_malformed_arguments_raise(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, typing.Any] = {
        "noise_factors": [1.0, 3.0, 5.0],
        "evs": np.zeros((2, 3)),
        "stds": np.zeros((2, 3)),
        "extrapolators": ["linear"],
        "eval_points": [0.0],
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        extrapolate(**arguments)


# IBM's implementation as the oracle -----------------------------------------------------------

# observable term (IBM's input) -> our ideal range: Pauli [-1, 1], projector [0, 1], other none
_TERMS = {"Z": (-1.0, 1.0), "0": (0.0, 1.0), "": None}


@pytest.mark.official
@pytest.mark.parametrize("term", sorted(_TERMS))
def test_agrees_with_ibms_extrapolation(term: str) -> None:
    module = pytest.importorskip("qiskit_mitigation.zne.extrapolation")
    ibm = getattr(module, "_process_extrapolated_expectation_values", None)
    if ibm is None:
        pytest.skip("qiskit-mitigation no longer has _process_extrapolated_expectation_values")
    # double_exponential is left out: on noisy 5-point data its fit is ill-conditioned and ends
    # wherever the optimiser's tolerance stops it (ours starts where IBM's does)
    names = ["exponential", "linear", "polynomial_degree_2", "polynomial_degree_3", "fallback"]
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    rng = np.random.default_rng(5)
    choices = set()
    for _ in range(60):
        amplitude, rate = rng.uniform(-2.5, 2.5), rng.uniform(0.05, 1.0)  # some out of range
        sigma = rng.uniform(0.001, 0.2, size=x.size)
        y = amplitude * np.exp(-rate * x) + rng.normal(size=x.size) * sigma
        ours = extrapolate(x, y, sigma, names, EVAL, ideal_range=_TERMS[term])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value, error, chosen, values, errors = ibm(y, sigma, term, list(x), names, EVAL)
        assert names[int(ours.chosen)] == chosen
        choices.add(chosen)
        assert ours.evs == pytest.approx(value, rel=1e-5, abs=1e-7)
        assert ours.stds == pytest.approx(error, rel=1e-3, abs=1e-7)
        finite = np.isfinite(values) & (np.abs(values) < 10)  # far-out divergent fits may differ
        np.testing.assert_allclose(
            ours.evs_extrapolated[finite], values[finite], rtol=1e-5, atol=1e-7
        )
        np.testing.assert_allclose(
            ours.stds_extrapolated[finite], errors[finite], rtol=1e-3, atol=1e-7
        )
        np.testing.assert_array_equal(
            np.isnan(ours.evs_extrapolated[:, 1:]), np.isnan(values[:, 1:])
        )
    if term:  # a bounded range makes the choice move away from the first extrapolator
        assert len(choices) > 1


def test_a_degenerate_double_exponential_fit_is_not_taken_as_exact() -> None:
    """Two equal rates make the double exponential's covariance indefinite: its error is
    unknown (inf), so the fit is rejected rather than reported with an error of 0."""
    noise_factors = [1, 2, 3, 4, 5]
    evs = np.array([-0.9149, -0.855, -0.7784, -0.7175, -0.6652])
    stds = np.array([0.0048, 0.0058, 0.0068, 0.0074, 0.0079])
    alone = extrapolate(noise_factors, evs, stds, ["double_exponential"], [0, 1, 2, 3, 4, 5])
    assert not np.all(np.asarray(alone.stds_extrapolated) == 0.0)
    assert float(alone.stds) != 0.0
    fallback = extrapolate(
        noise_factors, evs, stds, ["double_exponential", "linear"], [0, 1, 2, 3, 4, 5]
    )
    assert fallback.chosen_names(["double_exponential", "linear"]).item() == "linear"
