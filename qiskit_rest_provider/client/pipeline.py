"""Check → encode → submit: the one path every job of the client takes to ``POST /v1/jobs``.

The primitives and ``backend.run()`` use these steps on an :class:`ExecutionTarget` (what a
backend offers: its Target, configuration, calibration and context), so a pre-flight check
or a field of the job body is written once:

1. :func:`check_pub_count`, :func:`check_shots`, :func:`check_rep_delay`: the backend's limits;
2. :func:`prepare_circuits`: every circuit checked against the Target (ISA, faulty qubits) and
   serialized to OpenQASM 3, cached per circuit;
3. :func:`job_body`: the ``POST /v1/jobs`` body (params, options, session, calibration);
4. :func:`submit`: exactly-once submission, and the job object that follows it.

The sampler's pubs, which ``backend.run()`` shares, are coerced and encoded here too
(:func:`coerce_sampler_pubs`, :func:`encode_sampler_pubs`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import SamplerPub
from qiskit.transpiler import Target

from ..api.submission import submit_job
from ..core.codec.pubs import encode_sampler_pub
from ..core.codec.results import sampler_result_bytes
from ..core.configuration import BackendConfiguration
from ..core.properties import BackendProperties
from ..errors import PubValidationError
from ..wire.constants import DEFAULT_SHOTS
from .circuit_cache import CircuitCache
from .context import ClientContext
from .job import ResultDecoder, RuntimeJob
from .options import PrimitiveOptions, Unset

__all__ = [
    "BACKEND_RUN",
    "ESTIMATOR_RUN",
    "SAMPLER_RUN",
    "CallSite",
    "ExecutionTarget",
    "SamplerItem",
    "check_pub_count",
    "check_rep_delay",
    "check_shots",
    "coerce_sampler_pubs",
    "encode_sampler_pubs",
    "job_body",
    "looks_like_single_pub",
    "prepare_circuits",
    "restore_circuit_metadata",
    "sampler_expected_bytes",
    "submit",
]

JobT = TypeVar("JobT", bound=RuntimeJob)

#: One sampler pub: ``(circuit, parameter values in circuit.parameters order, shots or None)``.
SamplerItem = tuple[QuantumCircuit, NDArray[Any], "int | None"]


class ExecutionTarget(Protocol):
    """What the pipeline needs of a backend (:class:`~qiskit_rest_provider.RestBackend` is one)."""

    @property
    def name(self) -> str:
        """The backend name jobs are submitted to."""

    @property
    def target(self) -> Target:
        """The Target circuits are checked against."""

    def properties(self) -> BackendProperties | None:
        """The calibration (faulty qubits), if the backend has one."""

    def configuration(self) -> BackendConfiguration:
        """The configuration (limits such as ``rep_delay_range``)."""

    @property
    def calibration_id(self) -> str | None:
        """The calibration the backend is pinned to, if any."""

    @property
    def context(self) -> ClientContext:
        """The provider's shared context (the REST client jobs go through)."""

    @property
    def max_shots(self) -> int | None:
        """The most shots per pub."""


@dataclass(frozen=True)
class CallSite:
    """The call a user made, as error messages name it: ``call`` (``"SamplerV2.run()"``) and
    what that call names the things it submits (``item``: ``"pub"`` or ``"circuit"``)."""

    call: str
    item: str

    def where(self, index: int) -> str:
        """``"SamplerV2.run(): pub 3"``: the prefix of a message about one item."""
        return f"{self.call}: {self.item} {index}"


SAMPLER_RUN = CallSite("SamplerV2.run()", "pub")
ESTIMATOR_RUN = CallSite("EstimatorV2.run()", "pub")
BACKEND_RUN = CallSite("backend.run()", "circuit")


# 1. Limits ------------------------------------------------------------------------------------


def check_pub_count(backend: ExecutionTarget, count: int, site: CallSite = SAMPLER_RUN) -> None:
    """At least one pub, and no more than the backend takes per job: the configuration's
    ``max_experiments`` (``backend.max_circuits`` reports ``None``, as IBM's backends do, but the
    service still enforces the limit, so the client checks it before submitting)."""
    if count == 0:
        raise PubValidationError(f"{site.call}: no {site.item}s to run")
    limit = backend.configuration().max_experiments
    if limit is not None and count > limit:
        raise PubValidationError(
            f"{site.call}: {count} {site.item}s exceed the backend's limit of {limit} per job "
            f"(configuration().max_experiments); split them over several {site.call} calls"
        )


def check_shots(
    backend: ExecutionTarget,
    shots: Sequence[int | None],
    default: int,
    site: CallSite = SAMPLER_RUN,
) -> None:
    """Every pub's shots (``default`` where a pub gives none) within the backend's ``max_shots``."""
    limit = backend.max_shots
    if not limit:
        return
    for i, pub_shots in enumerate(shots):
        value = pub_shots if pub_shots is not None else default
        if value > limit:
            raise PubValidationError(
                f"{site.where(i)}: {value} shots exceed the backend's max_shots={limit}; "
                f"ask for at most {limit} (or split the shots over several jobs)"
            )


