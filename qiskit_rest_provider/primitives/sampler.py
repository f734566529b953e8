"""``SamplerV2``: Qiskit's V2 sampler over the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers import SamplerPub, SamplerPubLike

from ..codec.pubs import encode_sampler_pub
from ..exceptions import PubValidationError
from ..job import RuntimeJob
from .base import RestPrimitive, looks_like_single_pub
from .options import SamplerOptions

__all__ = ["SamplerV2"]

#: The service's default when neither the pub, ``run(shots=)`` nor the options give shots.
SERVICE_DEFAULT_SHOTS = 4096


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
        if shots is not None and (
            isinstance(shots, bool) or not isinstance(shots, int) or shots < 1
        ):
            raise PubValidationError(f"shots must be a positive integer, not {shots!r}")
        coerced = _coerce_all(pubs, shots)
        self._check_pub_count(len(coerced))
        self._check_shots(coerced)
        texts = self._prepare([pub.circuit for pub in coerced])
        wire = [encode_sampler_pub(pub, text) for pub, text in zip(coerced, texts, strict=True)]
        return self._submit(wire)

    def _check_shots(self, pubs: list[SamplerPub]) -> None:
        limit = self.backend.max_shots
        if not limit:
            return
        default = self._options.default_shots or SERVICE_DEFAULT_SHOTS
        for i, pub in enumerate(pubs):
            shots = pub.shots if pub.shots is not None else default
            if shots > limit:
                raise PubValidationError(
                    f"pub {i}: {shots} shots exceed the backend's max_shots={limit}"
                )


def _coerce_all(pubs: Iterable[SamplerPubLike], shots: int | None) -> list[SamplerPub]:
    if looks_like_single_pub(pubs, SamplerPub):
        raise PubValidationError(
            "run() takes a list of pubs, e.g. run([circuit]) or run([(circuit, values)])"
        )
    result: list[SamplerPub] = []
    for i, pub in enumerate(pubs):
        try:
            coerced = SamplerPub.coerce(pub, shots)
            _require_measurements(coerced)
        except PubValidationError as exc:
            raise PubValidationError(f"pub {i}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise PubValidationError(f"pub {i}: {exc}") from None
        result.append(coerced)
    return result


def _require_measurements(pub: SamplerPub) -> Any:
    if pub.circuit.num_clbits == 0:
        raise PubValidationError(
            "the circuit has no classical bits, so there is nothing to sample; add "
            "measurements (e.g. circuit.measure_all())"
        )
