"""The primitives' options (reference §4.4), one :class:`~.fields.OptionGroup` per group.

Enum values, ranges and the option names per program come from :mod:`qiskit_rest_provider.wire`,
the tables the local service checks against too; :func:`_check_names` refuses, at import, a
schema whose option names differ from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...wire.constants import MAX_TAG_LENGTH, MAX_TAGS
from ...wire.options import (
    DD_EXTRA_SLACK_DISTRIBUTIONS,
    DD_SCHEDULING_METHODS,
    DD_SEQUENCE_TYPES,
    ESTIMATOR_PARAMS_OPTIONS,
    LOG_LEVELS,
    MAX_EXECUTION_TIME,
    MAX_RESILIENCE_LEVEL,
    MEASURE_TYPES,
    MIN_RESILIENCE_LEVEL,
    OPTION_NAMES,
    TWIRLING_STRATEGIES,
    ZNE_AMPLIFIERS,
    ZNE_EXTRAPOLATORS,
)
from .fields import (
    Check,
    OptionGroup,
    anything,
    boolean,
    choice,
    either_auto,
    integer,
    list_of,
    mapping,
    nullable,
    real,
    string_list,
)
from .wire import PrimitiveOptions

__all__ = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorOptions",
    "EstimatorTwirlingOptions",
    "ExecutionOptions",
    "LayerNoiseLearningOptions",
    "MeasureNoiseLearningOptions",
    "PecOptions",
    "ResilienceOptions",
    "SamplerExecutionOptions",
    "SamplerOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "ZneOptions",
]


# Validators of values that Qiskit objects may stand for (duck-typed: no Qiskit import here).


def _edges(path: str, value: Any) -> list[list[int]]:
    if value is None:
        return None  # type: ignore[return-value]
    edges = getattr(value, "get_edges", None)
    pairs = edges() if callable(edges) else value
    try:
        result = [[int(a), int(b)] for a, b in pairs]
    except (TypeError, ValueError):
        raise TypeError(f"{path} must be a CouplingMap or a list of [int, int] edges") from None
    return result


def _noise_model(path: str, value: Any) -> Any:
    if value is None or isinstance(value, Mapping):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # a qiskit_aer NoiseModel
        return {"__type__": "NoiseModel", "__value__": to_dict(serializable=True)}
    raise TypeError(f"{path} must be a qiskit_aer NoiseModel, its to_dict() or None")


def _extrapolator(path: str, value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    check = list_of(choice(*ZNE_EXTRAPOLATORS), min_length=1)
    result = check(path, items)
    return result[0] if isinstance(value, str) else result


# Groups ---------------------------------------------------------------------------------------


class DynamicalDecouplingOptions(OptionGroup):
    """``dynamical_decoupling``: pad idle periods with a pulse sequence."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "enable": boolean,
        "sequence_type": choice(*DD_SEQUENCE_TYPES),
        "extra_slack_distribution": choice(*DD_EXTRA_SLACK_DISTRIBUTIONS),
        "scheduling_method": choice(*DD_SCHEDULING_METHODS),
        "skip_reset_qubits": boolean,
    }


class ExecutionOptions(OptionGroup):
    """``execution``: qubit initialisation and repetition delay (seconds)."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "init_qubits": boolean,
        "rep_delay": nullable(real(ge=0)),
    }


class SamplerExecutionOptions(ExecutionOptions):
    """``execution`` for the sampler, with ``meas_type``."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        **ExecutionOptions._fields,
        "meas_type": choice(*MEASURE_TYPES),
    }


class TwirlingOptions(OptionGroup):
    """``twirling``: Pauli twirling of gates and measurements."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "enable_gates": boolean,
        "enable_measure": boolean,
        "num_randomizations": either_auto(integer(1)),
        "shots_per_randomization": either_auto(integer(1)),
        "strategy": choice(*TWIRLING_STRATEGIES),
    }


class EstimatorTwirlingOptions(TwirlingOptions):
    """``twirling`` for the estimator: ``enable_*`` may be ``None`` (level-dependent)."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        **TwirlingOptions._fields,
        "enable_gates": nullable(boolean),
        "enable_measure": nullable(boolean),
    }


class SimulatorOptions(OptionGroup):
    """``simulator``: noise model, seed and coupling map for simulator backends."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "noise_model": _noise_model,
        "seed_simulator": nullable(integer()),
        "coupling_map": _edges,
        "basis_gates": nullable(string_list()),
    }


class EnvironmentOptions(OptionGroup):
    """``environment``: log level, job tags and privacy (sent at the job's top level)."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "log_level": choice(*LOG_LEVELS),
        "job_tags": string_list(max_items=MAX_TAGS, max_length=MAX_TAG_LENGTH),
        "private": boolean,
    }


class MeasureNoiseLearningOptions(OptionGroup):
    """``resilience.measure_noise_learning`` (TREX calibration)."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "num_randomizations": integer(1),
        "shots_per_randomization": either_auto(integer(1)),
    }


class ZneOptions(OptionGroup):
    """``resilience.zne``: zero-noise extrapolation."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "amplifier": choice(*ZNE_AMPLIFIERS),
        "noise_factors": list_of(real(ge=1), min_length=1),
        "extrapolator": _extrapolator,
        "extrapolated_noise_factors": either_auto(list_of(real())),
    }


