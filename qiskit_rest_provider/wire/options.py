"""The primitives' options as the protocol defines them: names, enum values and ranges.

Standard library only. The client's option schema
(:mod:`qiskit_rest_provider.primitives.options.schema`) builds its validators from these values
and checks at import that its option names are these, and the local service's option checks
(:mod:`qiskit_rest_provider.server.validation`) can read the same tables, so the two halves
cannot drift on what ``params.options`` may hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from .constants import DD_SEQUENCE_TYPES, MAX_COST_SECONDS

__all__ = [
    "DD_EXTRA_SLACK_DISTRIBUTIONS",
    "DD_SCHEDULING_METHODS",
    "DD_SEQUENCE_TYPES",
    "DEFAULT_LOG_LEVEL",
    "ESTIMATOR_OPTIONS",
    "ESTIMATOR_PARAMS_OPTIONS",
    "JOB_LEVEL_OPTIONS",
    "LOG_LEVELS",
    "MAX_EXECUTION_TIME",
    "MAX_RESILIENCE_LEVEL",
    "MEASURE_TYPES",
    "MIN_RESILIENCE_LEVEL",
    "OBJECT_OPTIONS",
    "OPTION_NAMES",
    "SAMPLER_OPTIONS",
    "TWIRLING_STRATEGIES",
    "ZNE_AMPLIFIERS",
    "ZNE_EXTRAPOLATORS",
]

# Option names ---------------------------------------------------------------------------------

#: The keys ``params.options`` of a sampler job may hold.
SAMPLER_OPTIONS: Final = (
    "default_shots",
    "dynamical_decoupling",
    "environment",
    "execution",
    "experimental",
    "max_execution_time",
    "simulator",
    "twirling",
)
#: The keys ``params.options`` of an estimator job may hold.
ESTIMATOR_OPTIONS: Final = (*SAMPLER_OPTIONS, "default_precision", "resilience", "seed_estimator")
#: The keys ``params.options`` may hold, by ``program_id``.
OPTION_NAMES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {"sampler": frozenset(SAMPLER_OPTIONS), "estimator": frozenset(ESTIMATOR_OPTIONS)}
)
#: Estimator options the client sends at the top level of ``params``, not in ``params.options``.
ESTIMATOR_PARAMS_OPTIONS: Final = ("resilience_level",)
#: Options the client sends as top-level fields of the job body (``log_level``, ``tags``,
#: ``private``, ``cost``) rather than in ``params.options``; the service accepts them in both.
JOB_LEVEL_OPTIONS: Final = ("environment", "max_execution_time")
#: Options whose value is a JSON object (a group of options), in the order the service checks
#: them.
OBJECT_OPTIONS: Final = (
    "dynamical_decoupling",
    "execution",
    "twirling",
    "simulator",
    "resilience",
    "environment",
    "experimental",
)

# Enum values ----------------------------------------------------------------------------------

#: ``dynamical_decoupling.extra_slack_distribution`` values.
DD_EXTRA_SLACK_DISTRIBUTIONS: Final = ("middle", "edges")
#: ``dynamical_decoupling.scheduling_method`` values.
DD_SCHEDULING_METHODS: Final = ("alap", "asap")
#: ``execution.meas_type`` values (sampler only).
MEASURE_TYPES: Final = ("classified", "kerneled", "avg_kerneled")
#: ``twirling.strategy`` values.
TWIRLING_STRATEGIES: Final = ("active", "active-accum", "active-circuit", "all")
#: ``environment.log_level`` values (the job body's ``log_level``), least severe first.
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The job body's ``log_level`` when the options set none.
DEFAULT_LOG_LEVEL: Final = "WARNING"
#: ``resilience.zne.amplifier`` values.
ZNE_AMPLIFIERS: Final = ("gate_folding", "gate_folding_front", "gate_folding_back", "pea")
#: ``resilience.zne.extrapolator`` values (one, or a list tried in order).
ZNE_EXTRAPOLATORS: Final = (
    "linear",
    "exponential",
    "double_exponential",
    "fallback",
    *(f"polynomial_degree_{k}" for k in range(1, 8)),
)

# Ranges ---------------------------------------------------------------------------------------

#: ``resilience_level`` range of the estimator (inclusive).
MIN_RESILIENCE_LEVEL: Final = 0
MAX_RESILIENCE_LEVEL: Final = 2
#: Upper bound of ``max_execution_time`` (seconds), the job's ``cost``.
MAX_EXECUTION_TIME: Final = MAX_COST_SECONDS
