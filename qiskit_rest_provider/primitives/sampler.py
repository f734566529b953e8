"""``SamplerV2``: Qiskit's V2 sampler over the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers import SamplerPub, SamplerPubLike

from ..codec.pubs import encode_sampler_pub
from ..codec.results import sampler_result_bytes
from ..exceptions import PubValidationError
from ..job import RuntimeJob
from ..wire.constants import DEFAULT_SHOTS
from .base import RestPrimitive, looks_like_single_pub
from .options import SamplerOptions, Unset

__all__ = ["SamplerV2"]


class SamplerV2(RestPrimitive[SamplerOptions], BaseSamplerV2):
    """Samples ISA circuits on a backend through ``POST /v1/jobs`` (program ``sampler``).

    Args:
        mode: A :class:`~qiskit_rest_provider.RestBackend`, :class:`~qiskit_rest_provider.Session`
            or :class:`~qiskit_rest_provider.Batch`; inside a ``with Session(...)`` block it may
            be left out.
        options: :class:`SamplerOptions` or a dict of them.

    Example::

        sampler = SamplerV2(backend, options={"default_shots": 1000})
        job = sampler.run([(isa_circuit, parameter_values)])
        counts = job.result()[0].data.meas.get_counts()
    """

    _program_id = "sampler"
    _options_class = SamplerOptions

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> RuntimeJob:
        """Submit the pubs as one job; returns at once with the job.

        Raises:
            PubValidationError: a pub is malformed, needs more shots than the backend allows,
                or there are more pubs than the backend takes per job.
            ISAValidationError: a circuit is not ISA for the backend's Target.
        """
        items, wire = self._wire(pubs, shots)
        default = self._options.default_shots or DEFAULT_SHOTS
        meas_type = self._options.execution.meas_type
        # What the result should hold: it bounds how much the client will decode.
        expected = sampler_result_bytes(
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
        return self._submit(wire, expected_result_bytes=expected)

    def wire_pubs(
        self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None
    ) -> list[list[Any]]:
        """Check the pubs and return them in wire form (what :meth:`run` submits).

        Re-submitting a circuit already checked and serialized by this sampler costs only the
        encoding of its new parameter values.
        """
        return self._wire(pubs, shots)[1]

    def _wire(
        self, pubs: Iterable[SamplerPubLike], shots: int | None
    ) -> tuple[list[_Item], list[list[Any]]]:
        if shots is not None and (
            isinstance(shots, bool) or not isinstance(shots, int) or shots < 1
        ):
            raise PubValidationError(f"shots must be a positive integer, not {shots!r}")
        items = _coerce_all(pubs, shots)
        self._check_pub_count(len(items))
        self._check_shots([pub_shots for _, _, pub_shots in items])
        texts = self._prepare([circuit for circuit, _, _ in items])
        return items, [
            encode_sampler_pub(text, values, pub_shots)
            for (_, values, pub_shots), text in zip(items, texts, strict=True)
        ]

    def _check_shots(self, shots: list[int | None]) -> None:
        limit = self.backend.max_shots
        if not limit:
            return
        default = self._options.default_shots or DEFAULT_SHOTS
        for i, pub_shots in enumerate(shots):
            value = pub_shots if pub_shots is not None else default
            if value > limit:
                raise PubValidationError(
                    f"pub {i}: {value} shots exceed the backend's max_shots={limit}"
                )


_Item = tuple[QuantumCircuit, NDArray[Any], "int | None"]


def _coerce_all(pubs: Iterable[SamplerPubLike], shots: int | None) -> list[_Item]:
    """``(circuit, parameter values in circuit.parameters order, shots)`` per pub."""
    if looks_like_single_pub(pubs, SamplerPub):
        raise PubValidationError(
            "run() takes a list of pubs, e.g. run([circuit]) or run([(circuit, values)])"
        )
    result: list[_Item] = []
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
        except PubValidationError as exc:
            raise PubValidationError(f"pub {i}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise PubValidationError(f"pub {i}: {exc}") from None
        result.append(item)
    return result


def _fast_item(pub: Any, shots: int | None) -> _Item | None:
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
