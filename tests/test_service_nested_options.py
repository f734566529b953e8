"""The service refuses exactly the option values the client refuses (issue 12).

Option dicts, valid and invalid leaf by leaf, are posted raw to a real local service over
loopback and judged against the client's own schema (``SamplerOptions``/``EstimatorOptions``
``.update(...)`` then ``.validate()``; a ``ValueError``, ``TypeError`` or ``AttributeError``
(an unknown name) is a refusal). The service may refuse more only where it documents a limit of
its own (shots, precision, seeds: what the simulation can run); everything else must agree:

- the client refuses a dict => the service answers 400 with the API's error body naming an
  option path and what it accepts;
- the client accepts a dict and sends it as given => the service accepts it;
- the client accepts a dict but sends something else (it converts a value, e.g. a float qubit
  index to an int, or a JSON object where it wants a list to the list of its keys) => the
  service accepts what the client sends.

"Accepts" is observed without running anything: the jobs name a session that does not exist,
which the service looks up only after it has validated the whole job (options, pubs, ISA), so a
job whose options pass is answered 404 ``session_not_found``. Two explicit jobs with every
option set check that such options really are accepted (200). Every leaf against every kind of
value, one at a time, is checked in process too (the same check intake calls), which covers all
the pairings the sampled combinations over HTTP may miss.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qiskit_rest_provider.client.options import EstimatorOptions, SamplerOptions
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.validation import (
    MAX_NOISE_FACTOR,
    MAX_NOISE_FACTORS,
    MAX_PRECISION,
    MAX_RANDOMIZATIONS,
    MAX_SEED,
    MIN_PRECISION,
    validate_options,
)
from qiskit_rest_provider.wire.options import (
    ESTIMATOR_PARAMS_SCHEMA,
    OPTION_SCHEMAS,
    OptionGroupSpec,
    ValueSpec,
)

from .service_helpers import auth_headers, running_server

BACKEND = "local_falcon"
BELL = "OPENQASM 3.0;\nbit[2] c;\nx $0;\ncx $0, $1;\nc[0] = measure $0;\nc[1] = measure $1;\n"
X0 = "OPENQASM 3.0;\nx $0;\n"
NO_SESSION = "nosuchsession0000000"


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[LocalRuntimeServer, dict[str, str], int]]:
    """A service of its own (workers=0: no worker process; only the two explicit jobs are
    queued, and cancelled at once), its headers and the backend's ``max_shots``."""
    with running_server(workers=0) as server:
        headers = {**auth_headers(server), "Content-Type": "application/json"}
        max_shots = int(server.service.device(BACKEND).configuration["max_shots"])
        yield server, headers, max_shots


def _body(program: str, options: Any, top: Mapping[str, Any], session: str | None) -> str:
    pub: list[Any] = [BELL, None, 10] if program == "sampler" else [X0, "Z"]
    params = {"pubs": [pub], "options": options, "version": 2, **top}
    body: dict[str, Any] = {"program_id": program, "backend": BACKEND, "params": params}
    if session is not None:
        body["session_id"] = session
    return json.dumps(body)


def _post(service: tuple[LocalRuntimeServer, dict[str, str], int], body: str) -> requests.Response:
    server, headers, _ = service
    return requests.post(f"{server.url}/api/v1/jobs", data=body, headers=headers, timeout=30)


def _service_verdict(
    service: tuple[LocalRuntimeServer, dict[str, str], int],
    program: str,
    options: Any,
    top: Mapping[str, Any],
) -> tuple[bool, str]:
    """(accepted, message of the refusal) for a job that names a missing session."""
    response = _post(service, _body(program, options, top, NO_SESSION))
    body = response.json()
    error = body["errors"][0]
    assert error["more_info"] and body["trace"], body
    if response.status_code == 404 and error["code"] == "session_not_found":
        return True, ""
    assert (response.status_code, error["code"]) == (400, "invalid_request"), body
    return False, str(error["message"])


# The oracle: the client's schema --------------------------------------------------------------


def _client_verdict(program: str, options: Any, top: Mapping[str, Any]) -> Any:
    """What the client sends for these options (``params.options`` with the top-level params
    merged back in), or None if it refuses them."""
    built = SamplerOptions() if program == "sampler" else EstimatorOptions()
    try:
        built.update(**options, **top)
        built.validate()
    except (ValueError, TypeError, AttributeError):
        return None
    return built.to_dict()


