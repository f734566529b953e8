"""What a job's options ask the emulator to do, with IBM's defaults filled in.

The defaults follow IBM's documentation of the primitives' options (and
``wire/options.py``): the sampler twirls nothing unless asked; the estimator's
``resilience_level`` decides what a null ``twirling.enable_*``, ``measure_mitigation`` or
``zne_mitigation`` means (0: nothing; 1: measurement twirling and TREX; 2: also gate
twirling and ZNE). Randomizations: ``shots_per_randomization`` "auto" is
``max(64, ceil(shots / 32))`` (64 with PEC), ``num_randomizations`` "auto" is
``ceil(shots / shots_per_randomization)``; the shots run are their product.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...wire.constants import DEFAULT_PRECISION
from ...wire.options import ZNE_DEFAULT_EXTRAPOLATORS, ZNE_DEFAULT_NOISE_FACTORS
from .engine import DecouplingPlan

#: Randomizations one pub may ask for (twirling, readout learning): each is a circuit to build.
MAX_RANDOMIZATIONS: Final = 10_000
#: The largest ZNE noise factor the emulator folds or amplifies to, and how many factors.
MAX_NOISE_FACTOR: Final = 100.0
MAX_NOISE_FACTORS: Final = 16
#: Shots one pub may simulate in all (sampler: parameter sets x randomizations x shots per
#: randomization; estimator: also x measurement bases x noise factors). Kerneled results are
#: averaged or counted per point, so the result size alone does not bound this.
MAX_SIMULATED_SHOTS: Final = 50_000_000

__all__ = [
    "MAX_NOISE_FACTOR",
    "MAX_NOISE_FACTORS",
    "MAX_RANDOMIZATIONS",
    "MAX_SIMULATED_SHOTS",
    "MeasureMitigationPlan",
    "PecPlan",
    "TwirlingPlan",
    "ZnePlan",
    "decoupling_plan",
    "estimator_shots",
    "twirling_plan",
]


@dataclass(frozen=True)
class TwirlingPlan:
    """The twirling a pub gets."""

    enable_gates: bool
    enable_measure: bool
    num_randomizations: int
    shots_per_randomization: int
    strategy: str

    @property
    def enabled(self) -> bool:
        """Whether anything is twirled."""
        return self.enable_gates or self.enable_measure

    @property
    def shots(self) -> int:
        """Shots run: randomizations x shots per randomization."""
        return self.num_randomizations * self.shots_per_randomization


def _group(options: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = options.get(name)
    return value if isinstance(value, Mapping) else {}


def twirling_plan(
    options: Mapping[str, Any],
    shots: int,
    *,
    gates_default: bool = False,
    measure_default: bool = False,
    pec: bool = False,
) -> TwirlingPlan:
    """The twirling of a pub of ``shots`` shots under ``options``."""
    twirling = _group(options, "twirling")
    gates = twirling.get("enable_gates")
    measure = twirling.get("enable_measure")
    enable_gates = gates_default if gates is None else bool(gates)
    enable_measure = measure_default if measure is None else bool(measure)
    strategy = str(twirling.get("strategy") or "active-accum")
    if not (enable_gates or enable_measure):
        return TwirlingPlan(False, False, 1, shots, strategy)
    count = twirling.get("num_randomizations", "auto")
    per = twirling.get("shots_per_randomization", "auto")
    if per in (None, "auto"):
        if isinstance(count, int) and not isinstance(count, bool):
            per = math.ceil(shots / count)
        else:
            per = 64 if pec else max(64, math.ceil(shots / 32))
    per = max(1, int(per))
    if count in (None, "auto"):
        count = math.ceil(shots / per)
    return TwirlingPlan(enable_gates, enable_measure, max(1, int(count)), per, strategy)


def twirling_metadata(options: Mapping[str, Any], plan: TwirlingPlan) -> dict[str, Any]:
    """The ``twirling`` entry of the result metadata (the options as IBM echoes them)."""
    twirling = _group(options, "twirling")
    return {
        "enable_gates": plan.enable_gates,
        "enable_measure": plan.enable_measure,
        "num_randomizations": twirling.get("num_randomizations", "auto"),
        "shots_per_randomization": twirling.get("shots_per_randomization", "auto"),
        "interleave_randomizations": True,
        "strategy": plan.strategy,
    }


def decoupling_plan(options: Mapping[str, Any]) -> DecouplingPlan | None:
    """The dynamical decoupling asked for (None: off)."""
    dd = _group(options, "dynamical_decoupling")
    if not dd.get("enable"):
        return None
    return DecouplingPlan(
        sequence_type=str(dd.get("sequence_type") or "XX"),
        extra_slack_distribution=str(dd.get("extra_slack_distribution") or "middle"),
        scheduling_method=str(dd.get("scheduling_method") or "alap"),
        skip_reset_qubits=bool(dd.get("skip_reset_qubits", False)),
    )


def decoupling_metadata(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``dynamical_decoupling`` entry of the result metadata."""
    plan = decoupling_plan(options)
    if plan is None:
        return {"enable": False}
    return {
        "enable": True,
        "sequence_type": plan.sequence_type,
        "extra_slack_distribution": plan.extra_slack_distribution,
        "scheduling_method": plan.scheduling_method,
    }


