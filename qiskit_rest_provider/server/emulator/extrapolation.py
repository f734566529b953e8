"""Zero-noise extrapolation (ZNE): fit expectation value against noise factor, evaluate the fits.

The estimator at resilience level 2 measures every pub element at the noise factors
``x_1 .. x_n`` (``resilience.zne.noise_factors``), giving values ``y_i`` with standard errors
``sigma_i``. :func:`extrapolate` fits each requested model ``f(x; p)`` to those points, evaluates
every fit at the ``extrapolated_noise_factors`` and picks, per element, the zero-noise value of
the first model whose extrapolation is acceptable.

**Models** (``x`` is the noise factor). The names and definitions are IBM's: the
``ZneOptions.extrapolator`` documentation of qiskit-ibm-runtime and the qiskit-mitigation
package that its client-side estimator hands its post-processing to
(``qiskit_mitigation.zne.extrapolation``, 0.1.1):

* ``polynomial_degree_k`` (``1 <= k <= 7``): ``f(x) = c_0 + c_1 x + ... + c_k x^k``;
  ``linear`` is ``polynomial_degree_1``. Needs ``k + 1`` noise factors.
* ``exponential``: ``f(x) = a exp(b x)``: no offset, so ``f(0) = a``. The rate is not
  constrained in the fit (IBM's documentation writes ``A exp(-x / tau)`` with ``tau > 0``; its
  fit does not enforce the sign, and neither do we). Needs 2 noise factors.
* ``double_exponential``: ``f(x) = a_1 exp(b_1 x) + a_2 exp(b_2 x)`` with ``b_1, b_2 <= 0``
  (decay only), the two-term case of Cai's multi-exponential extrapolation [1]. Needs 4.
* ``fallback``: no fit: the measured value (and its standard error) at the lowest noise factor,
  at every evaluation point.

**Fit.** Weighted least squares: minimise ``chi^2 = sum_i ((y_i - f(x_i; p)) / sigma_i)^2``.
Standard errors that are 0 or negative are raised to the element's smallest positive finite
one, NaN or infinite ones lowered to its largest; an element with no positive finite standard
error is fitted unweighted (``sigma_i = 1``). Polynomials are solved in closed form (an SVD of
the weighted Vandermonde matrix, with ``x`` scaled by ``max |x|`` for conditioning); the
exponentials with :func:`scipy.optimize.curve_fit` (Levenberg-Marquardt; trust-region
reflective for the bounded double exponential; finite-difference Jacobians, as IBM's), started
from a weighted straight-line fit of ``log |y|`` (the weight of ``log |y_i|`` is
``|y_i| / sigma_i``, first order) with the sign of the point at the lowest noise factor. The
double exponential starts as IBM's does, from halves of that amplitude with the decay rates
``-|b|`` and ``-2|b|``; only if that fit fails are two other splits tried (IBM's would be NaN).

**Covariance of the parameters.** ``C = (J^T W J)^-1`` at the optimum (``J`` the Jacobian of
``f`` in the parameters over the noise factors, ``W = diag(sigma^-2)``), then, by default,
multiplied by the reduced chi-square ``chi^2 / (n - p)``: scipy's ``absolute_sigma=False``, which
is what IBM's fits use, so the reported errors follow the scatter of the points about the fit
(zero for a perfect fit). With no degree of freedom left (``n = p``) that covariance cannot be
estimated and the standard errors are ``inf`` (IBM's are ``inf`` or NaN). ``absolute_sigma=True``
takes the ``sigma_i`` as the true errors instead (``C`` unscaled; an unweighted element is still
scaled).

**Standard errors of the extrapolated values** by linear error propagation (the delta method):
``var f(x*) = g^T C g`` with ``g = d f(x*; p) / d p`` (analytic) at the fitted ``p``. For
polynomials, which are linear in their parameters, this is exact for Gaussian errors; for the
exponentials it is first order in the errors. See e.g. the confidence-band section of the
kmpfit tutorial [2].

**Failure.** A fit with too few noise factors, a rank-deficient design (repeated noise factors),
a non-finite input value among the element's points, or a fit that scipy cannot complete gives
NaN values and standard errors for that model and element: nothing raises on bad data. Only
malformed arguments (shapes that disagree, an unknown extrapolator name, no extrapolator,
non-finite noise factors) raise :class:`ValueError`.

**Choice per element** (IBM's rule). Each model's value ``v`` and standard error ``s`` at noise
factor 0 are accepted when both are finite and, with the element's ideal range ``[lo, hi]`` and
``t = max(|lo|, |hi|)``: ``s <= t``, ``v - s >= lo - t`` and ``v + s <= hi + t``. IBM uses
``[-1, 1]`` for a Pauli term, ``[0, 1]`` for a projector term and no range for anything else;
:func:`extrapolate` takes the range per element (``ideal_range``, default unbounded: then only
finiteness counts). For an observable ``sum_j c_j P_j`` evaluated as one element, pass
``(-sum_j |c_j|, sum_j |c_j|)``. The first accepted model in the caller's order is chosen. If
none is accepted, the model with the smallest standard error among those with a finite value is
chosen (a NaN or infinite error counts as the largest; ties go to the earlier model), as IBM
does. If no model has a finite value, ``chosen`` is :data:`NO_EXTRAPOLATOR` and ``evs``/``stds``
are the measured value and error at the lowest noise factor (what ``fallback`` returns); IBM
would report that value as ``inf`` there.

IBM fits each Pauli term of an observable separately and sums the terms' choices (a
"heterogeneous" fit); a caller that wants that passes the terms as elements and combines them.

**Vectorization.** Polynomial fits run batched over all elements (one stacked SVD). The
exponential fits loop over elements in Python, one ``curve_fit`` each (about a millisecond):
pub shapes are small, and the fits are nonlinear and per element.

References:
    [1] Z. Cai, "Multi-exponential error extrapolation and combining error mitigation
        techniques for NISQ applications", npj Quantum Inf. 7, 80 (2021).
    [2] https://www.astro.rug.nl/software/kapteyn/kmpfittutorial.html
        (confidence and prediction intervals).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import curve_fit

from ...wire.options import ZNE_EXTRAPOLATORS

__all__ = ["EXTRAPOLATORS", "NO_EXTRAPOLATOR", "ZneEstimate", "extrapolate"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: The accepted ``resilience.zne.extrapolator`` names (the protocol's list).
EXTRAPOLATORS: Final[tuple[str, ...]] = tuple(ZNE_EXTRAPOLATORS)
#: :attr:`ZneEstimate.chosen` of an element for which no extrapolator gave a finite value (its
#: ``evs``/``stds`` are then the measurement at the lowest noise factor).
NO_EXTRAPOLATOR: Final = -1

_ModelFunc = Callable[..., FloatArray]


@dataclass(frozen=True)
class ZneEstimate:
    """The outcome of :func:`extrapolate` for elements of shape ``S`` (the pub shape).

    ``evs`` and ``stds`` (shape ``S``): the zero-noise value and standard error of the chosen
    extrapolator per element. ``evs_extrapolated`` and ``stds_extrapolated`` (shape
    ``S + (n_extrapolators, n_eval_points)``): every extrapolator evaluated at every evaluation
    point, failed fits included (NaN). ``chosen`` (shape ``S``): the index, into the
    extrapolators passed, of the one used per element, or :data:`NO_EXTRAPOLATOR`.
    """

    evs: FloatArray
    stds: FloatArray
    evs_extrapolated: FloatArray
    stds_extrapolated: FloatArray
    chosen: IntArray

    def chosen_names(self, extrapolators: Sequence[str]) -> npt.NDArray[np.str_]:
        """The name of the extrapolator used per element (shape ``S``), given the names passed
        to :func:`extrapolate`; ``"fallback"`` where :data:`NO_EXTRAPOLATOR` (the value is the
        lowest noise factor's measurement, which is what ``fallback`` returns)."""
        names = np.array([*_names(extrapolators), "fallback"], dtype=np.str_)
        return names[self.chosen]


def extrapolate(
    noise_factors: Sequence[float],
    evs: npt.ArrayLike,
    stds: npt.ArrayLike,
    extrapolators: str | Sequence[str],
    eval_points: Sequence[float],
    *,
    ideal_range: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    absolute_sigma: bool = False,
) -> ZneEstimate:
    """Fit each extrapolator to ``evs`` (shape ``S + (n,)``, one value per noise factor) with
    standard errors ``stds`` (same shape), evaluate the fits at ``eval_points`` and choose the
    zero-noise estimate per element (see the module documentation for the models and rules).

    Args:
        noise_factors: The ``n`` noise factors the values were measured at.
        evs: Expectation values, last axis over ``noise_factors``.
        stds: Their standard errors (the fit's weights; 0, NaN or inf are tolerated).
        extrapolators: One name of :data:`EXTRAPOLATORS`, or several tried in order.
        eval_points: Where to evaluate every fit (``extrapolated_noise_factors``).
        ideal_range: ``(lo, hi)``, each broadcastable to ``S``: the range of the ideal values
            that the acceptance rule widens; None for unbounded.
        absolute_sigma: Take ``stds`` as the true errors (unscaled covariance) instead of
            scaling the covariance by the reduced chi-square (IBM's choice, the default).

    Returns:
        The :class:`ZneEstimate`.

    Raises:
        ValueError: Malformed arguments only (never for bad values: see the module docs).
    """
    names = _names(extrapolators)
    x = np.asarray(noise_factors, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("noise_factors must be a non-empty sequence of finite numbers")
    y = np.asarray(evs, dtype=np.float64)
    s = np.asarray(stds, dtype=np.float64)
    if y.ndim == 0 or y.shape[-1] != x.size or s.shape != y.shape:
        raise ValueError(
            f"evs {y.shape} and stds {s.shape} must both have shape S + ({x.size},), "
            "one value per noise factor"
        )
    points = np.asarray(eval_points, dtype=np.float64)
    if points.ndim != 1:
        raise ValueError("eval_points must be a 1-D sequence of numbers")
    shape = y.shape[:-1]
    ys = y.reshape(-1, x.size)
    ss = s.reshape(-1, x.size)
    sigma, weighted = _fit_sigmas(ss)
    scaled = ~weighted | (not absolute_sigma)
    at = np.concatenate([[0.0], points])  # the choice is made at noise factor 0
    lowest = int(np.argmin(x))

    values = np.full((ys.shape[0], len(names), at.size), np.nan)
    errors = np.full_like(values, np.nan)
    with np.errstate(all="ignore"):  # bad data gives NaN or inf, silently
        for k, name in enumerate(names):
            _fit_model(name, k, x, ys, ss, sigma, scaled, at, values, errors)

    lo, hi = _ranges(ideal_range, shape)
    chosen = _choose(values[:, :, 0], errors[:, :, 0], lo, hi)
    rows = np.arange(ys.shape[0])
    column = np.maximum(chosen, 0)
    none = chosen == NO_EXTRAPOLATOR
    best_evs = np.where(none, ys[:, lowest], values[rows, column, 0])
    best_stds = np.where(none, ss[:, lowest], errors[rows, column, 0])
    tail = (len(names), points.size)
    return ZneEstimate(
        evs=best_evs.reshape(shape),
        stds=best_stds.reshape(shape),
        evs_extrapolated=values[:, :, 1:].reshape(shape + tail),
        stds_extrapolated=errors[:, :, 1:].reshape(shape + tail),
        chosen=chosen.reshape(shape),
    )


def _fit_model(
    name: str,
    k: int,
    x: FloatArray,
    ys: FloatArray,
    ss: FloatArray,
    sigma: FloatArray,
    scaled: npt.NDArray[np.bool_],
    at: FloatArray,
    values: FloatArray,
    errors: FloatArray,
) -> None:
    """Fill ``values[:, k]`` and ``errors[:, k]`` with the model ``name`` at ``at``."""
    if name == "fallback":
        lowest = int(np.argmin(x))
        values[:, k] = ys[:, lowest, None]
        errors[:, k] = ss[:, lowest, None]
    elif name in ("exponential", "double_exponential"):
        values[:, k], errors[:, k] = _fit_exponentials(
            name == "double_exponential", x, ys, sigma, scaled, at
        )
    else:
        degree = 1 if name == "linear" else int(name.rsplit("_", 1)[1])
        values[:, k], errors[:, k] = _fit_polynomials(degree, x, ys, sigma, scaled, at)


def _names(extrapolators: str | Sequence[str]) -> list[str]:
    """The extrapolators as a checked list."""
    names = [extrapolators] if isinstance(extrapolators, str) else list(extrapolators)
    if not names:
        raise ValueError("at least one extrapolator is needed")
    unknown = [name for name in names if name not in EXTRAPOLATORS]
    if unknown:
        raise ValueError(f"unknown extrapolator(s) {unknown}; expected some of {EXTRAPOLATORS}")
    return names


def _fit_sigmas(stds: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Per-point fit errors (rows are elements) with degenerate ones clamped into the row's
    positive finite range, and whether each row has any such error (else it gets all ones)."""
    good = np.isfinite(stds) & (stds > 0)
    weighted: npt.NDArray[np.bool_] = np.any(good, axis=1)
    smallest = np.min(np.where(good, stds, np.inf), axis=1, keepdims=True)
    largest = np.max(np.where(good, stds, -np.inf), axis=1, keepdims=True)
    too_big = np.isnan(stds) | (stds == np.inf)
    sigma = np.where(good, stds, np.where(too_big, largest, smallest))
    return np.where(weighted[:, None], sigma, 1.0).astype(np.float64), weighted


def _ranges(
    ideal_range: tuple[npt.ArrayLike, npt.ArrayLike] | None, shape: tuple[int, ...]
) -> tuple[FloatArray, FloatArray]:
    """The ideal range's bounds per element, flattened."""
    if ideal_range is None:
        unbounded = np.full(int(np.prod(shape)), np.inf)
        return -unbounded, unbounded
    lo, hi = (np.broadcast_to(np.asarray(b, dtype=np.float64), shape).ravel() for b in ideal_range)
    return lo, hi


def _choose(values: FloatArray, errors: FloatArray, lo: FloatArray, hi: FloatArray) -> IntArray:
    """Per element (rows), the index of the first acceptable model, else of the finite value
    with the smallest error, else :data:`NO_EXTRAPOLATOR`."""
    margin = np.maximum(np.abs(lo), np.abs(hi))[:, None]
    finite_value = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        accepted = (
            finite_value
            & np.isfinite(errors)
            & (errors <= margin)
            & (values - errors >= lo[:, None] - margin)
            & (values + errors <= hi[:, None] + margin)
        )
    key = np.where(finite_value, np.where(np.isfinite(errors), errors, np.finfo(float).max), np.inf)
    chosen = np.where(
        accepted.any(axis=1),
        np.argmax(accepted, axis=1),
        np.where(finite_value.any(axis=1), np.argmin(key, axis=1), NO_EXTRAPOLATOR),
    )
    return chosen.astype(np.intp)


def _fit_polynomials(
    degree: int,
    x: FloatArray,
    ys: FloatArray,
    sigma: FloatArray,
    scaled: npt.NDArray[np.bool_],
    at: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Weighted least-squares polynomials for all elements at once, evaluated at ``at``."""
    rows, n = ys.shape
    p = degree + 1
    values = np.full((rows, at.size), np.nan)
    errors = np.full_like(values, np.nan)
    if n < p:
        return values, errors
    scale = float(np.max(np.abs(x))) or 1.0
    powers = np.arange(p)
    design = (x / scale)[:, None] ** powers  # (n, p)
    usable = np.all(np.isfinite(ys), axis=1)
    a = design[None, :, :] / sigma[:, :, None]  # (rows, n, p)
    b = np.where(usable[:, None], ys, 0.0) / sigma
    u, sv, vt = np.linalg.svd(a, full_matrices=False)  # sv: (rows, p), descending
    full_rank = sv[:, -1] > max(n, p) * np.finfo(float).eps * sv[:, 0]
    inv_sv = np.where(full_rank[:, None], 1.0 / np.where(sv > 0, sv, 1.0), 0.0)
    coefficients = np.einsum("rkp,rk->rp", vt, np.einsum("rnk,rn->rk", u, b) * inv_sv)
    covariance = np.einsum("rkp,rk,rkq->rpq", vt, inv_sv**2, vt)
    residuals = np.einsum("rnp,rp->rn", a, coefficients) - b
    chi2 = np.sum(residuals**2, axis=1)
    dof = n - p
    factor = np.where(scaled, chi2 / dof if dof else np.inf, 1.0)
    basis = (at / scale)[:, None] ** powers  # (m, p)
    variance = np.maximum(np.einsum("mp,rpq,mq->rm", basis, covariance, basis), 0.0)
    with np.errstate(invalid="ignore"):
        spread = np.where(np.isinf(factor)[:, None], np.inf, np.sqrt(variance * factor[:, None]))
    ok = (usable & full_rank)[:, None]
    return (
        np.where(ok, coefficients @ basis.T, np.nan),
        np.where(ok, spread, np.nan),
    )


def _exponentials(x: FloatArray, *params: float) -> FloatArray:
    """``sum_j a_j exp(b_j x)`` with ``params = (a_1, b_1, a_2, b_2, ...)``."""
    amplitudes = np.asarray(params[0::2], dtype=np.float64)
    rates = np.asarray(params[1::2], dtype=np.float64)
    return np.asarray(np.exp(np.outer(x, rates)) @ amplitudes, dtype=np.float64)


def _exponentials_jacobian(x: FloatArray, *params: float) -> FloatArray:
    """The derivatives of :func:`_exponentials` in its parameters (rows over ``x``)."""
    amplitudes = np.asarray(params[0::2], dtype=np.float64)
    rates = np.asarray(params[1::2], dtype=np.float64)
    grow = np.exp(np.outer(x, rates))  # (m, terms)
    jacobian = np.empty((x.size, len(params)))
    jacobian[:, 0::2] = grow
    jacobian[:, 1::2] = grow * amplitudes[None, :] * x[:, None]
    return jacobian


def _log_line(x: FloatArray, y: FloatArray, sigma: FloatArray) -> tuple[float, float]:
    """``(a, b)`` of ``a exp(b x)`` from a weighted straight-line fit of ``log |y|``, with the
    sign of ``a`` that of the point at the lowest noise factor."""
    sign = float(np.sign(y[np.argmin(x)])) or 1.0
    magnitude = np.maximum(np.abs(y), 1e-15)
    weights = (magnitude / sigma) ** 2  # var(log|y|) ~ (sigma / |y|)^2
    total = float(np.sum(weights))
    mean_x = float(np.sum(weights * x)) / total
    mean_log = float(np.sum(weights * np.log(magnitude))) / total
    spread = float(np.sum(weights * (x - mean_x) ** 2))
    rate = float(np.sum(weights * (x - mean_x) * (np.log(magnitude) - mean_log))) / spread
    return sign * float(np.exp(mean_log - rate * mean_x)), rate


def _fit_exponentials(
    double: bool,
    x: FloatArray,
    ys: FloatArray,
    sigma: FloatArray,
    scaled: npt.NDArray[np.bool_],
    at: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """``exponential`` (``double`` False) or ``double_exponential`` fits, element by element."""
    rows, n = ys.shape
    p = 4 if double else 2
    values = np.full((rows, at.size), np.nan)
    errors = np.full_like(values, np.nan)
    if n < p or np.unique(x).size < p:
        return values, errors
    for row in range(rows):
        y = ys[row]
        if not np.all(np.isfinite(y)):
            continue
        fitted = _fit_one_exponential(double, x, y, sigma[row], bool(scaled[row]))
        if fitted is None:
            continue
        params, covariance = fitted
        values[row] = _exponentials(at, *params)
        if not np.all(np.isfinite(covariance)):
            errors[row] = np.inf
            continue
        gradient = _exponentials_jacobian(at, *params)
        variance = np.einsum("mp,pq,mq->m", gradient, covariance, gradient)
        # A degenerate fit (e.g. a double exponential whose two rates coincide) has a
        # numerically singular covariance whose propagated variances come out negative or
        # meaningless: its error is unknown, not zero, so the fit is rejected (inf) and the
        # next extrapolator is tried.
        magnitude = np.einsum("mp,pq,mq->m", np.abs(gradient), np.abs(covariance), np.abs(gradient))
        degenerate = bool(np.any((magnitude > 1e-20) & (magnitude > 1e8 * np.abs(variance))))
        errors[row] = np.inf if degenerate else np.sqrt(np.maximum(variance, 0.0))
    return values, errors


def _fit_one_exponential(
    double: bool, x: FloatArray, y: FloatArray, sigma: FloatArray, scaled: bool
) -> tuple[FloatArray, FloatArray] | None:
    """One element's ``(parameters, covariance)``, or None if no start converges."""
    amplitude, rate = _log_line(x, y, sigma)
    if not (np.isfinite(amplitude) and np.isfinite(rate)):
        return None
    if double:
        decay = -max(abs(rate), 1e-3)
        half = amplitude / 2
        starts = [
            [half, decay, half, 2 * decay],
            [half, decay / 3, half, 3 * decay],
            [amplitude, decay, 0.0, 10 * decay],
        ]
        bounds: tuple[object, object] = ([-np.inf, -np.inf] * 2, [np.inf, 0.0] * 2)
    else:
        starts = [[amplitude, rate]]
        bounds = (-np.inf, np.inf)
    for start in starts:  # the first start is IBM's; the others only if it fails
        fitted = _curve_fit(x, y, sigma, scaled, start, bounds)
        if fitted is not None:
            return fitted
    return None


def _curve_fit(
    x: FloatArray,
    y: FloatArray,
    sigma: FloatArray,
    scaled: bool,
    start: list[float],
    bounds: tuple[object, object],
) -> tuple[FloatArray, FloatArray] | None:
    """scipy's fit of :func:`_exponentials` from ``start``: ``(parameters, covariance)``, or
    None if it fails or ends on non-finite parameters."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # OptimizeWarning: covariance not estimable -> inf
        try:
            params, covariance = curve_fit(
                _exponentials,
                x,
                y,
                p0=start,
                sigma=sigma,
                absolute_sigma=not scaled,
                bounds=bounds,
            )
        except (RuntimeError, ValueError, np.linalg.LinAlgError, OverflowError):
            return None
    params = np.asarray(params, dtype=np.float64)
    if not np.all(np.isfinite(params)):
        return None
    return params, np.asarray(covariance, dtype=np.float64)
