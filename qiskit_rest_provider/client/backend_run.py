"""``backend.run()``: the ``BackendV2.run`` contract on top of the sampler program.

Circuits are submitted as one sampler job; the job's ``result()`` is a ``qiskit.result.Result``
whose ``get_counts()`` / ``get_memory()`` use Qiskit's usual keys (registers separated by
spaces, the last register leftmost), so code written for ``BackendV2.run`` works unchanged.

Jobs are marked with the tag :data:`BACKEND_RUN_TAG` (and :data:`MEMORY_TAG` when per-shot
memory was asked for) so that :meth:`QiskitRestProvider.job` rebuilds the same kind of job in
another process.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray
from qiskit.result import Result

from ..errors import ResultDecodeError
from ..wire.constants import DEFAULT_SHOTS
from .circuit_cache import CircuitCache
from .job import RuntimeJob
from .options import SamplerOptions
from .pipeline import (
    ExecutionTarget,
    coerce_sampler_pubs,
    encode_sampler_pubs,
    job_body,
    sampler_expected_bytes,
    submit,
)

if TYPE_CHECKING:  # annotations only
    pass

__all__ = ["BACKEND_RUN_TAG", "MEMORY_TAG", "BackendRunJob", "run_circuits", "to_qiskit_result"]

BACKEND_RUN_TAG = "qiskit-rest:backend.run"
MEMORY_TAG = "qiskit-rest:memory"
_RUN_OPTIONS = frozenset(
    {"shots", "memory", "seed_simulator", "job_tags", "init_qubits", "rep_delay"}
)


class BackendRunJob(RuntimeJob):
    """A job made by ``backend.run()``; ``result()`` gives a ``qiskit.result.Result``.

    Args:
        args: :class:`~qiskit_rest_provider.RuntimeJob`'s.
        memory: Keep per-shot results for ``Result.get_memory()``.
        names: The circuits' names, in pub order (the experiments' header names).
        kw: :class:`~qiskit_rest_provider.RuntimeJob`'s keywords.
    """

    def __init__(
        self, *args: Any, memory: bool = False, names: Sequence[str] = (), **kw: Any
    ) -> None:
        super().__init__(*args, decoder=_as_qiskit_result, **kw)
        self.memory = memory or MEMORY_TAG in self._tags  # internal tags are not in .tags
        self.circuit_names = list(names)

    def result(self, timeout: float | None = None) -> Result:
        """The ``qiskit.result.Result`` (decoded once, cached)."""
        result: Result = super().result(timeout)
        return result


def _as_qiskit_result(primitive: PrimitiveResult[Any], job: RuntimeJob) -> Result:
    run_job = job if isinstance(job, BackendRunJob) else None
    return to_qiskit_result(
        primitive,
        job_id=job.job_id(),
        backend_name=job.backend_name or "",
        memory=bool(run_job and run_job.memory),
        names=run_job.circuit_names if run_job is not None else (),
    )


def run_circuits(
    backend: ExecutionTarget,
    circuits: QuantumCircuit | Sequence[QuantumCircuit],
    options: dict[str, Any],
    *,
    defaults: Any = None,
) -> BackendRunJob:
    """Submit ``circuits`` with ``backend.run`` options (``shots``, ``memory``,
    ``seed_simulator``, ``job_tags``, ``init_qubits``, ``rep_delay``); ``defaults`` holds the
    backend's defaults for them (``backend.options``)."""
    unknown = set(options) - _RUN_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown backend.run option(s) {sorted(unknown)}; "
            f"supported: {', '.join(sorted(_RUN_OPTIONS))}"
        )
    circuit_list = [circuits] if isinstance(circuits, QuantumCircuit) else list(circuits)
    if not all(isinstance(c, QuantumCircuit) for c in circuit_list):
        raise TypeError("backend.run() takes a QuantumCircuit or a list of them")

    def default(name: str) -> Any:
        return getattr(defaults, name, None) if defaults is not None else None

    shots = options.get("shots", default("shots"))
    memory = bool(options.get("memory", default("memory")))
    sampler_options = SamplerOptions()
    tags = [BACKEND_RUN_TAG, *([MEMORY_TAG] if memory else []), *options.get("job_tags", ())]
    sampler_options.environment.job_tags = tags
    seed = options.get("seed_simulator", default("seed_simulator"))
    if seed is not None:
        sampler_options.simulator.seed_simulator = seed
    for key in ("init_qubits", "rep_delay"):
        if key in options:
            setattr(sampler_options.execution, key, options[key])
    items = coerce_sampler_pubs([(c,) for c in circuit_list], shots)
    wire = encode_sampler_pubs(backend, items, CircuitCache(), sampler_options, DEFAULT_SHOTS)
    body = job_body(backend, "sampler", wire, sampler_options)
    return submit(
        backend,
        body,
        BackendRunJob,
        memory=memory,
        names=[c.name for c in circuit_list],
        expected_result_bytes=sampler_expected_bytes(items, None),
    )


def _combined(data: Any) -> BitArray:
    """All registers of one pub as one BitArray, the first register in the lowest bits."""
    registers = [value for _, value in data.items() if isinstance(value, BitArray)]
    if not registers:
        raise ResultDecodeError("a sampler pub result holds no classical register data")
    if len(registers) == 1:
        return registers[0]
    return BitArray.concatenate_bits(registers)  # the first array takes the lowest bits


def _hex_per_shot(bits: BitArray) -> list[str]:
    array = bits.array.reshape(-1, bits.array.shape[-1])
    if array.shape[1] <= 8:
        padded = np.zeros((array.shape[0], 8), dtype=np.uint8)
        padded[:, 8 - array.shape[1] :] = array
        values = padded.view(">u8").ravel()
        return [hex(v) for v in values.tolist()]
    return [hex(int.from_bytes(row.tobytes(), "big")) for row in array]


def to_qiskit_result(
    primitive: PrimitiveResult[Any],
    *,
    job_id: str,
    backend_name: str,
    memory: bool,
    names: Sequence[str] = (),
) -> Result:
    """A ``qiskit.result.Result`` with one experiment per sampler pub."""
    experiments = []
    for index, pub in enumerate(primitive):
        data = pub.data
        registers = [(k, v) for k, v in data.items() if isinstance(v, BitArray)]
        bits = _combined(data)
        if bits.ndim:
            bits = bits.reshape(-1) if bits.size == 1 else bits
            if bits.ndim:
                raise ResultDecodeError(
                    f"pub {index} has shape {bits.shape}; backend.run results need scalar pubs"
                )
        counts = {hex(k): int(v) for k, v in bits.get_int_counts().items()}
        exp_data: dict[str, Any] = {"counts": counts}
        if memory:
            exp_data["memory"] = _hex_per_shot(bits)
        experiments.append(
            {
                "shots": int(bits.num_shots),
                "success": True,
                "status": "DONE",
                "data": exp_data,
                "header": {
                    "name": names[index] if index < len(names) else f"circuit-{index}",
                    "creg_sizes": [[name, int(value.num_bits)] for name, value in registers],
                    "memory_slots": int(bits.num_bits),
                },
            }
        )
    return Result.from_dict(
        {
            "backend_name": backend_name,
            "backend_version": "",
            "job_id": job_id,
            "qobj_id": job_id,
            "success": True,
            "status": "COMPLETED",
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "header": {},
            "results": experiments,
        }
    )