class PecOptions(OptionGroup):
    """``resilience.pec``: probabilistic error cancellation."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "max_overhead": nullable(real(gt=0)),
        "noise_gain": either_auto(real(ge=0)),
    }


class LayerNoiseLearningOptions(OptionGroup):
    """``resilience.layer_noise_learning``."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "max_layers_to_learn": nullable(integer(0)),
        "shots_per_randomization": integer(1),
        "num_randomizations": integer(1),
        "layer_pair_depths": list_of(integer(0)),
    }


class ResilienceOptions(OptionGroup):
    """``resilience``: error mitigation for the estimator."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "measure_mitigation": nullable(boolean),
        "measure_noise_learning": MeasureNoiseLearningOptions,
        "zne_mitigation": nullable(boolean),
        "zne": ZneOptions,
        "pec_mitigation": boolean,
        "pec": PecOptions,
        "layer_noise_learning": LayerNoiseLearningOptions,
        "layer_noise_model": anything,
    }


# The primitives' options ----------------------------------------------------------------------

_COMMON: dict[str, Check | type[OptionGroup]] = {
    "dynamical_decoupling": DynamicalDecouplingOptions,
    "simulator": SimulatorOptions,
    "environment": EnvironmentOptions,
    "max_execution_time": integer(1, MAX_EXECUTION_TIME),
    "experimental": mapping,
}


class SamplerOptions(PrimitiveOptions):
    """Options of :class:`~qiskit_rest_provider.SamplerV2`.

    Fields: ``default_shots``, ``dynamical_decoupling``, ``execution`` (``init_qubits``,
    ``rep_delay``, ``meas_type``), ``twirling``, ``simulator``, ``environment``,
    ``max_execution_time`` (seconds, sent as the job's ``cost``) and ``experimental``.
    """

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        **_COMMON,
        "default_shots": integer(1),
        "execution": SamplerExecutionOptions,
        "twirling": TwirlingOptions,
    }


#: Fewest noise factors each extrapolator needs (``polynomial_degree_k`` needs ``k + 1``).
_MIN_FACTORS = {"linear": 2, "exponential": 2, "fallback": 2, "double_exponential": 4}


class EstimatorOptions(PrimitiveOptions):
    """Options of :class:`~qiskit_rest_provider.EstimatorV2`.

    Fields: ``resilience_level`` (0-2, sent at the top level of ``params``),
    ``default_precision``, ``default_shots``, ``seed_estimator``, ``resilience``,
    ``dynamical_decoupling``, ``execution``, ``twirling``, ``simulator``, ``environment``,
    ``max_execution_time`` and ``experimental``.
    """

    _params_level: ClassVar[frozenset[str]] = frozenset(ESTIMATOR_PARAMS_OPTIONS)
    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        **_COMMON,
        "resilience_level": integer(MIN_RESILIENCE_LEVEL, MAX_RESILIENCE_LEVEL),
        "default_precision": real(gt=0),
        "default_shots": nullable(integer(1)),
        "seed_estimator": nullable(integer(0)),
        "execution": ExecutionOptions,
        "twirling": EstimatorTwirlingOptions,
        "resilience": ResilienceOptions,
    }

    def validate(self) -> None:
        """Cross-option checks: PEC with ZNE, TREX learning without measure mitigation, and
        too few ZNE noise factors for an extrapolator."""
        resilience = self.to_dict().get("resilience", {})
        if resilience.get("pec_mitigation") and resilience.get("zne_mitigation"):
            raise ValueError(
                "resilience.pec_mitigation and resilience.zne_mitigation cannot both be True"
            )
        mitigation = resilience.get("measure_mitigation")
        if mitigation is None:
            mitigation = self._values.get("resilience_level", 1) >= 1
        if resilience.get("measure_noise_learning") and not mitigation:
            raise ValueError(
                "resilience.measure_noise_learning is set but measure mitigation is off; set "
                "resilience.measure_mitigation=True or unset measure_noise_learning"
            )
        zne = resilience.get("zne", {})
        factors = zne.get("noise_factors", [1.0, 3.0, 5.0])
        extrapolators = zne.get("extrapolator", ["exponential", "linear"])
        if isinstance(extrapolators, str):
            extrapolators = [extrapolators]
        for name in extrapolators:
            needed = _MIN_FACTORS.get(name)
            if needed is None and name.startswith("polynomial_degree_"):
                needed = int(name.rsplit("_", 1)[1]) + 1
            if needed is not None and len(factors) < needed:
                raise ValueError(
                    f"resilience.zne.extrapolator {name!r} needs at least {needed} noise "
                    f"factors; resilience.zne.noise_factors has {len(factors)}"
                )


def _check_names(program: str, options: type[PrimitiveOptions]) -> None:
    """Refuse a schema whose ``params.options`` names differ from the protocol's table."""
    sent = options.wire_option_names()
    expected = OPTION_NAMES[program]
    if sent != expected:
        raise RuntimeError(
            f"{options.__name__} and wire.options.OPTION_NAMES[{program!r}] disagree: "
            f"{sorted(sent ^ expected)}"
        )


_check_names("sampler", SamplerOptions)
_check_names("estimator", EstimatorOptions)
