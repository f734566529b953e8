"""Options of the V2 primitives (reference §4.4), validated as they are set.

Every option starts *unset*: reading it gives :data:`Unset` and it is not sent, so the service's
defaults apply. Setting a value validates its type and range at once and raises ``ValueError`` or
``TypeError`` naming the option. Options are reachable as attributes
(``options.twirling.enable_gates = True``) and updated from dicts
(``options.update(default_shots=1000, twirling={"enable_gates": True})``). ``to_params()`` gives
what goes into ``params.options``; :meth:`PrimitiveOptions.job_fields` what goes to the top level
of the job body (``log_level``, ``tags``, ``private``, ``cost``, ``runtime``).
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..wire.constants import DD_SEQUENCE_TYPES, MAX_COST_SECONDS, MAX_TAG_LENGTH, MAX_TAGS

__all__ = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorOptions",
    "ExecutionOptions",
    "LayerNoiseLearningOptions",
    "MeasureNoiseLearningOptions",
    "PecOptions",
    "PrimitiveOptions",
    "ResilienceOptions",
    "SamplerOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "Unset",
    "ZneOptions",
]


class _UnsetType:
    _instance: ClassVar[_UnsetType | None] = None

    def __new__(cls) -> _UnsetType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unset"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _UnsetType:
        return self

    def __deepcopy__(self, memo: Any) -> _UnsetType:
        return self


#: The value of an option nobody set (the service's default applies).
Unset: Any = _UnsetType()

Check = Callable[[str, Any], Any]

# Validators: each takes the option path (for messages) and the value, returns the value to
# store (possibly normalised) or raises.


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{path} must be True or False, not {value!r}")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(path: str, value: Any) -> int:
        if not _is_int(value):
            raise TypeError(f"{path} must be an integer, not {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"{path} must be >= {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ValueError(f"{path} must be <= {maximum}, not {value}")
        return int(value)

    return check


def real(*, gt: float | None = None, ge: float | None = None) -> Check:
    def check(path: str, value: Any) -> float:
        if not _is_real(value):
            raise TypeError(f"{path} must be a finite number, not {value!r}")
        if gt is not None and value <= gt:
            raise ValueError(f"{path} must be > {gt}, not {value}")
        if ge is not None and value < ge:
            raise ValueError(f"{path} must be >= {ge}, not {value}")
        return float(value)

    return check


def choice(*values: str) -> Check:
    def check(path: str, value: Any) -> str:
        if value not in values:
            raise ValueError(f"{path} must be one of {', '.join(map(repr, values))}; got {value!r}")
        return str(value)

    return check


def nullable(inner: Check) -> Check:
    def check(path: str, value: Any) -> Any:
        return None if value is None else inner(path, value)

    return check


def either_auto(inner: Check) -> Check:
    def check(path: str, value: Any) -> Any:
        return "auto" if value == "auto" else inner(path, value)

    return check


def list_of(inner: Check, *, min_length: int = 0) -> Check:
    def check(path: str, value: Any) -> list[Any]:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{path} must be a list, not {value!r}")
        items = [inner(f"{path}[{i}]", v) for i, v in enumerate(value)]
        if len(items) < min_length:
            raise ValueError(f"{path} needs at least {min_length} item(s)")
        return items

    return check


def string_list(*, max_items: int | None = None, max_length: int | None = None) -> Check:
    def check(path: str, value: Any) -> list[str]:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise TypeError(f"{path} must be a list of strings, not {value!r}")
        items = list(value)
        if not all(isinstance(v, str) for v in items):
            raise TypeError(f"{path} must hold strings only")
        if max_items is not None and len(items) > max_items:
            raise ValueError(f"{path} holds at most {max_items} items")
        if max_length is not None and any(len(v) > max_length for v in items):
            raise ValueError(f"{path}: each item is at most {max_length} characters")
        return items

    return check


def mapping(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{path} must be a dict, not {value!r}")
    return dict(value)


def anything(path: str, value: Any) -> Any:
    return value


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


_EXTRAPOLATORS = (
    "linear",
    "exponential",
    "double_exponential",
    "fallback",
    *(f"polynomial_degree_{k}" for k in range(1, 8)),
)


def _extrapolator(path: str, value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    check = list_of(choice(*_EXTRAPOLATORS), min_length=1)
    result = check(path, items)
    return result[0] if isinstance(value, str) else result


class OptionGroup:
    """A group of options; subclasses list their options in ``_fields``.

    A field is either a validator (a leaf option) or an ``OptionGroup`` subclass (a nested group).
    """

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {}
    _path: str

    def __init__(self, _path: str = "", **values: Any) -> None:
        object.__setattr__(self, "_path", _path)
        object.__setattr__(self, "_values", {})
        for name, field in self._fields.items():
            if isinstance(field, type):
                self._values[name] = field(self._child_path(name))
        self.update(**values)

    _values: dict[str, Any]

    def _child_path(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _field(self, name: str) -> Check | type[OptionGroup]:
        try:
            return self._fields[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f"{type(self).__name__}"
            raise AttributeError(f"{where} has no option {name!r}{hint}") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._field(name)
        return self._values.get(name, Unset)

    def __setattr__(self, name: str, value: Any) -> None:
        field = self._field(name)
        path = self._child_path(name)
        if isinstance(field, type):
            if isinstance(value, field):
                self._values[name] = copy.deepcopy(value)
                object.__setattr__(self._values[name], "_path", path)
            elif isinstance(value, Mapping):
                group = field(path)
                group.update(**value)
                self._values[name] = group
            else:
                raise TypeError(f"{path} must be a dict or {field.__name__}, not {value!r}")
            return
        if value is Unset:
            self._values.pop(name, None)
            return
        self._values[name] = field(path, value)

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, Unset)

    def update(self, **values: Any) -> None:
        """Set several options; nested groups take dicts and are updated, not replaced."""
        for name, value in values.items():
            field = self._field(name)
            if isinstance(field, type) and isinstance(value, Mapping):
                self._values[name].update(**value)
            else:
                setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The options that were set, nested; empty groups are left out."""
        result: dict[str, Any] = {}
        for name, value in self._values.items():
            if isinstance(value, OptionGroup):
                sub = value.to_dict()
                if sub:
                    result[name] = sub
            else:
                result[name] = copy.deepcopy(value)
        return result

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, OptionGroup)
            and type(self) is type(other)
            and (self.to_dict() == other.to_dict())
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({items})"

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._fields})


