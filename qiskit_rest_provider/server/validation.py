"""What the service checks before it accepts a request: JSON bodies, job options and limits.

Everything here runs before a job is queued, so anything that would fail inside a worker (a seed
Aer refuses, a precision whose shot count overflows, a result too large to hold) is refused at
submission with a message that names the value and the limit. ISA checks live in :mod:`..isa`.

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

from ..wire.constants import DD_SEQUENCE_TYPES, MAX_COST_SECONDS, MAX_TAGS
from ..wire.options import LOG_LEVELS as OPTION_LOG_LEVELS
from ..wire.options import OBJECT_OPTIONS, OPTION_NAMES

__all__ = [
    "LOG_LEVELS",
    "MAX_BODY_BYTES",
    "MAX_JOB_BODY_BYTES",
    "MAX_JOB_RESULT_BITS",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_PRECISION",
    "MAX_PUB_RESULT_BITS",
    "MAX_SEED",
    "MAX_TAG_FILTERS",
    "MAX_TOKEN_BODY_BYTES",
    "MIN_PRECISION",
    "body_limit",
    "check_precision",
    "check_shots",
    "is_utf8",
    "json_depth_exceeds",
    "json_shape_problem",
    "parse_json_body",
    "pub_result_bits",
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


def validate_options(
    program: str, options: Mapping[str, Any], *, max_shots: int = DEFAULT_MAX_SHOTS
) -> None:
    """Raise ``ValueError`` naming the first invalid option.

    Every value the simulation reads (shots, precision, seeds) is checked against the range it
    can actually run with, so a job accepted here does not fail in the worker for its options.
    """
    allowed = OPTION_NAMES["sampler" if program == "sampler" else "estimator"]
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"unknown option(s) for {program}: {sorted(unknown)}")
    check_shots(options.get("default_shots"), "default_shots", max_shots)
    check_precision(options.get("default_precision"), "default_precision")
    _check_seed(options.get("seed_estimator"), "seed_estimator")
    max_time = options.get("max_execution_time")
    if max_time is not None and (not _is_int(max_time) or not 0 <= max_time <= MAX_COST_SECONDS):
        raise ValueError(f"max_execution_time must be an integer in 0..{MAX_COST_SECONDS}")
    for section in OBJECT_OPTIONS:
        value = options.get(section)
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(f"{section} must be an object")
    sim = options.get("simulator") or {}
    _check_seed(sim.get("seed_simulator"), "simulator.seed_simulator")
    resilience = options.get("resilience") or {}
    if resilience.get("pec_mitigation") and resilience.get("zne_mitigation"):
        raise ValueError("pec_mitigation and zne_mitigation cannot both be true")
    dd = options.get("dynamical_decoupling") or {}
    seq = dd.get("sequence_type")
    if seq is not None and seq not in DD_SEQUENCE_TYPES:
        *others, last = DD_SEQUENCE_TYPES
        raise ValueError(
            f"dynamical_decoupling.sequence_type must be {', '.join(others)} or {last}"
        )


def sampler_seed_fits(options: Mapping[str, Any], num_pubs: int) -> bool:
    """Whether the sampler's seed stays in Aer's range for every pub (pub ``i`` runs with
    ``seed_simulator + i``)."""
    sim = options.get("simulator") or {}
    seed = sim.get("seed_simulator") if isinstance(sim, Mapping) else None
    if not isinstance(seed, int):
        return True
    return seed + max(0, num_pubs - 1) <= MAX_SEED


# Result size ----------------------------------------------------------------------------------


def pub_result_bits(program: str, pub: Any) -> int:
    """The size (bits) of a decoded pub's result, before it runs.

    Sampler: parameter sets x shots x classical bits (at least one bit per shot, so a pub
    without measurements is charged for its shots too). Estimator: expectation values x
    :data:`ESTIMATOR_BITS_PER_VALUE`.
    """
    sets = math.prod(_shape(pub))
    if program == "sampler":
        return sets * int(pub.shots or 0) * max(1, int(pub.circuit.num_clbits))
    return sets * ESTIMATOR_BITS_PER_VALUE


def _shape(pub: Any) -> Sequence[int]:
    return tuple(int(n) for n in pub.shape)