@dataclass(frozen=True)
class MeasureMitigationPlan:
    """TREX: readout calibration with twirled measurements."""

    num_randomizations: int
    shots_per_randomization: int


@dataclass(frozen=True)
class ZnePlan:
    """Zero-noise extrapolation."""

    noise_factors: tuple[float, ...]
    extrapolators: tuple[str, ...]
    extrapolated_noise_factors: tuple[float, ...]
    amplifier: str


@dataclass(frozen=True)
class PecPlan:
    """Probabilistic error cancellation."""

    max_overhead: float | None
    noise_gain: float | None
    """None: "auto" (0, raised until the overhead fits ``max_overhead``)."""


def estimator_shots(
    precision: float | None, default_shots: Any, max_shots: int = 0
) -> tuple[int, float]:
    """An estimator pub's shots and the precision they stand for: ``default_shots`` when set
    (a positive integer), else ``ceil(1 / precision**2)`` (``DEFAULT_PRECISION`` when the pub
    has none); at least 1 and at most ``max_shots`` (0: no cap)."""
    precision = float(precision or DEFAULT_PRECISION)
    if isinstance(default_shots, int) and not isinstance(default_shots, bool) and default_shots > 0:
        shots = default_shots
        precision = 1 / math.sqrt(shots)
    else:
        shots = math.ceil(1 / precision**2)
    if max_shots:
        shots = min(shots, max_shots)
    return max(1, shots), precision


def resilience_plans(
    options: Mapping[str, Any], level: int, shots: int
) -> tuple[MeasureMitigationPlan | None, ZnePlan | None, PecPlan | None]:
    """TREX, ZNE and PEC as the estimator's options and ``resilience_level`` ask."""
    resilience = _group(options, "resilience")
    measure = resilience.get("measure_mitigation")
    measure_on = level >= 1 if measure is None else bool(measure)
    zne_on = resilience.get("zne_mitigation")
    zne_on = level >= 2 if zne_on is None else bool(zne_on)
    pec_on = bool(resilience.get("pec_mitigation", False))
    trex = None
    if measure_on:
        learning = _group(resilience, "measure_noise_learning")
        count = int(learning.get("num_randomizations") or 32)
        per = learning.get("shots_per_randomization", "auto")
        per = max(64, math.ceil(shots / count)) if per in (None, "auto") else int(per)
        trex = MeasureMitigationPlan(count, per)
    zne = None
    if zne_on:
        cfg = _group(resilience, "zne")
        factors = tuple(float(f) for f in cfg.get("noise_factors") or ZNE_DEFAULT_NOISE_FACTORS)
        names = cfg.get("extrapolator") or ZNE_DEFAULT_EXTRAPOLATORS
        names = (names,) if isinstance(names, str) else tuple(str(n) for n in names)
        points = cfg.get("extrapolated_noise_factors", "auto")
        if points in (None, "auto"):
            points = (0.0, *factors)
        zne = ZnePlan(
            factors,
            names,
            tuple(float(p) for p in points),
            str(cfg.get("amplifier") or "gate_folding"),
        )
    pec = None
    if pec_on:
        cfg = _group(resilience, "pec")
        overhead = cfg.get("max_overhead", 100)
        gain = cfg.get("noise_gain", "auto")
        pec = PecPlan(
            None if overhead is None else float(overhead),
            None if gain in (None, "auto") else float(gain),
        )
    return trex, zne, pec
