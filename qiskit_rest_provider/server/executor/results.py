"""Write an ``executor`` job's result in the schema version its params used.

The result is IBM's ``QuantumProgramResultModel`` of that version
(``ibm_quantum_schemas.executor.version_X_Y``): one entry per item with its arrays (v2.0:
zlib-compressed tensors of any dtype; earlier versions: plain tensors of ``f64``, ``bool``,
``u8`` or ``c128``, so other dtypes are widened), one chunk-timing span per item (the service
runs each item as one chunk), the passthrough data and the semantic role.
"""

from __future__ import annotations

import datetime as _dt
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .decode import QuantumProgramJob

__all__ = ["ItemOutcome", "encode_program_result"]


@dataclass
class ItemOutcome:
    """What running one item produced."""

    data: dict[str, npt.NDArray[Any]]
    """The item's arrays by name (registers and samplex outputs)."""
    started: _dt.datetime
    """When its chunk started (UTC)."""
    stopped: _dt.datetime
    """When its chunk stopped (UTC)."""
    size: int
    """Elements of the item (the product of its shape)."""
    ndim: int
    """Axes of the item's shape."""
    timing: tuple[str, int] | None = None
    """The item's schedule (:func:`.run.scheduler_timing`), when the program asked for it."""


def encode_program_result(program: QuantumProgramJob, outcomes: list[ItemOutcome]) -> str:
    """The result JSON of ``program`` from its items' ``outcomes``."""
    version = program.version
    models = importlib.import_module(
        "ibm_quantum_schemas.executor.version_" + version[1:].replace(".", "_")
    )
    compressed = version == "v2.0"
    if compressed:
        from ibm_quantum_schemas.common import CompressedTensorModel as tensor_model
    else:
        from ibm_quantum_schemas.common import TensorModel as tensor_model
    detailed_parts = version not in ("v0.1", "v0.2")
    items = []
    spans = []
    for index, outcome in enumerate(outcomes):
        results = {
            name: tensor_model.from_numpy(_wire_array(value, compressed))
            for name, value in outcome.data.items()
        }
        metadata = None
        if version != "v0.1":
            timing = None
            if outcome.timing is not None:
                text, duration = outcome.timing
                timing = models.SchedulerTimingModel(timing=text, circuit_duration=duration)
            metadata = models.ItemMetadataModel(scheduler_timing=timing)
        items.append(models.QuantumProgramResultItemModel(results=results, metadata=metadata))
        part: dict[str, Any] = {"idx_item": index, "size": outcome.size}
        if detailed_parts:
            part["permutation"] = list(range(outcome.ndim))
            part["element_range"] = (0, outcome.size, 1)
        spans.append(
            models.ChunkSpan(
                start=_naive_utc(outcome.started),
                stop=_naive_utc(outcome.stopped),
                parts=[models.ChunkPart(**part)],
            )
        )
    fields: dict[str, Any] = {
        "data": items,
        "metadata": models.MetadataModel(chunk_timing=spans),
    }
    if version != "v0.1":
        fields["passthrough_data"] = program.passthrough_data
    if version not in ("v0.1", "v0.2"):
        fields["semantic_role"] = program.semantic_role
    result: str = models.QuantumProgramResultModel(**fields).model_dump_json()
    return result


def _wire_array(value: Any, compressed: bool) -> npt.NDArray[Any]:
    """``value`` in a dtype the version's tensor model carries."""
    array = np.asarray(value)
    if compressed:
        if array.dtype.kind in "fc" and array.dtype.itemsize > 16:  # long double
            return array.astype(np.complex128 if array.dtype.kind == "c" else np.float64)
        return array
    if array.dtype == np.bool_ or array.dtype == np.uint8:
        return array
    if array.dtype.kind == "c":
        return array.astype(np.complex128)
    return array.astype(np.float64)


def _naive_utc(moment: _dt.datetime) -> _dt.datetime:
    """``moment`` in UTC without a zone (the models' datetimes; the client adds UTC back)."""
    return moment.astimezone(_dt.timezone.utc).replace(tzinfo=None)
