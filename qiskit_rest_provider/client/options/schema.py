"""The primitives' options (reference §4.4), one :class:`~.fields.OptionGroup` per group.

Every group is built from the protocol's option table
(:mod:`qiskit_rest_provider.wire.options`), the one the local service checks jobs against:
:func:`~.fields.built_from` gives each class a validator per leaf of its group, so names,
types, enums, ranges, ``null`` and ``"auto"`` cannot differ between client and service. What
stays here is what only the client does: converting Qiskit objects (a ``CouplingMap``, a
``NoiseModel``) into the JSON values the table describes, and the estimator's cross-option
checks, which use the table's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...wire.options import (
    DYNAMICAL_DECOUPLING,
    ENVIRONMENT,
    ESTIMATOR_PARAMS_OPTIONS,
    ESTIMATOR_PARAMS_SCHEMA,
    ESTIMATOR_SCHEMA,
    ESTIMATOR_TWIRLING,
    EXECUTION,
    LAYER_NOISE_LEARNING,
    MEASURE_NOISE_LEARNING,
    OPTION_NAMES,
    PEC,
    RESILIENCE,
    SAMPLER_EXECUTION,
    SAMPLER_SCHEMA,
    SIMULATOR,
    TWIRLING,
    ZNE,
    resilience_problem,
)
from .fields import OptionGroup, built_from
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


# Client-only conversions of Qiskit objects (duck-typed: no Qiskit import here). Each runs
# before the table's check of the value it returns (see fields.from_spec); None never
# reaches them (both options are nullable in the table).


def _edges(path: str, value: Any) -> list[list[int]]:
    """A ``CouplingMap`` (anything with ``get_edges()``) or pairs of int-like values."""
    edges = getattr(value, "get_edges", None)
    pairs = edges() if callable(edges) else value
    try:
        result = [[int(a), int(b)] for a, b in pairs]
    except (TypeError, ValueError):
        raise TypeError(f"{path} must be a CouplingMap or a list of [int, int] edges") from None
    return result


def _noise_model(path: str, value: Any) -> Any:
    """A ``qiskit_aer`` ``NoiseModel`` as the wrapper the service decodes; mappings as given."""
    if isinstance(value, Mapping):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # a qiskit_aer NoiseModel
        return {"__type__": "NoiseModel", "__value__": to_dict(serializable=True)}
    raise TypeError(f"{path} must be a qiskit_aer NoiseModel, its to_dict() or None")


# Groups ---------------------------------------------------------------------------------------


@built_from(DYNAMICAL_DECOUPLING)
class DynamicalDecouplingOptions(OptionGroup):
    """``dynamical_decoupling``: pad idle periods with a pulse sequence."""


@built_from(EXECUTION)
class ExecutionOptions(OptionGroup):
    """``execution``: qubit initialisation and repetition delay (seconds)."""


@built_from(SAMPLER_EXECUTION)
class SamplerExecutionOptions(ExecutionOptions):
    """``execution`` for the sampler, with ``meas_type``."""


@built_from(TWIRLING)
class TwirlingOptions(OptionGroup):
    """``twirling``: Pauli twirling of gates and measurements."""


@built_from(ESTIMATOR_TWIRLING)
class EstimatorTwirlingOptions(TwirlingOptions):
    """``twirling`` for the estimator: ``enable_*`` may be ``None`` (level-dependent)."""


@built_from(SIMULATOR, convert={"noise_model": _noise_model, "coupling_map": _edges})
class SimulatorOptions(OptionGroup):
    """``simulator``: noise model, seed and coupling map for simulator backends."""


@built_from(ENVIRONMENT)
class EnvironmentOptions(OptionGroup):
    """``environment``: log level, job tags and privacy (sent at the job's top level)."""


@built_from(MEASURE_NOISE_LEARNING)
class MeasureNoiseLearningOptions(OptionGroup):
    """``resilience.measure_noise_learning`` (TREX calibration)."""


@built_from(ZNE)
class ZneOptions(OptionGroup):
    """``resilience.zne``: zero-noise extrapolation."""


@built_from(PEC)
class PecOptions(OptionGroup):
    """``resilience.pec``: probabilistic error cancellation."""


@built_from(LAYER_NOISE_LEARNING)
class LayerNoiseLearningOptions(OptionGroup):
    """``resilience.layer_noise_learning``."""


@built_from(
    RESILIENCE,
    groups={
        "measure_noise_learning": MeasureNoiseLearningOptions,
        "zne": ZneOptions,
        "pec": PecOptions,
        "layer_noise_learning": LayerNoiseLearningOptions,
    },
)
class ResilienceOptions(OptionGroup):
    """``resilience``: error mitigation for the estimator."""


# The primitives' options ----------------------------------------------------------------------

_COMMON_GROUPS: dict[str, type[OptionGroup]] = {
    "dynamical_decoupling": DynamicalDecouplingOptions,
    "simulator": SimulatorOptions,
    "environment": EnvironmentOptions,
}


@built_from(
    SAMPLER_SCHEMA,
    groups={
        **_COMMON_GROUPS,
        "execution": SamplerExecutionOptions,
        "twirling": TwirlingOptions,
    },
)
class SamplerOptions(PrimitiveOptions):
    """Options of :class:`~qiskit_rest_provider.SamplerV2`.

    Fields: ``default_shots``, ``dynamical_decoupling``, ``execution`` (``init_qubits``,
    ``rep_delay``, ``meas_type``), ``twirling``, ``simulator``, ``environment``,
    ``max_execution_time`` (seconds, sent as the job's ``cost``) and ``experimental``.
    """


@built_from(
    ESTIMATOR_SCHEMA,
    ESTIMATOR_PARAMS_SCHEMA,
    groups={
        **_COMMON_GROUPS,
        "execution": ExecutionOptions,
        "twirling": EstimatorTwirlingOptions,
        "resilience": ResilienceOptions,
    },
)
class EstimatorOptions(PrimitiveOptions):
    """Options of :class:`~qiskit_rest_provider.EstimatorV2`.

    Fields: ``resilience_level`` (0-2, sent at the top level of ``params``),
    ``default_precision``, ``default_shots``, ``seed_estimator``, ``resilience``,
    ``dynamical_decoupling``, ``execution``, ``twirling``, ``simulator``, ``environment``,
    ``max_execution_time`` and ``experimental``.
    """

    _params_level: ClassVar[frozenset[str]] = frozenset(ESTIMATOR_PARAMS_OPTIONS)

    def validate(self) -> None:
        """Cross-option checks: PEC with ZNE, TREX learning without measure mitigation, and
        too few ZNE noise factors for an extrapolator (unset options take the service's
        defaults from :mod:`qiskit_rest_provider.wire.options`)."""
        resilience = self.to_dict().get("resilience", {})
        problem = resilience_problem(resilience, self._values.get("resilience_level"))
        if problem is not None:
            raise ValueError(problem)


def _check_names(program: str, options: type[PrimitiveOptions]) -> None:
    """Refuse a schema whose ``params.options`` names differ from the protocol's table (the
    options sent at the top level of ``params`` left out)."""
    sent = options.wire_option_names()
    expected = OPTION_NAMES[program]
    if sent != expected:
        raise RuntimeError(
            f"{options.__name__} and wire.options.OPTION_NAMES[{program!r}] disagree: "
            f"{sorted(sent ^ expected)}"
        )


_check_names("sampler", SamplerOptions)
_check_names("estimator", EstimatorOptions)