def check_rep_delay(backend: ExecutionTarget, rep_delay: Any, option: str = "") -> None:
    """An explicit ``rep_delay`` (seconds) within the backend's ``rep_delay_range``;
    ``option`` names the setting in the message (``options.execution.rep_delay`` by default)."""
    if not isinstance(rep_delay, float):  # Unset, or None (the backend's default)
        return
    bounds = backend.configuration().get("rep_delay_range")
    if bounds and len(bounds) == 2 and not bounds[0] <= rep_delay <= bounds[1]:
        raise ValueError(
            f"{option or 'options.execution.rep_delay'}={rep_delay} s is outside the backend's "
            f"rep_delay_range [{bounds[0]}, {bounds[1]}] s; choose a value in that range"
        )


# 2. Circuits ----------------------------------------------------------------------------------


def prepare_circuits(
    backend: ExecutionTarget,
    circuits: Sequence[QuantumCircuit],
    cache: CircuitCache,
    options: PrimitiveOptions,
    site: CallSite = SAMPLER_RUN,
    *,
    rep_delay_option: str = "",
) -> list[str]:
    """Check every circuit against the Target and serialize it (cached per circuit).

    Raises:
        ISAValidationError: a circuit is not ISA for the Target, or uses a faulty qubit.
        PubValidationError: dynamical decoupling was asked for on a dynamic circuit.
        ValueError: ``options.execution.rep_delay`` is outside the backend's range.
    """
    target = backend.target
    props = backend.properties()
    faulty = props.faulty_qubits() if props is not None else []
    if options.dynamical_decoupling.enable and any(_has_control_flow(c) for c in circuits):
        raise PubValidationError(
            f"{site.call}: dynamical decoupling cannot be combined with dynamic circuits "
            "(control flow); set options.dynamical_decoupling.enable = False"
        )
    check_rep_delay(
        backend,
        options.execution.rep_delay,
        rep_delay_option or f"{site.call}: options.execution.rep_delay",
    )
    return [
        cache.prepare(c, target, faulty_qubits=faulty, where=site.where(i))
        for i, c in enumerate(circuits)
    ]


def _has_control_flow(circuit: QuantumCircuit) -> bool:
    return bool(circuit.has_control_flow_op())


# 3. The job body ------------------------------------------------------------------------------