class DynamicalDecouplingOptions(OptionGroup):
    """``dynamical_decoupling``: pad idle periods with a pulse sequence."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "enable": boolean,
        "sequence_type": choice(*DD_SEQUENCE_TYPES),
        "extra_slack_distribution": choice("middle", "edges"),
        "scheduling_method": choice("alap", "asap"),
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
        "meas_type": choice("classified", "kerneled", "avg_kerneled"),
    }


class TwirlingOptions(OptionGroup):
    """``twirling``: Pauli twirling of gates and measurements."""

    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        "enable_gates": boolean,
        "enable_measure": boolean,
        "num_randomizations": either_auto(integer(1)),
        "shots_per_randomization": either_auto(integer(1)),
        "strategy": choice("active", "active-accum", "active-circuit", "all"),
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
        "log_level": choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
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
        "amplifier": choice("gate_folding", "gate_folding_front", "gate_folding_back", "pea"),
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


_MIN_FACTORS = {"linear": 2, "exponential": 2, "fallback": 2, "double_exponential": 4}


class PrimitiveOptions(OptionGroup):
    """Options shared by both primitives; see :class:`SamplerOptions`, :class:`EstimatorOptions`."""

    #: Options that go to the job body's top level rather than into ``params.options``.
    _job_level: ClassVar[frozenset[str]] = frozenset({"environment", "max_execution_time"})
    #: Options that go to the top level of ``params``.
    _params_level: ClassVar[frozenset[str]] = frozenset()

    def to_params(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(params.options, extra top-level params)`` with only the options that were set."""
        self.validate()
        options = self.to_dict()
        for key in self._job_level:
            options.pop(key, None)
        extra = {key: options.pop(key) for key in self._params_level if key in options}
        experimental = options.pop("experimental", None)
        if isinstance(experimental, dict):
            # As the official client does: known option names are merged into the options,
            # anything else stays under "experimental"; "image" goes to the job's "runtime".
            unknown: dict[str, Any] = {}
            for key, value in experimental.items():
                if key == "image":
                    continue
                if key in self._fields and key not in self._job_level:
                    options[key] = _merge(options.get(key), value)
                else:
                    unknown[key] = value
            if unknown:
                options["experimental"] = unknown
        return options, extra

    def job_fields(self) -> dict[str, Any]:
        """Top-level job-body fields: log_level, tags, private, cost and runtime."""
        env = self.to_dict().get("environment", {})
        fields: dict[str, Any] = {"log_level": env.get("log_level", "WARNING")}
        if env.get("job_tags"):
            fields["tags"] = list(env["job_tags"])
        if env.get("private"):
            fields["private"] = True
        cost = self._values.get("max_execution_time")
        if cost is not None:
            fields["cost"] = cost
        experimental = self._values.get("experimental")
        if isinstance(experimental, Mapping) and experimental.get("image"):
            fields["runtime"] = str(experimental["image"])
        return fields

    def validate(self) -> None:
        """Cross-option checks (single options are checked when set)."""


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, Mapping):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return copy.deepcopy(extra)


_COMMON: dict[str, Check | type[OptionGroup]] = {
    "dynamical_decoupling": DynamicalDecouplingOptions,
    "simulator": SimulatorOptions,
    "environment": EnvironmentOptions,
    "max_execution_time": integer(1, MAX_COST_SECONDS),
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


class EstimatorOptions(PrimitiveOptions):
    """Options of :class:`~qiskit_rest_provider.EstimatorV2`.

    Fields: ``resilience_level`` (0-2, sent at the top level of ``params``),
    ``default_precision``, ``default_shots``, ``seed_estimator``, ``resilience``,
    ``dynamical_decoupling``, ``execution``, ``twirling``, ``simulator``, ``environment``,
    ``max_execution_time`` and ``experimental``.
    """

    _params_level: ClassVar[frozenset[str]] = frozenset({"resilience_level"})
    _fields: ClassVar[dict[str, Check | type[OptionGroup]]] = {
        **_COMMON,
        "resilience_level": integer(0, 2),
        "default_precision": real(gt=0),
        "default_shots": nullable(integer(1)),
        "seed_estimator": nullable(integer(0)),
        "execution": ExecutionOptions,
        "twirling": EstimatorTwirlingOptions,
        "resilience": ResilienceOptions,
    }

    def validate(self) -> None:
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