def _prune(value: Any, schema: OptionGroupSpec) -> Any:
    """``value`` without empty groups (the client leaves them out of what it sends)."""
    result = {}
    for key, item in value.items():
        spec = schema.get(key)
        if isinstance(spec, Mapping) and isinstance(item, dict):
            item = _prune(item, spec)
            if not item:
                continue
        result[key] = item
    return result


def _same(raw: Any, sent: Any) -> bool:
    """Whether the client sends ``raw`` as it is. An integer sent as the equal float counts
    as the same (a JSON number either way); a float sent as an int, a boolean sent as a
    number or an object sent as a list do not."""
    if isinstance(raw, bool) or isinstance(sent, bool):
        return type(raw) is type(sent) and raw == sent
    if isinstance(raw, (int, float)) and isinstance(sent, (int, float)):
        widened = isinstance(raw, int) and isinstance(sent, float)
        return (type(raw) is type(sent) or widened) and raw == sent
    if isinstance(raw, dict) and isinstance(sent, dict):
        return raw.keys() == sent.keys() and all(_same(raw[k], sent[k]) for k in raw)
    if isinstance(raw, list) and isinstance(sent, list):
        return len(raw) == len(sent) and all(map(_same, raw, sent))
    return type(raw) is type(sent) and raw == sent


def _within_service_limits(sent: Mapping[str, Any], max_shots: int) -> bool:
    """The service's own documented limits, beyond the schema: what the simulation can run."""
    shots = sent.get("default_shots")
    if shots is not None and shots > max_shots:
        return False
    precision = sent.get("default_precision")
    if precision is not None and not MIN_PRECISION <= precision <= MAX_PRECISION:
        return False
    seeds = [sent.get("seed_estimator"), sent.get("simulator", {}).get("seed_simulator")]
    if not all(seed is None or 0 <= seed <= MAX_SEED for seed in seeds):
        return False
    resilience = sent.get("resilience") or {}
    for group in (sent.get("twirling"), resilience.get("measure_noise_learning")):
        count = (group or {}).get("num_randomizations")
        per = (group or {}).get("shots_per_randomization")
        count = count if isinstance(count, int) else None
        per = per if isinstance(per, int) else None
        if count is not None and count > MAX_RANDOMIZATIONS:
            return False
        if per is not None and per > max_shots:
            return False
        if count is not None and per is not None and count * per > max_shots:
            return False
    factors = (resilience.get("zne") or {}).get("noise_factors")
    too_many = isinstance(factors, list) and len(factors) > MAX_NOISE_FACTORS
    too_big = isinstance(factors, list) and any(f > MAX_NOISE_FACTOR for f in factors)
    return not (too_many or too_big)


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key path in an options dict."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _paths(item, path)


# Values, leaf by leaf, from the protocol's table ----------------------------------------------

#: JSON values of every type, many of them valid for some option and invalid for others.
_POOL_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    64,
    0.0,
    0.5,
    1.0,
    3.0,
    -0.5,
    1e300,
    2**63,
    2**70,
    "auto",
    "",
    "x",
    "XX",
    "WARNING",
    "warning",
    "linear",
    "middle",
    [],
    [0],
    [1, 3],
    [1.0, 3.0, 5.0, 7.0],
    ["a"],
    ["linear", "exponential"],
    [[0, 1]],
    [[0, 1, 2]],
    [["0", "1"]],
    [[0.0, 1.0]],
    [[True, 1]],
    {},
    {"a": 1},
    {"linear": 1},
]
_POOL = st.sampled_from(_POOL_VALUES)