def job_body(
    backend: ExecutionTarget,
    program_id: str,
    pubs: list[Any],
    options: PrimitiveOptions,
    *,
    session_id: str | None = None,
    extra_tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body of ``pubs`` (already in wire form) with ``options``.

    ``extra_tags`` go before the user's ``options.environment.job_tags``.
    """
    wire_options, top_params = options.to_params()
    params: dict[str, Any] = {
        "pubs": pubs,
        "options": wire_options,
        "version": 2,
        "support_qiskit": True,
        **top_params,
    }
    body: dict[str, Any] = {
        "program_id": program_id,
        "backend": backend.name,
        "params": params,
        **options.job_fields(),
    }
    if extra_tags:
        body["tags"] = [*extra_tags, *body.get("tags", ())]
    if session_id:
        body["session_id"] = session_id
    if backend.calibration_id:
        body["calibration_id"] = backend.calibration_id
    return body


def restore_circuit_metadata(circuits: Sequence[QuantumCircuit]) -> ResultDecoder:
    """A job decoder that puts each circuit's ``.metadata`` into its pub result's
    ``metadata["circuit_metadata"]``, as IBM's service does for QPY circuits.

    OpenQASM 3 does not carry circuit metadata, so the service cannot return it: the client
    keeps a copy of each circuit's metadata when it submits and restores it when the result is
    decoded. Only the job object returned by ``run()`` has it; a job fetched again from the
    service (``provider.job(id)``) carries what the service returns (``{}``).
    """
    saved = [copy.deepcopy(c.metadata) if c.metadata else {} for c in circuits]

    def decode(result: PrimitiveResult[Any], _job: RuntimeJob) -> PrimitiveResult[Any]:
        for pub, metadata in zip(result, saved, strict=False):
            pub.metadata["circuit_metadata"] = metadata
        return result

    return decode


# 4. Submission --------------------------------------------------------------------------------


def submit(
    backend: ExecutionTarget,
    body: Mapping[str, Any],
    job_class: type[JobT],
    **job_arguments: Any,
) -> JobT:
    """Submit ``body`` exactly once and return the job (``job_class(..., **job_arguments)``).

    Raises:
        JobSubmissionError: every attempt failed and no job was created.
        ApiError: the service refused the job (for example 400 with its reason).
    """
    created = submit_job(backend.context.rest, body)
    return job_class(
        str(created["id"]),
        backend.context,
        program_id=str(body["program_id"]),
        backend_name=str(created.get("backend") or body["backend"]),
        session_id=created.get("session_id") or body.get("session_id"),
        tags=body.get("tags"),
        **job_arguments,
    )


# The sampler's pubs (shared by SamplerV2 and backend.run) --------------------------------------


def looks_like_single_pub(pubs: Any, pub_class: type) -> bool:
    """Whether ``pubs`` is one pub passed where a list of pubs belongs."""
    if isinstance(pubs, (QuantumCircuit, pub_class)):
        return True
    if isinstance(pubs, tuple) and pubs and isinstance(pubs[0], QuantumCircuit):
        return any(not isinstance(p, (QuantumCircuit, tuple, list, pub_class)) for p in pubs[1:])
    return False


def coerce_sampler_pubs(
    pubs: Iterable[Any], shots: int | None, site: CallSite = SAMPLER_RUN
) -> list[SamplerItem]:
    """One :data:`SamplerItem` per pub; ``shots`` applies where a pub gives none.

    Raises:
        PubValidationError: ``shots`` is not a positive integer, or a pub is malformed or has
            no classical bits (the message names the call and the pub).
    """
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise PubValidationError(f"{site.call}: shots must be a positive integer, not {shots!r}")
    if looks_like_single_pub(pubs, SamplerPub):
        raise PubValidationError(
            f"{site.call} takes a list of pubs, e.g. run([circuit]) or run([(circuit, values)])"
        )
    result: list[SamplerItem] = []
    for i, pub in enumerate(pubs):
        try:
            item = _fast_item(pub, shots)
            if item is None:
                coerced = SamplerPub.coerce(pub, shots)
                item = (
                    coerced.circuit,
                    coerced.parameter_values.as_array(coerced.circuit.parameters),
                    coerced.shots,
                )
            _require_measurements(item[0])
        except (ValueError, TypeError) as exc:  # PubValidationError included
            raise PubValidationError(f"{site.where(i)}: {exc}") from None
        result.append(item)
    return result


def encode_sampler_pubs(
    backend: ExecutionTarget,
    items: Sequence[SamplerItem],
    cache: CircuitCache,
    options: PrimitiveOptions,
    default_shots: int,
    site: CallSite = SAMPLER_RUN,
    *,
    rep_delay_option: str = "",
) -> list[list[Any]]:
    """Check ``items`` against the backend (count, shots, ISA) and encode them for the wire."""
    check_pub_count(backend, len(items), site)
    check_shots(backend, [pub_shots for _, _, pub_shots in items], default_shots, site)
    texts = prepare_circuits(
        backend,
        [circuit for circuit, _, _ in items],
        cache,
        options,
        site,
        rep_delay_option=rep_delay_option,
    )
    return [
        encode_sampler_pub(text, values, pub_shots)
        for (_, values, pub_shots), text in zip(items, texts, strict=True)
    ]


def sampler_expected_bytes(
    items: Sequence[SamplerItem], default_shots: int | None, meas_type: Any = Unset
) -> int:
    """The array bytes a sampler result of ``items`` should hold (bounds what is decoded)."""
    default = default_shots or DEFAULT_SHOTS
    return sampler_result_bytes(
        (
            (
                int(np.prod(values.shape[:-1])),
                pub_shots if pub_shots is not None else default,
                [register.size for register in circuit.cregs] or [circuit.num_clbits],
            )
            for circuit, values, pub_shots in items
        ),
        meas_type="classified" if meas_type is Unset else str(meas_type),
    )


def _fast_item(pub: Any, shots: int | None) -> SamplerItem | None:
    """The common VQE/sweep form ``(circuit, float array[, shots])`` without building a
    ``BindingsArray`` (whose per-parameter name handling dominates re-submission time).
    Anything else returns ``None`` and goes through ``SamplerPub.coerce``."""
    if not isinstance(pub, tuple) or not 2 <= len(pub) <= 3:
        return None
    circuit, values = pub[0], pub[1]
    if not isinstance(circuit, QuantumCircuit) or not isinstance(values, np.ndarray):
        return None
    n = circuit.num_parameters
    if not n or values.ndim == 0 or values.shape[-1] != n or values.dtype.kind not in "fiu":
        return None
    pub_shots = pub[2] if len(pub) == 3 else shots
    if pub_shots is not None and (
        isinstance(pub_shots, bool) or not isinstance(pub_shots, (int, np.integer))
    ):
        return None
    if pub_shots is not None and pub_shots < 1:
        raise PubValidationError(f"shots must be a positive integer, not {pub_shots}")
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        raise PubValidationError("parameter values must be finite numbers")
    return circuit, array, None if pub_shots is None else int(pub_shots)


def _require_measurements(circuit: QuantumCircuit) -> None:
    if circuit.num_clbits == 0:
        raise PubValidationError(
            "the circuit has no classical bits, so there is nothing to sample; add "
            "measurements (e.g. circuit.measure_all())"
        )
