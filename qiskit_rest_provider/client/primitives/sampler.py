"""``SamplerV2``: Qiskit's V2 sampler over the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers import SamplerPubLike

from ...wire.constants import DEFAULT_SHOTS
from ..job import RuntimeJob
from ..options import SamplerOptions
from ..pipeline import (
    SAMPLER_RUN,
    SamplerItem,
    coerce_sampler_pubs,
    encode_sampler_pubs,
    sampler_expected_bytes,
)
from .base import RestPrimitive

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

        Each pub result's ``metadata["circuit_metadata"]`` is the circuit's ``.metadata``
        (restored by this job object: see
        :func:`~qiskit_rest_provider.client.pipeline.restore_circuit_metadata`).

        Raises:
            PubValidationError: a pub is malformed, needs more shots than the backend allows,
                or there are more pubs than the backend takes per job.
            ISAValidationError: a circuit is not ISA for the backend's Target.
        """
        items, wire = self._wire(pubs, shots)
        # What the result should hold: it bounds how much the client will decode.
        expected = sampler_expected_bytes(
            items, self._options.default_shots, self._options.execution.meas_type
        )
        return self._submit(wire, [circuit for circuit, _, _ in items], expected)

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
    ) -> tuple[list[SamplerItem], list[list[Any]]]:
        items = coerce_sampler_pubs(pubs, shots, SAMPLER_RUN)
        default = self._options.default_shots or DEFAULT_SHOTS
        wire = encode_sampler_pubs(
            self._backend, items, self._cache, self._options, default, SAMPLER_RUN
        )
        return items, wire
