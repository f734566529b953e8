"""The primitives' options as the protocol defines them: names, types, enum values and ranges.

Standard library only. Both halves are built from :data:`OPTION_SCHEMAS`, the names, types,
enums and ranges written down as data: the client's option classes
(:mod:`qiskit_rest_provider.client.options.schema`) get one validator per leaf from it, and the
local service's option checks (:mod:`qiskit_rest_provider.server.validation`) walk it, so the
two cannot drift on what ``params.options`` may hold. The estimator's cross-option rules use
the defaults and :func:`zne_noise_factors_needed` below on both sides.

Every leaf option is a :class:`ValueSpec`: the JSON values it accepts. A group of options
(``twirling``, ``resilience.zne``, ...) is a mapping from names to specs or further groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final, Literal, Union

from .constants import DD_SEQUENCE_TYPES, MAX_COST_SECONDS, MAX_TAG_LENGTH, MAX_TAGS

__all__ = [
    "DD_EXTRA_SLACK_DISTRIBUTIONS",
    "DD_SCHEDULING_METHODS",
    "DD_SEQUENCE_TYPES",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_RESILIENCE_LEVEL",
    "DYNAMICAL_DECOUPLING",
    "ENVIRONMENT",
    "ESTIMATOR_OPTIONS",
    "ESTIMATOR_PARAMS_OPTIONS",
    "ESTIMATOR_PARAMS_SCHEMA",
    "ESTIMATOR_SCHEMA",
    "ESTIMATOR_TWIRLING",
    "EXECUTION",
    "JOB_LEVEL_OPTIONS",
    "LAYER_NOISE_LEARNING",
    "LOG_LEVELS",
    "MAX_EXECUTION_TIME",
    "MAX_RESILIENCE_LEVEL",
    "MEASURE_NOISE_LEARNING",
    "MEASURE_TYPES",
    "MIN_EXECUTION_TIME",
    "MIN_RESILIENCE_LEVEL",
    "OBJECT_OPTIONS",
    "OPTION_NAMES",
    "OPTION_SCHEMAS",
    "PEC",
    "RESILIENCE",
    "SAMPLER_EXECUTION",
    "SAMPLER_OPTIONS",
    "SAMPLER_SCHEMA",
    "SIMULATION_METHODS",
    "SIMULATOR",
    "TWIRLING",
    "TWIRLING_STRATEGIES",
    "ZNE",
    "ZNE_AMPLIFIERS",
    "ZNE_DEFAULT_EXTRAPOLATORS",
    "ZNE_DEFAULT_NOISE_FACTORS",
    "ZNE_EXTRAPOLATORS",
    "OptionGroupSpec",
    "ValueKind",
    "ValueSpec",
    "resilience_problem",
    "zne_factors_problem",
    "zne_noise_factors_needed",
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
#: The estimator's ``resilience_level`` when the job states none.
DEFAULT_RESILIENCE_LEVEL: Final = 1
#: Range of ``max_execution_time`` (seconds, inclusive), sent as the job's ``cost``.
MIN_EXECUTION_TIME: Final = 1
MAX_EXECUTION_TIME: Final = MAX_COST_SECONDS

# Cross-option rules ---------------------------------------------------------------------------

#: ``resilience.zne.noise_factors`` when the options set none.
ZNE_DEFAULT_NOISE_FACTORS: Final = (1.0, 3.0, 5.0)
#: ``resilience.zne.extrapolator`` when the options set none (tried in this order).
ZNE_DEFAULT_EXTRAPOLATORS: Final = ("exponential", "linear")
#: Fewest noise factors each extrapolator fits (``polynomial_degree_k`` needs ``k + 1``).
_ZNE_MIN_NOISE_FACTORS: Final = MappingProxyType(
    {"linear": 2, "exponential": 2, "fallback": 2, "double_exponential": 4}
)


def resilience_problem(
    resilience: Mapping[str, object], resilience_level: int | None
) -> str | None:
    """Why the estimator's ``resilience`` options contradict each other (IBM's rules and
    messages, naming the option paths), or None. The client's options and the service's
    validation both ask this; ``resilience_level`` None means the default level."""
    if resilience.get("pec_mitigation") and resilience.get("zne_mitigation"):
        return (
            "'pec_mitigation' and 'zne_mitigation' options cannot be simultaneously enabled. "
            "Set one of them to False. (resilience.pec_mitigation, resilience.zne_mitigation)"
        )
    mitigation = resilience.get("measure_mitigation")
    if mitigation is None:  # the service turns it on from resilience level 1
        level = DEFAULT_RESILIENCE_LEVEL if resilience_level is None else resilience_level
        mitigation = level >= 1
    if resilience.get("measure_noise_learning") and not mitigation:
        return (
            "'measure_noise_learning' options are set, but 'measure_mitigation' is not set to "
            "True. (resilience.measure_noise_learning, resilience.measure_mitigation)"
        )
    zne = resilience.get("zne")
    return zne_factors_problem(zne if isinstance(zne, Mapping) else {})


def zne_factors_problem(zne: Mapping[str, object]) -> str | None:
    """Why ``resilience.zne``'s extrapolators cannot fit its noise factors (defaults where a
    key is absent), or None: each extrapolator needs :func:`zne_noise_factors_needed` factors.
    The client's options and the service's validation both ask this."""
    factors = zne.get("noise_factors", ZNE_DEFAULT_NOISE_FACTORS)
    extrapolators = zne.get("extrapolator", ZNE_DEFAULT_EXTRAPOLATORS)
    names = [extrapolators] if isinstance(extrapolators, str) else extrapolators
    if not isinstance(factors, (list, tuple)) or not isinstance(names, (list, tuple)):
        return None  # malformed values are the leaf checks' business
    for name in names:
        needed = zne_noise_factors_needed(str(name))
        if needed is not None and len(factors) < needed:
            return (
                f'resilience.zne.extrapolator "{name}" needs at least {needed} noise factors; '
                f"resilience.zne.noise_factors has {len(factors)}"
            )
    return None


def zne_noise_factors_needed(extrapolator: str) -> int | None:
    """The fewest ``resilience.zne.noise_factors`` the extrapolator ``extrapolator`` needs
    (None for a name that is not an extrapolator)."""
    needed = _ZNE_MIN_NOISE_FACTORS.get(extrapolator)
    if needed is None and extrapolator in ZNE_EXTRAPOLATORS:
        needed = int(extrapolator.rsplit("_", 1)[1]) + 1  # polynomial_degree_k
    return needed


# Types of the values ---------------------------------------------------------------------------

#: What a :class:`ValueSpec` checks:
#:
#: - ``boolean``: ``true`` or ``false`` (not 0/1);
#: - ``integer``: an integer, not a boolean, in ``minimum..maximum`` (either bound optional);
#: - ``number``: a finite number (integer or float, not a boolean), ``> exclusive_minimum``
#:   and ``>= minimum`` when they are set;
#: - ``choice``: one of the strings ``choices``;
#: - ``list``: a JSON array of at least ``min_items`` values, each an ``items``;
#: - ``strings``: a JSON array of at most ``max_items`` strings of at most ``max_length``
#:   characters each;
#: - ``object``: any JSON object;
#: - ``edges``: a coupling map, a JSON array of ``[integer, integer]`` pairs;
#: - ``any``: any JSON value.
ValueKind = Literal[
    "boolean", "integer", "number", "choice", "list", "strings", "object", "edges", "any"
]


@dataclass(frozen=True)
class ValueSpec:
    """The JSON values one option (a leaf of ``params.options``) accepts.

    Attributes:
        kind: The type of the value (see :data:`ValueKind`).
        minimum: ``integer``, ``number``: the smallest value allowed (inclusive).
        maximum: ``integer``: the largest value allowed (inclusive).
        exclusive_minimum: ``number``: the value must be greater than this.
        choices: ``choice``: the strings allowed.
        items: ``list``: what each item accepts.
        min_items: ``list``: the fewest items.
        max_items: ``strings``: the most items.
        max_length: ``strings``: the most characters per item.
        nullable: ``null`` is accepted too.
        auto: the string ``"auto"`` is accepted too.
        single: ``list``: one item on its own is accepted in place of the list.
    """

    kind: ValueKind
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    choices: tuple[str, ...] = ()
    items: ValueSpec | None = None
    min_items: int = 0
    max_items: int | None = None
    max_length: int | None = None
    nullable: bool = False
    auto: bool = False
    single: bool = False


#: A group of options: names to leaf specs or nested groups.
OptionGroupSpec = Mapping[str, Union[ValueSpec, "OptionGroupSpec"]]


def _group(fields: Mapping[str, ValueSpec | OptionGroupSpec]) -> OptionGroupSpec:
    return MappingProxyType(dict(fields))


def _nullable(spec: ValueSpec) -> ValueSpec:
    return replace(spec, nullable=True)


def _or_auto(spec: ValueSpec) -> ValueSpec:
    return replace(spec, auto=True)


_BOOLEAN: Final = ValueSpec("boolean")
_OBJECT: Final = ValueSpec("object")
_POSITIVE_INT: Final = ValueSpec("integer", minimum=1)


def _choice(values: tuple[str, ...]) -> ValueSpec:
    return ValueSpec("choice", choices=values)


# The schema ------------------------------------------------------------------------------------

#: ``dynamical_decoupling``.
DYNAMICAL_DECOUPLING: Final = _group(
    {
        "enable": _BOOLEAN,
        "sequence_type": _choice(DD_SEQUENCE_TYPES),
        "extra_slack_distribution": _choice(DD_EXTRA_SLACK_DISTRIBUTIONS),
        "scheduling_method": _choice(DD_SCHEDULING_METHODS),
        "skip_reset_qubits": _BOOLEAN,
    }
)
#: ``execution`` of the estimator (seconds for ``rep_delay``).
EXECUTION: Final = _group(
    {"init_qubits": _BOOLEAN, "rep_delay": _nullable(ValueSpec("number", minimum=0))}
)
#: ``execution`` of the sampler.
SAMPLER_EXECUTION: Final = _group({**EXECUTION, "meas_type": _choice(MEASURE_TYPES)})
#: ``twirling`` of the sampler.
TWIRLING: Final = _group(
    {
        "enable_gates": _BOOLEAN,
        "enable_measure": _BOOLEAN,
        "num_randomizations": _or_auto(_POSITIVE_INT),
        "shots_per_randomization": _or_auto(_POSITIVE_INT),
        "strategy": _choice(TWIRLING_STRATEGIES),
    }
)
#: ``twirling`` of the estimator: ``enable_*`` may be null (the resilience level decides).
ESTIMATOR_TWIRLING: Final = _group(
    {**TWIRLING, "enable_gates": _nullable(_BOOLEAN), "enable_measure": _nullable(_BOOLEAN)}
)
#: ``simulator.method``: how the local service simulates (not an IBM option; IBM's devices
#: ignore it). ``"automatic"`` lets the service choose per circuit.
SIMULATION_METHODS: Final = (
    "automatic",
    "statevector",
    "density_matrix",
    "stabilizer",
    "matrix_product_state",
)
#: ``simulator``.
SIMULATOR: Final = _group(
    {
        "method": _choice(SIMULATION_METHODS),
        "noise_model": _nullable(_OBJECT),
        "seed_simulator": _nullable(ValueSpec("integer")),
        "coupling_map": _nullable(ValueSpec("edges")),
        "basis_gates": _nullable(ValueSpec("strings")),
    }
)
#: ``environment`` (sent as the job's ``log_level``, ``tags`` and ``private``).
ENVIRONMENT: Final = _group(
    {
        "log_level": _choice(LOG_LEVELS),
        "job_tags": ValueSpec("strings", max_items=MAX_TAGS, max_length=MAX_TAG_LENGTH),
        "private": _BOOLEAN,
    }
)
#: ``resilience.measure_noise_learning``.
MEASURE_NOISE_LEARNING: Final = _group(
    {"num_randomizations": _POSITIVE_INT, "shots_per_randomization": _or_auto(_POSITIVE_INT)}
)
#: ``resilience.zne``.
ZNE: Final = _group(
    {
        "amplifier": _choice(ZNE_AMPLIFIERS),
        "noise_factors": ValueSpec("list", items=ValueSpec("number", minimum=1), min_items=1),
        "extrapolator": ValueSpec(
            "list", items=_choice(ZNE_EXTRAPOLATORS), min_items=1, single=True
        ),
        "extrapolated_noise_factors": _or_auto(ValueSpec("list", items=ValueSpec("number"))),
    }
)
#: ``resilience.pec``.
PEC: Final = _group(
    {
        "max_overhead": _nullable(ValueSpec("number", exclusive_minimum=0)),
        "noise_gain": _or_auto(ValueSpec("number", minimum=0)),
    }
)
#: ``resilience.layer_noise_learning``.
LAYER_NOISE_LEARNING: Final = _group(
    {
        "max_layers_to_learn": _nullable(ValueSpec("integer", minimum=0)),
        "shots_per_randomization": _POSITIVE_INT,
        "num_randomizations": _POSITIVE_INT,
        "layer_pair_depths": ValueSpec("list", items=ValueSpec("integer", minimum=0)),
    }
)
#: ``resilience`` (estimator only).
RESILIENCE: Final = _group(
    {
        "measure_mitigation": _nullable(_BOOLEAN),
        "measure_noise_learning": MEASURE_NOISE_LEARNING,
        "zne_mitigation": _nullable(_BOOLEAN),
        "zne": ZNE,
        "pec_mitigation": _BOOLEAN,
        "pec": PEC,
        "layer_noise_learning": LAYER_NOISE_LEARNING,
        "layer_noise_model": ValueSpec("any"),
    }
)
_COMMON: Final[dict[str, ValueSpec | OptionGroupSpec]] = {
    "dynamical_decoupling": DYNAMICAL_DECOUPLING,
    "simulator": SIMULATOR,
    "environment": ENVIRONMENT,
    "max_execution_time": ValueSpec(
        "integer", minimum=MIN_EXECUTION_TIME, maximum=MAX_EXECUTION_TIME
    ),
    "experimental": _OBJECT,
}
#: What ``params.options`` of a sampler job may hold.
SAMPLER_SCHEMA: Final = _group(
    {
        **_COMMON,
        "default_shots": _POSITIVE_INT,
        "execution": SAMPLER_EXECUTION,
        "twirling": TWIRLING,
    }
)
#: What ``params.options`` of an estimator job may hold.
ESTIMATOR_SCHEMA: Final = _group(
    {
        **_COMMON,
        "default_precision": ValueSpec("number", exclusive_minimum=0),
        "default_shots": _nullable(_POSITIVE_INT),
        "seed_estimator": _nullable(ValueSpec("integer", minimum=0)),
        "execution": EXECUTION,
        "twirling": ESTIMATOR_TWIRLING,
        "resilience": RESILIENCE,
    }
)
#: Estimator options at the top level of ``params`` (:data:`ESTIMATOR_PARAMS_OPTIONS`).
ESTIMATOR_PARAMS_SCHEMA: Final = _group(
    {
        "resilience_level": ValueSpec(
            "integer", minimum=MIN_RESILIENCE_LEVEL, maximum=MAX_RESILIENCE_LEVEL
        )
    }
)
#: ``params.options`` schemas by ``program_id``.
OPTION_SCHEMAS: Final[Mapping[str, OptionGroupSpec]] = MappingProxyType(
    {"sampler": SAMPLER_SCHEMA, "estimator": ESTIMATOR_SCHEMA}
)


def _check_tables() -> None:
    """Refuse, at import, tables that disagree on the option names."""
    for program, schema in OPTION_SCHEMAS.items():
        if frozenset(schema) != OPTION_NAMES[program]:
            raise RuntimeError(f"OPTION_SCHEMAS[{program!r}] and OPTION_NAMES disagree")
        groups = [name for name, spec in schema.items() if not isinstance(spec, ValueSpec)]
        if not set(groups) <= set(OBJECT_OPTIONS):
            raise RuntimeError(f"{program}: groups {groups} missing from OBJECT_OPTIONS")
    if frozenset(ESTIMATOR_PARAMS_SCHEMA) != frozenset(ESTIMATOR_PARAMS_OPTIONS):
        raise RuntimeError("ESTIMATOR_PARAMS_SCHEMA and ESTIMATOR_PARAMS_OPTIONS disagree")


_check_tables()