def _good(spec: ValueSpec) -> st.SearchStrategy[Any]:
    """Values ``spec`` accepts (near its bounds mostly)."""
    kind = spec.kind
    strategy: st.SearchStrategy[Any]
    if kind == "boolean":
        strategy = st.booleans()
    elif kind == "integer":
        low = None if spec.minimum is None else int(spec.minimum)
        high = None if spec.maximum is None else int(spec.maximum)
        base = -10 if low is None else low
        near = st.integers(base, base + 20 if high is None else min(high, base + 20))
        bounds = [v for v in (low, high) if v is not None]
        strategy = st.one_of(near, st.integers(low, high), st.sampled_from(bounds or [0]))
    elif kind == "number":
        low = spec.exclusive_minimum if spec.exclusive_minimum is not None else spec.minimum
        exclusive = spec.exclusive_minimum is not None
        floats = st.floats(
            min_value=-1e6 if low is None else low,
            max_value=1e6,
            exclude_min=exclusive,
            allow_nan=False,
        )
        ints = st.integers(
            -(10**6) if low is None else math.floor(low) + (1 if exclusive else 0), 10**6
        )
        strategy = st.one_of(floats, ints)
    elif kind == "choice":
        strategy = st.sampled_from(spec.choices)
    elif kind == "list":
        assert spec.items is not None
        item = _good(spec.items)
        strategy = st.lists(item, min_size=spec.min_items, max_size=spec.min_items + 4)
        if spec.single:
            strategy = st.one_of(item, strategy)
    elif kind == "strings":
        strategy = st.lists(st.text(max_size=spec.max_length or 8), max_size=spec.max_items or 3)
    elif kind == "object":
        strategy = st.dictionaries(st.text(max_size=4), _POOL, max_size=2)
    elif kind == "edges":
        strategy = st.lists(st.lists(st.integers(0, 6), min_size=2, max_size=2), max_size=3)
    else:
        strategy = _POOL
    if spec.nullable:
        strategy = st.one_of(st.none(), strategy)
    if spec.auto:
        strategy = st.one_of(st.just("auto"), strategy)
    return strategy


def _near(spec: ValueSpec) -> list[Any]:
    """Values just outside what ``spec`` accepts (and a few the client converts)."""
    near: list[Any] = []
    kind = spec.kind
    if kind == "integer":
        if spec.minimum is not None:
            near += [int(spec.minimum) - 1, float(spec.minimum), str(int(spec.minimum))]
        if spec.maximum is not None:
            near += [int(spec.maximum) + 1]
    elif kind == "number":
        bound = spec.exclusive_minimum if spec.exclusive_minimum is not None else spec.minimum
        if bound is not None:
            near += [bound - 0.5, bound - 1e-9, str(bound)]
            if spec.exclusive_minimum is not None:
                near += [bound, int(bound)]
    elif kind == "choice":
        near += [c.lower() if c.lower() != c else c.upper() for c in spec.choices]
        near += [c + " " for c in spec.choices[:2]]
    elif kind == "list":
        assert spec.items is not None
        near += [["not a value"], "auto!", {"k": 1}]
        if spec.min_items:
            near += [[]]
    elif kind == "strings":
        if spec.max_items is not None:
            near += [["t"] * (spec.max_items + 1)]
        if spec.max_length is not None:
            near += [["x" * (spec.max_length + 1)]]
        near += [[1], "abc", {"a": 1}]
    elif kind == "edges":
        near += [[[0]], [0, 1], [[0, "a"]], [[1.5, 2]], ["01"]]
    return near


def _bad(spec: ValueSpec) -> st.SearchStrategy[Any]:
    """Values just outside what ``spec`` accepts, and JSON values of every type."""
    near = _near(spec)
    return st.one_of(_POOL, st.sampled_from(near)) if near else _POOL


@st.composite
def _group_values(
    draw: Callable[..., Any], schema: OptionGroupSpec, bad_rate: int
) -> dict[str, Any]:
    """An object for ``schema``: some of its options, each valid or (1 in ``bad_rate``) not,
    sometimes an unknown name or a group that is no object."""
    names = draw(st.lists(st.sampled_from(sorted(schema)), unique=True, max_size=4))
    value: dict[str, Any] = {}
    for name in names:
        spec = schema[name]
        if isinstance(spec, ValueSpec):
            wrong = draw(st.integers(0, bad_rate - 1)) == 0
            value[name] = draw(_bad(spec) if wrong else _good(spec))
        elif draw(st.integers(0, 4 * bad_rate - 1)) == 0:
            value[name] = draw(_POOL)  # a group that may be no object at all
        else:
            value[name] = draw(_group_values(spec, bad_rate))
    if draw(st.integers(0, 8 * bad_rate - 1)) == 0:
        value[draw(st.sampled_from(["nonsense", "enable", "resilience", "shots"]))] = 1
    return value


def _leaves(
    schema: OptionGroupSpec, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], ValueSpec]]:
    """Every leaf option of ``schema``, as (path, spec)."""
    found = []
    for name, spec in schema.items():
        if isinstance(spec, ValueSpec):
            found.append(((*prefix, name), spec))
        else:
            found.extend(_leaves(spec, (*prefix, name)))
    return found


