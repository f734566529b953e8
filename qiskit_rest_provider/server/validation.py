"""What the service checks before it accepts a request: JSON bodies, job options and limits.

Everything here runs before a job is queued, so anything that would fail inside a worker (a seed
Aer refuses, a precision whose shot count overflows, a result too large to hold) is refused at
submission with a message that names the value and the limit. ISA checks live in
:mod:`..core.isa`.

Job options are checked against the protocol's option schema
(:data:`~qiskit_rest_provider.wire.options.OPTION_SCHEMAS`, in the module whose names, enums and
ranges the client's option classes are built from): a value the client refuses, the service
refuses with a 400 that names the option's path and what it accepts.

Limits (documented in ``docs/local_service.md``):

- request bodies: :data:`MAX_JOB_BODY_BYTES` for ``POST /v1/jobs``,
  :data:`MAX_TOKEN_BODY_BYTES` for ``POST /identity/token`` and :data:`MAX_BODY_BYTES` for every
  other request, counted on the bytes received whatever the framing (``Content-Length`` or
  chunked);
- JSON bodies: :data:`MAX_JSON_DEPTH` levels of nesting, :data:`MAX_JSON_VALUES` values;
- results: :data:`MAX_PUB_RESULT_BITS` per pub and :data:`MAX_JOB_RESULT_BITS` per job, counted
  as (parameter sets x shots x classical bits) for the sampler and (expectation values x 3
  float64) for the estimator.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from ..wire.constants import MAX_TAGS
from ..wire.options import (
    DEFAULT_RESILIENCE_LEVEL,
    ESTIMATOR_PARAMS_SCHEMA,
    OPTION_SCHEMAS,
    OptionGroupSpec,
    ValueSpec,
    resilience_problem,
)
from ..wire.options import LOG_LEVELS as OPTION_LOG_LEVELS
from .emulator.plan import (
    MAX_NOISE_FACTOR,
    MAX_NOISE_FACTORS,
    MAX_RANDOMIZATIONS,
    MAX_SIMULATED_SHOTS,
    estimator_shots,
    resilience_plans,
    twirling_plan,
)

__all__ = [
    "LOG_LEVELS",
    "MAX_BODY_BYTES",
    "MAX_JOB_BODY_BYTES",
    "MAX_JOB_RESULT_BITS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_NOISE_FACTOR",
    "MAX_NOISE_FACTORS",
    "MAX_PRECISION",
    "MAX_PUB_RESULT_BITS",
    "MAX_RANDOMIZATIONS",
    "MAX_SEED",
    "MAX_SIMULATED_SHOTS",
    "MAX_TAG_FILTERS",
    "MAX_TOKEN_BODY_BYTES",
    "MIN_PRECISION",
    "body_limit",
    "check_precision",
    "check_shots",
    "check_value",
    "describe_value",
    "is_utf8",
    "json_depth_exceeds",
    "json_shape_problem",
    "parse_json_body",
    "pub_result_bits",
    "pub_simulated_shots",
    "sampler_seed_fits",
    "validate_options",
]

#: Largest ``POST /v1/jobs`` body (bytes received, any framing).
MAX_JOB_BODY_BYTES: Final = 64 * 1024 * 1024
#: Largest ``POST /identity/token`` body: a form with one API key (unauthenticated route).
MAX_TOKEN_BODY_BYTES: Final = 64 * 1024
#: Largest body of any other request (tags, sessions): all are small JSON objects.
MAX_BODY_BYTES: Final = 1024 * 1024
#: Deepest JSON nesting accepted in a body; job bodies need about 10 levels.
MAX_JSON_DEPTH: Final = 64
#: Most values (numbers, strings, arrays, objects) in one JSON body. Parsing a million takes
#: about half a second; the official client sends arrays as compact ndarray wrappers instead.
MAX_JSON_VALUES: Final = 1_000_000
#: Largest sampler result of one pub, in bits: parameter sets x shots x classical bits (a 156-bit
#: register at 100,000 shots is 1.56e7; 32 bits at the simulator's 10^6 shots 3.2e7).
MAX_PUB_RESULT_BITS: Final = 50_000_000
#: Largest result of one job, in bits, summed over its pubs (300 pubs of 156 bits x 4096 shots
#: are 1.9e8). Packed, that is at most 31 MiB of result data per job.
MAX_JOB_RESULT_BITS: Final = 250_000_000
#: Bits an estimator result holds per expectation value (evs, stds, ensemble error: float64).
ESTIMATOR_BITS_PER_VALUE: Final = 3 * 64
#: Seeds Aer accepts (a signed 64-bit integer that is not negative).
MAX_SEED: Final = 2**63 - 1
#: Precision (target standard error) range of estimator pubs. Outside it the shot count derived
#: from the precision, 1/precision**2, overflows or Aer's sampling does.
MIN_PRECISION: Final = 1e-8
MAX_PRECISION: Final = 1e6
#: Shots accepted when a backend's configuration states no ``max_shots``.
DEFAULT_MAX_SHOTS: Final = 1_000_000
#: Most ``tags=`` filters in one job listing; a job holds at most ``MAX_TAGS`` tags, so more can
#: never match.
MAX_TAG_FILTERS: Final = MAX_TAGS
#: ``log_level`` values (the API's enum, case-insensitive), most severe first as this service's
#: messages have always listed them.
LOG_LEVELS: Final = OPTION_LOG_LEVELS[::-1]


def body_limit(method: str, path: str) -> int:
    """The largest body (bytes) a request to ``method path`` may carry."""
    if method == "POST" and path.endswith("/v1/jobs"):
        return MAX_JOB_BODY_BYTES
    if path == "/identity/token":
        return MAX_TOKEN_BODY_BYTES
    return MAX_BODY_BYTES


# JSON bodies ----------------------------------------------------------------------------------

#: A backslash escape inside a JSON string (removed before strings are, so ``\"`` cannot end one).
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
#: A JSON string once escapes are gone: the unrolled form is linear.
_STRING = re.compile(rb'"[^"]*"')
#: Every byte except the four brackets, for ``bytes.translate``.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: Bodies that may hold a lone surrogate escape or a float that overflows to infinity: only
#: these are walked after parsing (false positives just cost the walk).
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|[0-9][eE][+-]?[0-9]{3}|[0-9]{300}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DEPTH_CHUNK = 1 << 20


def _strip_strings(data: bytes | bytearray) -> bytes:
    """``data`` without its JSON strings (escapes first, so ``\\"`` cannot end a string)."""
    return _STRING.sub(b"", _ESCAPE.sub(b"", data))


def json_depth_exceeds(data: bytes | bytearray, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``data`` nests arrays/objects deeper than ``limit``.

    Linear in ``len(data)`` and done in C (regular expressions without nested quantifiers,
    ``bytes.translate`` and a chunked numpy prefix sum): strings are removed, the brackets left
    are turned into +1/-1 steps and the running depth is checked chunk by chunk. Malformed text
    is judged as well as it can be; ``json.loads`` rejects it afterwards.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    return _depth_exceeds(_strip_strings(data).translate(None, _NOT_BRACKETS), limit)


def _depth_exceeds(brackets: bytes, limit: int) -> bool:
    view = np.frombuffer(brackets, dtype=np.uint8)
    depth = 0
    for start in range(0, len(view), _DEPTH_CHUNK):
        chunk = view[start : start + _DEPTH_CHUNK]
        steps = np.where((chunk == ord("[")) | (chunk == ord("{")), 1, -1)
        levels = np.cumsum(steps) + depth
        if int(levels.max()) > limit:
            return True
        depth = int(levels[-1])
    return False


def json_shape_problem(data: bytes | bytearray) -> str | None:
    """Why the JSON text ``data`` is too deep or has too many values to parse, or None.

    Both are bounded before ``json.loads`` runs: its C parser holds the GIL (and so the whole
    service) for the whole parse, about half a second per million values on a loaded machine.
    """
    opens = data.count(b"[") + data.count(b"{")
    if opens <= MAX_JSON_DEPTH and opens + data.count(b",") < MAX_JSON_VALUES:
        return None  # counts over the raw text bound those outside strings
    stripped = _strip_strings(data)
    if stripped.count(b",") + stripped.count(b"[") + stripped.count(b"{") >= MAX_JSON_VALUES:
        return (
            f"The body holds more than {MAX_JSON_VALUES} JSON values; "
            "send large arrays as ndarray wrappers."
        )
    if _depth_exceeds(stripped.translate(None, _NOT_BRACKETS), MAX_JSON_DEPTH):
        return f"The body nests JSON deeper than {MAX_JSON_DEPTH} levels."
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _walk_strings_and_floats(value: Any) -> str | None:
    """The first problem with a parsed body's strings (lone surrogates) or floats (infinite),
    or None. Iterative, so any depth is fine."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "strings must be valid Unicode (a lone surrogate escape was found)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite (a number overflows a double)"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def parse_json_body(data: bytes | bytearray) -> Any:
    """Parse a request body as JSON, refusing what the API cannot store or answer.

    Raises ``ValueError`` (the message says why) for: text that is not UTF-8; nesting deeper
    than :data:`MAX_JSON_DEPTH` or more than :data:`MAX_JSON_VALUES` values; ``NaN``,
    ``Infinity`` and numbers that overflow a double; strings with lone surrogate escapes
    (``"\\ud800"``), which cannot be encoded as UTF-8 and so could not be stored or sent back.
    Linear time in the size of ``data``.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("The body is not UTF-8 text.") from None
    problem = json_shape_problem(data)
    if problem is not None:
        raise ValueError(problem)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # unreachable after the depth check; kept as a backstop
        raise ValueError(f"The body nests JSON deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError as exc:
        raise ValueError(f"The body is not valid JSON: {exc}") from None
    if _SUSPECT.search(data):
        problem = _walk_strings_and_floats(value)
        if problem is not None:
            raise ValueError(f"The body is not acceptable JSON: {problem}.")
    return value


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (holds no lone surrogate)."""
    return _SURROGATE.search(text) is None


# Options --------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_shots(value: Any, name: str, max_shots: int) -> None:
    """Raise ``ValueError`` unless ``value`` is None or an integer in ``1..max_shots``."""
    if value is not None and (not _is_int(value) or not 1 <= value <= max_shots):
        raise ValueError(f"{name} must be an integer in 1..{max_shots}")


def check_precision(value: Any, name: str) -> None:
    """Raise ``ValueError`` unless ``value`` is None or a number in the precision range."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not MIN_PRECISION <= value <= MAX_PRECISION
    ):
        raise ValueError(f"{name} must be a number in [{MIN_PRECISION:g}, {MAX_PRECISION:g}]")


def _check_seed(value: Any, name: str) -> None:
    if value is not None and (not _is_int(value) or not 0 <= value <= MAX_SEED):
        raise ValueError(f"{name} must be an integer in 0..2**63-1")


# Options against the protocol's schema (wire.options) -----------------------------------------

#: Longest rendering of a refused value in a message.
_SHOWN_CHARS = 60
#: Most unknown option names listed in one message.
_SHOWN_NAMES = 5


def _number_text(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _range_text(spec: ValueSpec) -> str:
    if spec.exclusive_minimum is not None:
        return f" > {_number_text(spec.exclusive_minimum)}"
    low, high = spec.minimum, spec.maximum
    if low is not None and high is not None:
        return f" in {_number_text(low)}..{_number_text(high)}"
    if low is not None:
        return f" >= {_number_text(low)}"
    if high is not None:
        return f" <= {_number_text(high)}"
    return ""


def describe_value(spec: ValueSpec) -> str:
    """What ``spec`` accepts, in words, with its range or allowed values (JSON spelling)."""
    kind = spec.kind
    if kind == "boolean":
        text = "true or false"
    elif kind == "integer":
        text = "an integer" + _range_text(spec)
    elif kind == "number":
        text = "a number" + _range_text(spec)
    elif kind == "choice":
        text = "one of " + ", ".join(json.dumps(c) for c in spec.choices)
    elif kind == "list":
        assert spec.items is not None
        item = describe_value(spec.items)
        least = f"at least {spec.min_items} " if spec.min_items else ""
        text = f"a list of {least}values, each {item}"
        if spec.single:
            text = f"{item}, or a list of {least}such values"
    elif kind == "strings":
        limits = []
        if spec.max_items is not None:
            limits.append(f"at most {spec.max_items} items")
        if spec.max_length is not None:
            limits.append(f"at most {spec.max_length} characters each")
        text = "a list of strings" + (f" ({', '.join(limits)})" if limits else "")
    elif kind == "object":
        text = "an object"
    elif kind == "edges":
        text = "a list of [integer, integer] pairs"
    else:
        text = "any value"
    if spec.auto:
        text += ' or "auto"'
    if spec.nullable:
        text = "null or " + text
    return text


def _show(value: Any) -> str:
    """A short rendering of a refused value (ASCII, so any string can be quoted back)."""
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, str):
        text = json.dumps(value[:_SHOWN_CHARS])
    elif _is_int(value) and abs(value) >= 10**_SHOWN_CHARS:
        return "a huge integer"
    else:
        text = json.dumps(value)
    return text if len(text) <= _SHOWN_CHARS + 2 else text[:_SHOWN_CHARS] + "..."


def _finite_number(value: Any) -> bool:
    if _is_int(value):
        try:
            float(value)  # an integer too large for a double is no finite number
        except OverflowError:
            return False
        return True
    return isinstance(value, float) and math.isfinite(value)


def _fits(spec: ValueSpec, value: Any) -> bool:
    """Whether ``value`` (not None, not "auto") is a ``spec`` (lists: their own shape only)."""
    kind = spec.kind
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        if not (_is_int(value) if kind == "integer" else _finite_number(value)):
            return False
        if spec.exclusive_minimum is not None and not value > spec.exclusive_minimum:
            return False
        if spec.minimum is not None and value < spec.minimum:
            return False
        return spec.maximum is None or value <= spec.maximum
    if kind == "choice":
        return isinstance(value, str) and value in spec.choices
    if kind == "strings":
        return (
            isinstance(value, list)
            and all(isinstance(v, str) for v in value)
            and (spec.max_items is None or len(value) <= spec.max_items)
            and (spec.max_length is None or all(len(v) <= spec.max_length for v in value))
        )
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "edges":
        return isinstance(value, list) and all(
            isinstance(pair, list) and len(pair) == 2 and all(_is_int(q) for q in pair)
            for pair in value
        )
    return kind == "any"


def check_value(path: str, spec: ValueSpec, value: Any) -> None:
    """Raise ``ValueError`` naming ``path`` and what it accepts unless ``value`` is a ``spec``.

    Linear in the size of ``value`` (lists are walked once, objects not at all).
    """
    if value is None:
        if spec.nullable or spec.kind == "any":
            return
    elif spec.auto and value == "auto":
        return
    elif spec.kind == "list":
        assert spec.items is not None
        if spec.single and not isinstance(value, list):
            check_value(path, spec.items, value)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_value(f"{path}[{i}]", spec.items, item)
            if len(value) >= spec.min_items:
                return
    elif _fits(spec, value):
        return
    raise ValueError(f"{path} must be {describe_value(spec)}; got {_show(value)}")


def _names(names: set[str]) -> str:
    shown = sorted(names)[:_SHOWN_NAMES]
    more = f" and {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    return ", ".join(_show(n) for n in shown) + more


def _check_group(path: str, schema: OptionGroupSpec, value: Any) -> None:
    """Check an object of options against ``schema``: an object, known names, valid values."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{path} must be an object; got {_show(value)}")
    unknown = set(value) - set(schema)
    if unknown:
        raise ValueError(
            f"unknown option(s) in {path}: {_names(unknown)}; {path} holds " + ", ".join(schema)
        )
    _check_fields(f"{path}.", schema, value)


def _check_fields(prefix: str, schema: OptionGroupSpec, value: Mapping[str, Any]) -> None:
    """Check the values of the known names of ``value`` (paths ``prefix`` + name)."""
    for name, spec in schema.items():
        if name in value:
            if isinstance(spec, ValueSpec):
                check_value(prefix + name, spec, value[name])
            else:
                _check_group(prefix + name, spec, value[name])


def validate_options(
    program: str,
    options: Mapping[str, Any],
    *,
    max_shots: int = DEFAULT_MAX_SHOTS,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Raise ``ValueError`` naming the first invalid option, what it accepts and what it got.

    ``options`` (a job's ``params.options``) is checked against the protocol's schema
    (:data:`~qiskit_rest_provider.wire.options.OPTION_SCHEMAS`): names, types, enums and
    ranges of every nested value. So are the options the estimator takes at the top level of
    ``params`` (``resilience_level``; pass the job's ``params``), then the estimator's
    cross-option rules. Values the simulation reads (shots, precision, seeds) are then checked
    against the ranges it can actually run with, so a job accepted here does not fail in the
    worker for its options.
    """
    schema = OPTION_SCHEMAS["sampler" if program == "sampler" else "estimator"]
    top = {k: v for k, v in (params or {}).items() if k in ESTIMATOR_PARAMS_SCHEMA}
    if top and program == "sampler":
        raise ValueError(
            ", ".join(f"params.{name}" for name in sorted(top)) + " applies to the estimator only"
        )
    _check_group("params", ESTIMATOR_PARAMS_SCHEMA, top)
    unknown = set(options) - set(schema)
    if unknown:
        raise ValueError(
            f"unknown option(s) for {program}: {_names(unknown)}; its options are "
            + ", ".join(sorted(schema))
        )
    _check_fields("", schema, options)
    check_shots(options.get("default_shots"), "default_shots", max_shots)
    check_precision(options.get("default_precision"), "default_precision")
    _check_seed(options.get("seed_estimator"), "seed_estimator")
    _check_seed((options.get("simulator") or {}).get("seed_simulator"), "simulator.seed_simulator")
    if program != "sampler":
        _check_resilience(options.get("resilience") or {}, top.get("resilience_level"))
    _check_emulation(options, max_shots)


def _randomizations(path: str, group: Any, max_shots: int) -> None:
    if not isinstance(group, Mapping):
        return
    count, per = group.get("num_randomizations"), group.get("shots_per_randomization")
    if isinstance(count, int) and count > MAX_RANDOMIZATIONS:
        raise ValueError(
            f"{path}.num_randomizations is {count}; the service runs at most "
            f"{MAX_RANDOMIZATIONS} randomizations per pub"
        )
    if isinstance(per, int) and per > max_shots:
        raise ValueError(f"{path}.shots_per_randomization is {per}, above max_shots={max_shots}")
    if isinstance(count, int) and isinstance(per, int) and count * per > max_shots:
        raise ValueError(
            f"{path}.num_randomizations x shots_per_randomization = {count * per} shots, "
            f"above max_shots={max_shots}"
        )


def _check_emulation(options: Mapping[str, Any], max_shots: int) -> None:
    """What the emulator can run: randomizations and shots within the device's limits, ZNE
    noise factors it can fold to (each folded gate is simulated)."""
    _randomizations("twirling", options.get("twirling"), max_shots)
    resilience = options.get("resilience")
    if not isinstance(resilience, Mapping):
        return
    _randomizations(
        "resilience.measure_noise_learning", resilience.get("measure_noise_learning"), max_shots
    )
    zne = resilience.get("zne")
    factors = zne.get("noise_factors") if isinstance(zne, Mapping) else None
    if isinstance(factors, list):
        if len(factors) > MAX_NOISE_FACTORS:
            raise ValueError(
                f"resilience.zne.noise_factors has {len(factors)} factors; the service runs at "
                f"most {MAX_NOISE_FACTORS}"
            )
        big = [f for f in factors if isinstance(f, (int, float)) and f > MAX_NOISE_FACTOR]
        if big:
            raise ValueError(
                f"resilience.zne.noise_factors includes {big[0]}; the service amplifies noise "
                f"up to a factor of {MAX_NOISE_FACTOR:g}"
            )


def _check_resilience(resilience: Mapping[str, Any], resilience_level: int | None) -> None:
    """The estimator's cross-option rules (IBM's, shared with the client's options)."""
    problem = resilience_problem(resilience, resilience_level)
    if problem is not None:
        raise ValueError(problem)


def sampler_seed_fits(options: Mapping[str, Any], num_pubs: int) -> bool:
    """Whether the sampler's seed stays in Aer's range for every pub (pub ``i`` runs with
    ``seed_simulator + i``)."""
    sim = options.get("simulator") or {}
    seed = sim.get("seed_simulator") if isinstance(sim, Mapping) else None
    if not isinstance(seed, int):
        return True
    return seed + max(0, num_pubs - 1) <= MAX_SEED


# Result size ----------------------------------------------------------------------------------


def pub_result_bits(program: str, pub: Any, options: Mapping[str, Any] | None = None) -> int:
    """The size (bits) of a decoded pub's result, before it runs.

    Sampler: parameter sets x shots run (with twirling, randomizations x shots per
    randomization) x classical bits (at least one bit per shot, so a pub without measurements
    is charged for its shots too); kerneled data count 128 bits a point. Estimator:
    expectation values x :data:`ESTIMATOR_BITS_PER_VALUE`.
    """
    sets = math.prod(_shape(pub))
    if program == "sampler":
        shots = twirling_plan(options or {}, int(pub.shots or 0)).shots
        execution = (options or {}).get("execution")
        meas_type = execution.get("meas_type") if isinstance(execution, Mapping) else None
        per_bit = 128 if meas_type == "kerneled" else 1
        if meas_type == "avg_kerneled":
            shots, per_bit = 1, 128
        return sets * shots * max(1, int(pub.circuit.num_clbits)) * per_bit
    return sets * ESTIMATOR_BITS_PER_VALUE


def pub_simulated_shots(
    program: str,
    pub: Any,
    options: Mapping[str, Any] | None = None,
    max_shots: int = 0,
    resilience_level: int | None = None,
) -> int:
    """Shots the emulator would simulate for a decoded pub, at least: parameter sets x shots
    run (sampler: with twirling, randomizations x shots per randomization, whatever
    ``meas_type`` returns; estimator: ``default_shots`` or the shots its precision asks for,
    capped at ``max_shots``, times the ZNE noise factors; the measurement bases multiply
    that again when the pub runs)."""
    options = options or {}
    sets = math.prod(_shape(pub))
    if program == "sampler":
        return sets * twirling_plan(options, int(pub.shots or 0)).shots
    shots, _precision = estimator_shots(pub.precision, options.get("default_shots"), max_shots)
    level = resilience_level if isinstance(resilience_level, int) else DEFAULT_RESILIENCE_LEVEL
    _trex, zne, _pec = resilience_plans(options, level, shots)
    factors = len(zne.noise_factors) if zne is not None else 1
    return sets * shots * factors


def _shape(pub: Any) -> Sequence[int]:
    return tuple(int(n) for n in pub.shape)
