"""``EstimatorV2``: Qiskit's V2 estimator over the REST API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers import EstimatorPub, EstimatorPubLike
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import Pauli, SparseObservable, SparsePauliOp

from ...core.codec.pubs import encode_estimator_pub
from ...core.codec.results import estimator_result_bytes
from ...errors import PubValidationError
from ..job import RuntimeJob
from ..options import EstimatorOptions
from ..pipeline import ESTIMATOR_RUN, check_pub_count, looks_like_single_pub, prepare_circuits
from .base import RestPrimitive

__all__ = ["EstimatorV2", "map_observables"]


class EstimatorV2(RestPrimitive[EstimatorOptions], BaseEstimatorV2):
    """Estimates expectation values through ``POST /v1/jobs`` (program ``estimator``).

    Observables may be given over the circuit's *virtual* qubits: when the circuit carries a
    layout (it was transpiled), they are mapped through it to the physical qubits; without a
    layout, narrower observables are padded with identities to the circuit's width.

    Args:
        mode: A :class:`~qiskit_rest_provider.RestBackend`, :class:`~qiskit_rest_provider.Session`
            or :class:`~qiskit_rest_provider.Batch`.
        options: :class:`EstimatorOptions` or a dict of them.

    Example::

        estimator = EstimatorV2(backend, options={"resilience_level": 0})
        job = estimator.run([(isa_circuit, SparsePauliOp("ZZ"), parameter_values)])
        evs = job.result()[0].data.evs
    """

    _program_id = "estimator"
    _options_class = EstimatorOptions

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> RuntimeJob:
        """Submit the pubs as one job; returns at once with the job.

        Each pub result's ``metadata["circuit_metadata"]`` is the circuit's ``.metadata``
        (restored by this job object: see
        :func:`~qiskit_rest_provider.client.pipeline.restore_circuit_metadata`).

        Raises:
            PubValidationError: a pub is malformed (observable width, parameter values,
                precision) or there are more pubs than the backend takes per job.
            ISAValidationError: a circuit is not ISA for the backend's Target.
        """
        site = ESTIMATOR_RUN
        if precision is not None and (
            isinstance(precision, bool) or not isinstance(precision, (int, float)) or precision <= 0
        ):
            raise PubValidationError(
                f"{site.call}: precision must be a number > 0, not {precision!r}"
            )
        if looks_like_single_pub(pubs, EstimatorPub):
            raise PubValidationError(
                f"{site.call} takes a list of pubs, e.g. run([(circuit, observables, values)])"
            )
        coerced: list[EstimatorPub] = []
        for i, pub in enumerate(pubs):
            try:
                coerced.append(EstimatorPub.coerce(_with_mapped_observables(pub), precision))
            except (ValueError, TypeError) as exc:
                raise PubValidationError(f"{site.where(i)}: {exc}") from None
        check_pub_count(self._backend, len(coerced), site)
        circuits = [pub.circuit for pub in coerced]
        texts = prepare_circuits(self._backend, circuits, self._cache, self._options, site)
        wire = [encode_estimator_pub(pub, text) for pub, text in zip(coerced, texts, strict=True)]
        expected = estimator_result_bytes(pub.size for pub in coerced)
        return self._submit(wire, circuits, expected)


def _with_mapped_observables(pub: Any) -> Any:
    if isinstance(pub, EstimatorPub) or not isinstance(pub, (tuple, list)) or len(pub) < 2:
        return pub
    circuit = pub[0]
    if not isinstance(circuit, QuantumCircuit):
        return pub
    return (circuit, map_observables(pub[1], circuit), *pub[2:])


def map_observables(observables: Any, circuit: QuantumCircuit) -> Any:
    """Widen observables to ``circuit``'s physical qubits.

    An observable as wide as the circuit is kept. One as wide as the circuit's virtual qubits
    (its layout's input qubits) is mapped through the layout; without a layout, a narrower one
    is padded with identities on the higher qubits. Nested lists and arrays are mapped element
    by element.
    """
    width = circuit.num_qubits
    layout = circuit.layout
    virtual = len(layout.initial_index_layout(filter_ancillas=True)) if layout is not None else None

    def convert(obs: Any) -> Any:
        if isinstance(obs, ObservablesArray):
            return convert(obs.tolist())
        if isinstance(obs, np.ndarray) and obs.dtype == object:
            return convert(obs.tolist())
        if isinstance(obs, list):
            return [convert(o) for o in obs]
        operator: Any
        if isinstance(obs, str):
            operator = SparsePauliOp(obs) if obs.isalpha() and obs.isupper() else None
        elif isinstance(obs, dict):
            labels = list(obs)
            if not labels or not all(isinstance(k, str) and k.isalpha() for k in labels):
                return obs
            operator = SparsePauliOp.from_list([(k, v) for k, v in obs.items()])
        elif isinstance(obs, (Pauli, SparsePauliOp, SparseObservable)):
            operator = obs
        else:
            return obs
        if operator is None or operator.num_qubits == width:
            return obs
        if layout is not None and operator.num_qubits == virtual:
            return operator.apply_layout(layout)
        if layout is None and operator.num_qubits < width:
            return operator.apply_layout(None, width)
        return obs

    return convert(observables)