#: Every leaf by program; ``("params", name)`` are the estimator's top-level options.
_LEAVES = {
    program: _leaves(schema)
    + (_leaves(ESTIMATOR_PARAMS_SCHEMA, ("params",)) if program == "estimator" else [])
    for program, schema in OPTION_SCHEMAS.items()
}


def _set(options: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set the option at ``path``, making its groups objects where they are not."""
    node = options
    for name in path[:-1]:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[path[-1]] = value


@st.composite
def _jobs(draw: Callable[..., Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(program, params.options, top-level params): one leaf in focus, valid or not, among a
    few others of which none, one or several are invalid."""
    program = draw(st.sampled_from(sorted(OPTION_SCHEMAS)))
    bad_rate = draw(st.sampled_from([4, 12, 1000]))
    options = draw(_group_values(OPTION_SCHEMAS[program], bad_rate))
    top: dict[str, Any] = {}
    path, spec = draw(st.sampled_from(_LEAVES[program]))
    value = draw(st.one_of(_good(spec), _bad(spec)))
    if path[0] == "params":
        top[path[1]] = value
    else:
        _set(options, path, value)
    return program, options, top


# The property -----------------------------------------------------------------------------------


Verdict = Callable[[str, Any, Mapping[str, Any]], tuple[bool, str]]


def _assert_agreement(
    verdict: Verdict, program: str, options: dict[str, Any], top: dict[str, Any], max_shots: int
) -> None:
    """The service's ``verdict`` on these options agrees with the client's schema."""
    sent = _client_verdict(program, options, top)
    accepted, message = verdict(program, options, top)
    if sent is None:
        assert not accepted, f"the client refuses {options} {top}; the service accepted it"
        named = {*_paths(options), *(f"params.{key}" for key in top)}
        assert any(path in message for path in named), message
        return
    within = _within_service_limits(sent, max_shots)
    sent_top = {key: sent.pop(key) for key in list(sent) if key in ESTIMATOR_PARAMS_SCHEMA}
    if _same(_prune(options, OPTION_SCHEMAS[program]), sent) and _same(top, sent_top):
        assert accepted == within, (options, top, message)
        if not within:
            words = ("shots", "precision", "seed", "randomizations", "noise_factors")
            assert any(word in message for word in words), message
    else:  # the client converts these options: the service must take what it sends
        assert verdict(program, sent, sent_top)[0] == within, (options, top, sent, sent_top)


@pytest.mark.slow
@pytest.mark.service
@settings(
    max_examples=250,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(job=_jobs())
def test_the_service_refuses_exactly_what_the_client_refuses(
    service: tuple[LocalRuntimeServer, dict[str, str], int],
    job: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    program, options, top = job

    def over_http(program: str, options: Any, top: Mapping[str, Any]) -> tuple[bool, str]:
        return _service_verdict(service, program, options, top)

    _assert_agreement(over_http, program, options, top, service[2])


def _in_process(program: str, options: Any, top: Mapping[str, Any]) -> tuple[bool, str]:
    """The verdict of the service's option check, called directly (what intake calls)."""
    try:
        validate_options(program, options, max_shots=_FALCON_MAX_SHOTS, params=top)
    except ValueError as exc:
        return False, str(exc)
    return True, ""


_FALCON_MAX_SHOTS = 100_000


@pytest.mark.parametrize("program", sorted(OPTION_SCHEMAS))
def test_every_leaf_against_every_kind_of_value(program: str) -> None:
    """Every leaf option alone, set to each value of the pool and each value near its
    bounds, judged by the same rules in process (the property above samples combinations
    over HTTP; this covers every pairing, which HTTP could not do in seconds)."""
    for path, spec in _LEAVES[program]:
        for value in [*_POOL_VALUES, *_near(spec)]:
            options: dict[str, Any] = {}
            top: dict[str, Any] = {}
            if path[0] == "params":
                top[path[1]] = value
            else:
                _set(options, path, value)
            _assert_agreement(_in_process, program, options, top, _FALCON_MAX_SHOTS)


# Explicit cases -------------------------------------------------------------------------------

_EVERY_SAMPLER_OPTION = {
    "default_shots": 10,
    "dynamical_decoupling": {
        "enable": True,
        "sequence_type": "XY4",
        "extra_slack_distribution": "edges",
        "scheduling_method": "asap",
        "skip_reset_qubits": True,
    },
    "execution": {"init_qubits": False, "rep_delay": 0.00025, "meas_type": "classified"},
    "twirling": {
        "enable_gates": True,
        "enable_measure": False,
        "num_randomizations": "auto",
        "shots_per_randomization": 2,
        "strategy": "active-circuit",
    },
    "simulator": {
        "noise_model": None,
        "seed_simulator": 7,
        "coupling_map": [[0, 1], [1, 2]],
        "basis_gates": ["x", "cx"],
    },
    "environment": {"log_level": "INFO", "job_tags": ["a"], "private": False},
    "max_execution_time": 1,
    "experimental": {"anything": [1, 2]},
}
_EVERY_ESTIMATOR_OPTION = {
    "default_precision": 0.05,
    "default_shots": None,
    "seed_estimator": 0,
    "dynamical_decoupling": {"enable": False},
    "execution": {"init_qubits": True, "rep_delay": None},
    "twirling": {"enable_gates": None, "enable_measure": None, "num_randomizations": 3},
    "resilience": {
        "measure_mitigation": True,
        "measure_noise_learning": {"num_randomizations": 2, "shots_per_randomization": "auto"},
        "zne_mitigation": True,
        "zne": {
            "amplifier": "pea",
            "noise_factors": [1, 1.5, 2, 3],
            "extrapolator": ["double_exponential", "polynomial_degree_3"],
            "extrapolated_noise_factors": "auto",
        },
        "pec_mitigation": False,
        "pec": {"max_overhead": 10.5, "noise_gain": "auto"},
        "layer_noise_learning": {
            "max_layers_to_learn": 0,
            "shots_per_randomization": 1,
            "num_randomizations": 1,
            "layer_pair_depths": [0, 1, 2],
        },
        "layer_noise_model": None,
    },
    "max_execution_time": 10800,
}


@pytest.mark.service
@pytest.mark.parametrize(
    ("program", "options", "top"),
    [
        ("sampler", _EVERY_SAMPLER_OPTION, {}),
        ("estimator", _EVERY_ESTIMATOR_OPTION, {"resilience_level": 2}),
    ],
)
def test_every_option_set_to_a_valid_value_is_accepted(
    service: tuple[LocalRuntimeServer, dict[str, str], int],
    program: str,
    options: dict[str, Any],
    top: dict[str, Any],
) -> None:
    assert _client_verdict(program, options, top) is not None
    response = _post(service, _body(program, options, top, None))
    assert response.status_code == 200, response.text
    server, headers, _ = service
    job_id = response.json()["id"]
    requests.post(f"{server.url}/api/v1/jobs/{job_id}/cancel", headers=headers, timeout=10)


@pytest.mark.service
@pytest.mark.parametrize(
    ("program", "options", "top", "path", "allowed"),
    [
        ("sampler", {"twirling": {"num_randomizations": 0}}, {}, "twirling.num_randomizations",
         '>= 1 or "auto"'),
        ("sampler", {"dynamical_decoupling": {"sequence_type": "XZ"}}, {},
         "dynamical_decoupling.sequence_type", '"XX", "XpXm", "XY4"'),
        ("sampler", {"execution": {"rep_delay": -1e-6}}, {}, "execution.rep_delay", ">= 0"),
        ("sampler", {"environment": {"log_level": "LOUD"}}, {}, "environment.log_level",
         '"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"'),
        ("sampler", {"max_execution_time": 0}, {}, "max_execution_time", "1..10800"),
        ("sampler", {"twirling": {"enable": True}}, {}, "twirling", "num_randomizations"),
        ("estimator", {"resilience": {"zne": {"noise_factors": [1, 0.9]}}}, {},
         "resilience.zne.noise_factors[1]", ">= 1"),
        ("estimator", {}, {"resilience_level": 3}, "params.resilience_level", "0..2"),
        ("estimator", {"resilience": {"zne": {"extrapolator": "polynomial_degree_7"}}}, {},
         "resilience.zne.extrapolator", "at least 8 noise factors"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_option_and_what_it_accepts(
    service: tuple[LocalRuntimeServer, dict[str, str], int],
    program: str,
    options: dict[str, Any],
    top: dict[str, Any],
    path: str,
    allowed: str,
) -> None:
    assert _client_verdict(program, options, top) is None
    accepted, message = _service_verdict(service, program, options, top)
    assert not accepted and path in message and allowed in message, message
