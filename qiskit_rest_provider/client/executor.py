"""``Executor``: run a samplomatic ``QuantumProgram`` through the Runtime ``executor`` program.

The Qiskit Runtime REST API runs a program ``executor`` besides ``sampler`` and ``estimator``: it
takes a *quantum program* (circuits, each with its parameter values or with a samplex that draws
them, e.g. twirling) and returns the raw measurement data of every item. :class:`Executor` is a
light client for it, written against the same public models IBM's service uses
(``ibm_quantum_schemas.executor``)::

    from samplomatic.quantum_program import QuantumProgram
    from qiskit_rest_provider import Executor, QiskitRestProvider

    backend = QiskitRestProvider().backend("ibm_kingston")
    program = QuantumProgram(shots=1000)
    program.append_circuit_item(isa_circuit)
    program.append_samplex_item(template, samplex, shape=(20,))   # 20 randomizations
    result = Executor(backend).run(program).result()
    bits = result[1]["meas"] ^ result[1]["measurement_flips.meas"]  # shape (20, 1000, n)

The program goes out as schema ``v2.0`` (what qiskit-ibm-runtime 0.51 sends): circuits as one
compressed QPY blob, circuit arguments and samplex tensors as compressed tensors, Pauli-Lindblad
maps in their sparse form, the samplex as its JSON. A result of any schema version
(``v0.1`` to ``v2.0``) is read into :class:`ExecutorResult`, a subclass of samplomatic's
``QuantumProgramResult`` (one :class:`ExecutorItemResult` per item, the arrays the service
returned, chunk timing, item metadata, passthrough data).

The service checks the program (ISA circuits, samplex arguments, shapes); a refused program
raises the client's usual errors (:class:`~qiskit_rest_provider.errors.BadRequestError` with the
service's reason for a 400). The client checks only what it needs to encode the program and the
backend's shot and ``rep_delay`` limits.

Needs the ``executor`` extra (``pip install 'qiskit-rest-provider[executor]'``: samplomatic and
ibm-quantum-schemas); ``import qiskit_rest_provider`` never loads them, this module does.
Importing this module also teaches :class:`~qiskit_rest_provider.RuntimeJob` to decode
``executor`` results (:func:`~qiskit_rest_provider.client.job.register_program_decoder`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import PauliLindbladMap

try:
    from ibm_quantum_schemas.common import (
        CompressedQpyDataModel,
        CompressedTensorModel,
        F64CompressedTensorModel,
        PauliLindbladMapModel,
        SamplexModel,
        TensorModel,
    )
    from ibm_quantum_schemas.executor import (
        version_0_1,
        version_0_2,
        version_1_0,
        version_1_1,
        version_2_0,
    )
    from pydantic import ValidationError
    from samplomatic.quantum_program import (
        ChunkPart,
        ChunkSpan,
        ChunkTiming,
        QuantumProgramItemResult,
        QuantumProgramResult,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "qiskit_rest_provider.Executor needs samplomatic and ibm-quantum-schemas: "
        f"pip install 'qiskit-rest-provider[executor]' ({exc})"
    ) from exc

from ..errors import MALFORMED_INPUT_ERRORS, PubValidationError, ResultDecodeError
from ..wire.constants import EXECUTOR_PROGRAM
from ..wire.options import DEFAULT_LOG_LEVEL, LOG_LEVELS
from ..wire.tensors import (
    TENSOR_ELEMENT_BITS,
    InflateError,
    decoded_tensor_bytes,
    inflated_size,
    packed_tensor_bytes,
)
from .backend import RestBackend
from .job import PollPolicy, RuntimeJob, register_program_decoder
from .pipeline import CallSite, check_rep_delay, check_shots, submit
from .session import Session, current_session

__all__ = [
    "PARAMS_SCHEMA_VERSION",
    "RESULT_SCHEMA_VERSIONS",
    "Executor",
    "ExecutorEnvironmentOptions",
    "ExecutorExecutionOptions",
    "ExecutorItemResult",
    "ExecutorOptions",
    "ExecutorResult",
    "ExecutorResultMetadata",
    "ItemMetadata",
    "SchedulerTiming",
    "StretchValues",
    "decode_executor_result",
    "executor_params",
]

#: The schema version of the ``params`` this client sends (as qiskit-ibm-runtime 0.51 does).
PARAMS_SCHEMA_VERSION = "v2.0"

#: The result model of each schema version the client reads.
RESULT_SCHEMA_VERSIONS: dict[str, type[Any]] = {
    "v0.1": version_0_1.QuantumProgramResultModel,
    "v0.2": version_0_2.QuantumProgramResultModel,
    "v1.0": version_1_0.QuantumProgramResultModel,
    "v1.1": version_1_1.QuantumProgramResultModel,
    "v2.0": version_2_0.QuantumProgramResultModel,
}

#: Result versions whose tensors are zlib-compressed (``CompressedTensorModel``).
_COMPRESSED_VERSIONS = frozenset({"v2.0"})

_RUN = CallSite("Executor.run()", "item")
_MEAS_LEVELS = ("classified", "kerneled", "avg_kerneled", "both")
_COMPLEX_BYTES = 16


# Options --------------------------------------------------------------------------------------


@dataclass
class ExecutorExecutionOptions:
    """``options.execution``: how the device runs the program (sent in ``params.options``).

    Attributes:
        init_qubits: Reset the qubits to the ground state before each shot.
        rep_delay: Seconds between the end of one shot and the start of the next, within the
            backend's ``rep_delay_range``; ``None``: the backend's default.
        scheduler_timing: Return each item's circuit schedule
            (:attr:`ItemMetadata.scheduler_timing`).
        stretch_values: Return how each circuit's stretches were resolved
            (:attr:`ItemMetadata.stretch_values`).
    """

    init_qubits: bool = True
    rep_delay: float | None = None
    scheduler_timing: bool = False
    stretch_values: bool = False


@dataclass
class ExecutorEnvironmentOptions:
    """``options.environment``: fields of the job itself rather than of its program.

    Attributes:
        log_level: The job's log level (``DEBUG`` ... ``CRITICAL``).
        job_tags: Tags of the job (``provider.jobs(tags=...)`` finds them).
        private: A private job: the service returns neither its inputs nor, after the first
            read, its result.
        max_execution_time: Seconds of execution after which the service cancels the job (as
            :attr:`ExecutorOptions.max_execution_time`, which wins when both are set).
        image: The Runtime image to run the job with, if not the service's default.
    """

    log_level: str = DEFAULT_LOG_LEVEL
    job_tags: list[str] = field(default_factory=list)
    private: bool = False
    max_execution_time: int | None = None
    image: str | None = None


@dataclass
class ExecutorOptions:
    """The options of an :class:`Executor`, grouped as qiskit-ibm-runtime's ``ExecutorOptions``.

    Set attributes (``options.execution.rep_delay = 250e-6``,
    ``options.environment.job_tags = ["x"]``) or pass a dict to :class:`Executor`, nested
    (``{"execution": {"init_qubits": False}}``) or flat (``{"init_qubits": False,
    "job_tags": ["x"]}``). Values are checked when a program is run.

    Attributes:
        execution: Device settings (:class:`ExecutorExecutionOptions`).
        environment: Job settings (:class:`ExecutorEnvironmentOptions`).
        experimental: Options passed to the service as they are (``params.options.experimental``).
        max_execution_time: Seconds of execution after which the service cancels the job (the
            job's ``cost``); ``None``: the service's limit.
    """

    execution: ExecutorExecutionOptions = field(default_factory=ExecutorExecutionOptions)
    environment: ExecutorEnvironmentOptions = field(default_factory=ExecutorEnvironmentOptions)
    experimental: dict[str, Any] = field(default_factory=dict)
    max_execution_time: int | None = None

    @classmethod
    def coerce(cls, options: Any) -> ExecutorOptions:
        """An :class:`ExecutorOptions` made of ``options``: ``None`` (the defaults), an
        :class:`ExecutorOptions` (a copy), a dict (nested or flat, see the class), or an object
        with ``execution`` and ``environment`` attributes such as qiskit-ibm-runtime's
        ``ExecutorOptions`` (their fields that this class has are read).

        Raises:
            TypeError: ``options`` is none of these.
            ValueError: a dict names an option this class does not have.
        """
        result = cls()
        if options is None:
            return result
        if isinstance(options, Mapping):
            result.update(**copy.deepcopy(dict(options)))
            return result
        if hasattr(options, "execution") and hasattr(options, "environment"):
            result.update(
                execution=_read_fields(options.execution, ExecutorExecutionOptions),
                environment=_read_fields(options.environment, ExecutorEnvironmentOptions),
                experimental=copy.deepcopy(dict(getattr(options, "experimental", None) or {})),
                max_execution_time=getattr(options, "max_execution_time", None),
            )
            return result
        raise TypeError(
            "Executor options must be ExecutorOptions, a dict or None, not "
            f"{type(options).__name__}"
        )

    def update(self, **values: Any) -> None:
        """Set options from keyword arguments: ``execution``/``environment`` take a dict (or an
        options group), their fields may also be given at the top level
        (``update(init_qubits=False, job_tags=["x"])``).

        Raises:
            ValueError: an unknown option name.
        """
        for key, value in values.items():
            if key in ("execution", "environment"):
                group = getattr(self, key)
                items = value if isinstance(value, Mapping) else vars(value)
                for name, item in items.items():
                    if name not in _field_names(type(group)):
                        raise ValueError(f"unknown Executor option {key}.{name}")
                    setattr(group, name, item)
            elif key == "experimental":
                self.experimental = dict(value or {})
            elif key == "max_execution_time":
                self.max_execution_time = value
            elif key in _field_names(ExecutorExecutionOptions):
                setattr(self.execution, key, value)
            elif key in _field_names(ExecutorEnvironmentOptions):
                setattr(self.environment, key, value)
            else:
                raise ValueError(
                    f"unknown Executor option {key!r}; the options are execution "
                    f"({', '.join(sorted(_field_names(ExecutorExecutionOptions)))}), environment "
                    f"({', '.join(sorted(_field_names(ExecutorEnvironmentOptions)))}), "
                    "experimental and max_execution_time"
                )

    def validate(self) -> None:
        """Check every value's type and range.

        Raises:
            TypeError, ValueError: a value is invalid (the message names the option).
        """
        execution, environment = self.execution, self.environment
        for name in ("init_qubits", "scheduler_timing", "stretch_values"):
            if not isinstance(getattr(execution, name), bool):
                raise TypeError(f"options.execution.{name} must be True or False")
        delay = execution.rep_delay
        if delay is not None and (
            isinstance(delay, bool) or not isinstance(delay, (int, float)) or not delay >= 0
        ):
            raise ValueError(f"options.execution.rep_delay must be seconds >= 0, not {delay!r}")
        if environment.log_level not in LOG_LEVELS:
            raise ValueError(
                f"options.environment.log_level must be one of {', '.join(LOG_LEVELS)}, "
                f"not {environment.log_level!r}"
            )
        tags = environment.job_tags
        if not isinstance(tags, (list, tuple)) or not all(isinstance(tag, str) for tag in tags):
            raise TypeError("options.environment.job_tags must be a list of strings")
        if not isinstance(environment.private, bool):
            raise TypeError("options.environment.private must be True or False")
        if environment.image is not None and not isinstance(environment.image, str):
            raise TypeError("options.environment.image must be a string")
        for where, seconds in (
            ("max_execution_time", self.max_execution_time),
            ("environment.max_execution_time", environment.max_execution_time),
        ):
            if seconds is not None and (
                isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1
            ):
                raise ValueError(f"options.{where} must be a positive integer, not {seconds!r}")
        if not isinstance(self.experimental, Mapping):
            raise TypeError("options.experimental must be a dict")
        try:
            json.dumps(self.experimental, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"options.experimental must be JSON data: {exc}") from None

    def params_options(self) -> dict[str, Any]:
        """``params.options`` of the executor (``init_qubits``, ``rep_delay``,
        ``scheduler_timing``, ``stretch_values`` and ``experimental``)."""
        execution = self.execution
        delay = execution.rep_delay
        return {
            "init_qubits": execution.init_qubits,
            "rep_delay": None if delay is None else float(delay),
            "scheduler_timing": execution.scheduler_timing,
            "stretch_values": execution.stretch_values,
            "experimental": dict(self.experimental),
        }

    def job_fields(self) -> dict[str, Any]:
        """The top-level fields of the job body, as the primitives send them: ``log_level``,
        ``tags``, ``private``, ``cost`` (the maximum execution time) and ``runtime`` (the
        image)."""
        environment = self.environment
        fields: dict[str, Any] = {"log_level": environment.log_level}
        if environment.job_tags:
            fields["tags"] = list(environment.job_tags)
        if environment.private:
            fields["private"] = True
        cost = self.max_execution_time or environment.max_execution_time
        if cost is not None:
            fields["cost"] = cost
        if environment.image:
            fields["runtime"] = environment.image
        return fields


def _field_names(cls: type[Any]) -> frozenset[str]:
    return frozenset(cls.__dataclass_fields__)


def _read_fields(source: Any, cls: type[Any]) -> dict[str, Any]:
    """The fields of ``cls`` that ``source`` has, read as attributes (copies)."""
    return {
        name: copy.deepcopy(getattr(source, name))
        for name in _field_names(cls)
        if hasattr(source, name)
    }


# Results --------------------------------------------------------------------------------------


@dataclass
class SchedulerTiming:
    """The schedule of an item's circuit (asked for with ``options.execution.scheduler_timing``).

    Attributes:
        timing: The schedule in the service's comma-separated text format (times in ``dt``).
        circuit_duration: The circuit's duration in ``dt``.
    """

    timing: str
    circuit_duration: int


@dataclass
class StretchValues:
    """How one stretch of an item's circuit was resolved (``options.execution.stretch_values``).

    Attributes:
        name: The stretch's name.
        value: Its resolved duration in ``dt``, up to :attr:`remainder`.
        remainder: The ``dt`` left over if every occurrence took :attr:`value`.
        expanded_values: ``(time, duration)`` in ``dt`` of each delay the stretch became.
    """

    name: str
    value: int
    remainder: int
    expanded_values: list[tuple[int, int]]


@dataclass
class ItemMetadata:
    """Metadata of one item's execution.

    Attributes:
        scheduler_timing: The circuit's schedule, if it was asked for and the service has it.
        stretch_values: The circuit's stretch resolutions, if asked for and available.
    """

    scheduler_timing: SchedulerTiming | None = None
    stretch_values: list[StretchValues] | None = None


@dataclass
class ExecutorResultMetadata:
    """Metadata of a whole executor job.

    Attributes:
        chunk_timing: When each chunk of the program ran and which parts of which items it held.
    """

    chunk_timing: list[ChunkSpan] = field(default_factory=list)


class ExecutorItemResult(QuantumProgramItemResult):
    """The result of one item: a mapping from output names to arrays, plus :attr:`metadata`.

    A circuit item's classical registers come back under their names with shape
    ``(*item.shape, shots, num_bits)`` (booleans for ``meas_level="classified"``); a samplex
    item adds the samplex's outputs, e.g. ``measurement_flips.<register>`` (XOR it with the
    register's bits to undo measurement twirling).

    Args:
        result: The arrays by name.
        metadata: The item's metadata.

    Attributes:
        metadata: The item's :class:`ItemMetadata`.
    """

    def __init__(
        self, result: dict[str, np.ndarray[Any, Any]], metadata: ItemMetadata | None = None
    ) -> None:
        super().__init__(result)
        self.metadata = metadata if metadata is not None else ItemMetadata()


class ExecutorResult(QuantumProgramResult):
    """The result of an executor job: samplomatic's ``QuantumProgramResult`` with the service's
    metadata. ``result[i]`` is the :class:`ExecutorItemResult` of the program's item ``i``.

    Args:
        data: One item result per program item.
        metadata: The job's metadata.
        passthrough_data: The program's ``passthrough_data``, as the service returned it
            (arrays as numpy arrays).
        semantic_role: The program's semantic role, if it had one.

    Attributes:
        metadata: The job's :class:`ExecutorResultMetadata`.
        passthrough_data: The program's passthrough data.
        semantic_role: How IBM's clients post-process the result (``"sampler-v2"``, ...), or
            ``None``.
    """

    def __init__(
        self,
        data: Sequence[ExecutorItemResult],
        metadata: ExecutorResultMetadata | None = None,
        passthrough_data: Any = None,
        semantic_role: str | None = None,
    ) -> None:
        super().__init__(data=list(data), passthrough_data=passthrough_data)
        self.metadata = metadata if metadata is not None else ExecutorResultMetadata()
        self.semantic_role = semantic_role

    @property
    def timing(self) -> ChunkTiming:
        """The chunks the program ran in (start, stop and content of each), as samplomatic's
        ``ChunkTiming``: ``result.timing.duration``, ``result.timing.draw()``."""
        return ChunkTiming(self.metadata.chunk_timing)

    def __iter__(self) -> Iterator[ExecutorItemResult]:
        yield from super().__iter__()


def decode_executor_result(body: bytes | str, max_bytes: int) -> ExecutorResult:
    """Read an executor ``/results`` body of any schema version (``schema_version`` picks the
    model) into an :class:`ExecutorResult`.

    ``max_bytes`` bounds the decoded arrays of the whole result (results and passthrough data):
    a body declaring more, or a compressed tensor inflating beyond its declared size, is refused
    before the memory is allocated.

    Raises:
        ResultDecodeError: the body is not a valid result of a known schema version, or exceeds
            ``max_bytes`` (the message says which and by how much).
    """
    try:
        return _decode_result(body, max_bytes)
    except RecursionError:
        raise ResultDecodeError("the executor result is nested too deeply") from None


def _decode_result(body: bytes | str, max_bytes: int) -> ExecutorResult:
    try:
        raw = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError included
        raise ResultDecodeError(f"the executor result is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ResultDecodeError(f"the executor result is a {type(raw).__name__}, not an object")
    version = raw.get("schema_version")
    model = RESULT_SCHEMA_VERSIONS.get(version) if isinstance(version, str) else None
    if model is None:
        raise ResultDecodeError(
            f"the executor result has schema_version {version!r}; this client reads "
            f"{', '.join(RESULT_SCHEMA_VERSIONS)}"
        )
    _check_result_size(raw, compressed=version in _COMPRESSED_VERSIONS, max_bytes=max_bytes)
    try:
        # From the JSON text, as the official client reads it: a passthrough tensor is only
        # told apart from a dict that way (pydantic prefers the dict for a Python mapping).
        validated = model.model_validate_json(body)
        return _result_from_model(validated)
    except ValidationError as exc:
        raise ResultDecodeError(
            f"the executor result does not match schema {version}: {_first_errors(exc)}"
        ) from None
    except (*MALFORMED_INPUT_ERRORS, zlib.error) as exc:
        raise ResultDecodeError(f"the executor result cannot be read: {exc}") from None


def _first_errors(exc: ValidationError, count: int = 3) -> str:
    errors = exc.errors()
    described = [
        f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg')}"
        for error in errors[:count]
    ]
    more = f" (and {len(errors) - count} more)" if len(errors) > count else ""
    return "; ".join(described) + more


def _result_from_model(model: Any) -> ExecutorResult:
    items = []
    for item in model.data:
        arrays = {name: _writable(tensor.to_numpy()) for name, tensor in item.results.items()}
        items.append(ExecutorItemResult(arrays, _item_metadata(getattr(item, "metadata", None))))
    spans = [
        ChunkSpan(
            _utc(span.start),
            _utc(span.stop),
            [ChunkPart(int(part.idx_item), int(part.size)) for part in span.parts],
        )
        for span in model.metadata.chunk_timing
    ]
    return ExecutorResult(
        items,
        ExecutorResultMetadata(chunk_timing=spans),
        passthrough_data=_passthrough_from_model(getattr(model, "passthrough_data", None)),
        semantic_role=getattr(model, "semantic_role", None),
    )


def _item_metadata(model: Any) -> ItemMetadata:
    if model is None:  # v0.1 has no item metadata
        return ItemMetadata()
    timing = model.scheduler_timing
    stretches = model.stretch_values
    return ItemMetadata(
        scheduler_timing=(
            None
            if timing is None
            else SchedulerTiming(timing=timing.timing, circuit_duration=timing.circuit_duration)
        ),
        stretch_values=(
            None
            if stretches is None
            else [
                StretchValues(
                    name=s.name,
                    value=s.value,
                    remainder=s.remainder,
                    expanded_values=[(int(t), int(d)) for t, d in s.expanded_values],
                )
                for s in stretches
            ]
        ),
    )


def _utc(moment: datetime) -> datetime:
    """A chunk's time in UTC (the schema's times are UTC; a naive one is read as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _writable(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Tensors decoded from a buffer are read-only; results are the user's to modify."""
    return array if array.flags.writeable else array.copy()


def _passthrough_from_model(value: Any) -> Any:
    if isinstance(value, TensorModel):
        return _writable(value.to_numpy())
    if isinstance(value, dict):
        return {key: _passthrough_from_model(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_passthrough_from_model(item) for item in value]
    return value


def _check_result_size(raw: dict[str, Any], *, compressed: bool, max_bytes: int) -> None:
    """Refuse a result whose arrays would exceed ``max_bytes`` once decoded, or whose compressed
    tensors inflate beyond the size their shape declares, before anything is decoded."""
    total = 0
    for tensor in _result_tensors(raw):
        shape, dtype, data = tensor.get("shape"), tensor.get("dtype"), tensor.get("data")
        if (
            not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or dtype not in TENSOR_ELEMENT_BITS
            or not isinstance(data, str)
        ):
            continue  # not a tensor this check can size: the schema validation refuses it
        total += decoded_tensor_bytes(shape, str(dtype))
        if total > max_bytes:
            raise ResultDecodeError(
                f"the executor result's arrays exceed the decode limit of {max_bytes} bytes "
                f"(at least {total} bytes); raise job.max_result_bytes to read it"
            )
        if compressed:
            _check_inflation(data, packed_tensor_bytes(shape, str(dtype)))


def _check_inflation(data: str, declared: int) -> None:
    try:
        packed = base64.b64decode(data)  # as the schema reads it (not validating)
    except (binascii.Error, ValueError):
        raise ResultDecodeError("an executor result tensor is not valid base64") from None
    try:
        # a truncated stream is the schema's to refuse, as it decodes
        inflated_size(packed, declared, complete=False)
    except InflateError as exc:
        if exc.exceeded:
            raise ResultDecodeError(
                f"an executor result tensor inflates beyond the {declared} bytes its shape declares"
            ) from None
        raise ResultDecodeError(
            f"an executor result tensor is not valid zlib data: {exc}"
        ) from None


def _result_tensors(raw: dict[str, Any]) -> Iterator[dict[str, Any]]:
    data = raw.get("data")
    for item in data if isinstance(data, list) else ():
        results = item.get("results") if isinstance(item, dict) else None
        if isinstance(results, dict):
            yield from (t for t in results.values() if isinstance(t, dict))
    yield from _tree_tensors(raw.get("passthrough_data"))


def _tree_tensors(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if {"data", "shape", "dtype"} <= value.keys():
            yield value
        else:
            for item in value.values():
                yield from _tree_tensors(item)
    elif isinstance(value, list):
        for item in value:
            yield from _tree_tensors(item)


register_program_decoder(EXECUTOR_PROGRAM, decode_executor_result)


# Params ---------------------------------------------------------------------------------------


def executor_params(
    program: Any,
    options: ExecutorOptions | Mapping[str, Any] | None = None,
    *,
    semantic_role: str | None = None,
) -> version_2_0.ParamsModel:
    """The executor's ``params`` model (schema ``v2.0``,
    ``ibm_quantum_schemas.executor.version_2_0.ParamsModel``) of ``program`` with ``options``;
    ``.model_dump(mode="json")`` is what :meth:`Executor.run` sends.

    Args:
        program: A samplomatic ``QuantumProgram`` (or an object with the same attributes:
            ``shots``, ``items``, ``meas_level``, ``passthrough_data``; qiskit-ibm-runtime's
            ``QuantumProgram`` is one). Items with a ``samplex`` attribute are samplex items,
            the others circuit items (``circuit_arguments``).
        options: The options whose ``params.options`` part is sent.
        semantic_role: The program's semantic role (reserved for IBM's clients; ``None``).

    Raises:
        PubValidationError: the program cannot be encoded (the message names the item).
    """
    options = ExecutorOptions.coerce(options)
    shots = getattr(program, "shots", None)
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise PubValidationError(f"{_RUN.call}: program.shots must be a positive integer")
    meas_level = getattr(program, "meas_level", "classified")
    if meas_level not in _MEAS_LEVELS:
        raise PubValidationError(
            f"{_RUN.call}: program.meas_level must be one of {', '.join(_MEAS_LEVELS)}, "
            f"not {meas_level!r}"
        )
    items = list(getattr(program, "items", None) or ())
    if not items:
        raise PubValidationError(f"{_RUN.call}: the program has no items to run")
    circuits: list[QuantumCircuit] = []
    models: list[Any] = []
    for index, item in enumerate(items):
        circuit = getattr(item, "circuit", None)
        if not isinstance(circuit, QuantumCircuit):
            raise PubValidationError(
                f"{_RUN.where(index)}: the item's circuit is a {type(circuit).__name__}, "
                "not a QuantumCircuit"
            )
        circuits.append(circuit)
        models.append(_item_model(item, _RUN.where(index)))
    try:
        qpy = CompressedQpyDataModel.from_python(circuits)
    except QiskitError as exc:
        raise PubValidationError(f"{_RUN.call}: the circuits cannot be serialized: {exc}") from None
    try:
        passthrough = _passthrough_to_model(getattr(program, "passthrough_data", None), "")
        return version_2_0.ParamsModel(
            quantum_program=version_2_0.QuantumProgramModel(
                shots=int(shots),
                circuits=qpy,
                items=models,
                meas_level=meas_level,
                passthrough_data=passthrough,
                semantic_role=semantic_role,
            ),
            options=options.params_options(),
        )
    except ValidationError as exc:
        raise PubValidationError(
            f"{_RUN.call}: the program does not fit the executor schema "
            f"{PARAMS_SCHEMA_VERSION}: {_first_errors(exc)}"
        ) from None


def _item_model(item: Any, where: str) -> Any:
    chunk_size = getattr(item, "chunk_size", None)
    chunk: int | str = "auto" if chunk_size is None else int(chunk_size)
    try:
        samplex = getattr(item, "samplex", None)
        if samplex is not None:
            arguments = getattr(item, "samplex_arguments", None) or {}
            return version_2_0.SamplexItemModel(
                samplex=SamplexModel.from_samplex(samplex),
                samplex_arguments={
                    str(name): _samplex_argument(value, f"{where}: samplex argument {name!r}")
                    for name, value in arguments.items()
                },
                shape=list(_item_shape(item)),
                chunk_size=chunk,
            )
        if not hasattr(item, "circuit_arguments"):
            raise PubValidationError(
                f"{where}: {type(item).__name__} is neither a circuit item (circuit_arguments) "
                "nor a samplex item (samplex)"
            )
        values = np.asarray(item.circuit_arguments, dtype=np.float64)
        return version_2_0.CircuitItemModel(
            circuit_arguments=F64CompressedTensorModel.from_numpy(values),
            shape=[],  # as qiskit-ibm-runtime sends it: the arguments' shape is the item's
            chunk_size=chunk,
        )
    except PubValidationError:
        raise
    except ValidationError as exc:
        raise PubValidationError(f"{where}: {_first_errors(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise PubValidationError(f"{where}: {exc}") from None


def _samplex_argument(value: Any, where: str) -> Any:
    if isinstance(value, PauliLindbladMap):
        return PauliLindbladMapModel.from_pauli_lindblad_map(value)
    if isinstance(value, (bool, int)):
        return value
    array = np.asarray(value)
    try:
        return CompressedTensorModel.from_numpy(array)
    except ValueError:
        raise PubValidationError(f"{where}: arrays of dtype {array.dtype} cannot be sent") from None


def _passthrough_to_model(value: Any, path: str) -> Any:
    if isinstance(value, np.ndarray):
        try:
            return CompressedTensorModel.from_numpy(value)
        except ValueError:
            raise PubValidationError(
                f"{_RUN.call}: program.passthrough_data{path}: arrays of dtype {value.dtype} "
                "cannot be sent"
            ) from None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PubValidationError(
                    f"{_RUN.call}: program.passthrough_data{path}: keys must be strings, "
                    f"not {key!r}"
                )
            converted[key] = _passthrough_to_model(item, f"{path}[{key!r}]")
        return converted
    if isinstance(value, (list, tuple)):
        return [_passthrough_to_model(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise PubValidationError(
        f"{_RUN.call}: program.passthrough_data{path}: a {type(value).__name__} cannot be sent "
        "(dicts, lists, numpy arrays, strings, numbers, booleans and None can)"
    )


def _expected_result_bytes(program: Any) -> int:
    """The array bytes the result of ``program`` should hold once decoded (bounds the decode)."""
    shots = int(program.shots)
    level = getattr(program, "meas_level", "classified")
    total = 0
    for item in program.items:
        size = math.prod(int(d) for d in _item_shape(item))
        bits = int(item.circuit.num_clbits)
        per_shot = {
            "classified": 1,
            "kerneled": _COMPLEX_BYTES,
            "both": 1 + _COMPLEX_BYTES,
        }.get(level)
        if per_shot is None:  # avg_kerneled: one complex per bit
            total += size * bits * _COMPLEX_BYTES
        else:
            total += size * shots * bits * per_shot
        if getattr(item, "samplex", None) is not None:
            total += size * bits  # measurement flips, one boolean per bit and element
    return total + _passthrough_bytes(getattr(program, "passthrough_data", None))


def _item_shape(item: Any) -> tuple[int, ...]:
    shape = getattr(item, "shape", None)
    if shape is None:  # a circuit item: the leading axes of its arguments
        shape = np.shape(item.circuit_arguments)[:-1]
    return tuple(int(d) for d in shape)


def _passthrough_bytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.size * max(1, value.dtype.itemsize))
    if isinstance(value, Mapping):
        return sum(_passthrough_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_passthrough_bytes(item) for item in value)
    return 0


# The executor ---------------------------------------------------------------------------------


class Executor:
    """Runs quantum programs on a backend through the Runtime ``executor`` program.

    The counterpart of qiskit-ibm-runtime's ``Executor`` for this package's backends, sessions
    and batches: ``Executor(backend).run(program)`` returns a
    :class:`~qiskit_rest_provider.RuntimeJob` whose ``result()`` is an :class:`ExecutorResult`
    (a samplomatic ``QuantumProgramResult``).

    Args:
        mode: Where jobs go: a :class:`~qiskit_rest_provider.RestBackend` (job mode), a
            :class:`~qiskit_rest_provider.Session` or a :class:`~qiskit_rest_provider.Batch`.
            ``None`` inside a ``with Session(...)`` block takes that session.
        options: :class:`ExecutorOptions`, a dict of them (nested or flat), or
            qiskit-ibm-runtime's ``ExecutorOptions``.
        poll: How the jobs poll while waiting for their results.

    Raises:
        ValueError: no ``mode`` outside a session block, or an unknown option.
        TypeError: ``mode`` or ``options`` is of the wrong type.
    """

    def __init__(
        self,
        mode: RestBackend | Session | None = None,
        options: ExecutorOptions | Mapping[str, Any] | None = None,
        *,
        poll: PollPolicy | None = None,
    ) -> None:
        if mode is None:
            mode = current_session()
            if mode is None:
                raise ValueError(
                    "Executor() needs mode=: a RestBackend, a Session or a Batch (e.g. "
                    "Executor(provider.backend(name)), or create it inside a `with "
                    "Session(backend):` block)"
                )
        if not isinstance(mode, (RestBackend, Session)):
            raise TypeError(
                "Executor(mode=...) takes a RestBackend, Session or Batch of qiskit_rest_provider, "
                f"not {type(mode).__name__}; get a backend with QiskitRestProvider().backend(name)"
            )
        self._mode: RestBackend | Session = mode
        self._backend: RestBackend = mode.backend_object if isinstance(mode, Session) else mode
        self._options = ExecutorOptions.coerce(options)
        self._poll = poll

    def __repr__(self) -> str:
        return f"<Executor(backend='{self._backend.name}', options={self._options})>"

    @property
    def options(self) -> ExecutorOptions:
        """The options; set their attributes, or assign a new :class:`ExecutorOptions` or dict."""
        return self._options

    @options.setter
    def options(self, value: ExecutorOptions | Mapping[str, Any]) -> None:
        self._options = ExecutorOptions.coerce(value)

    @property
    def backend(self) -> RestBackend:
        """The backend jobs run on (``executor.backend()`` works too, as on
        qiskit-ibm-runtime's ``Executor``: calling a ``RestBackend`` returns itself)."""
        return self._backend

    @property
    def mode(self) -> Session | None:
        """The session or batch jobs go to, or ``None`` in job mode."""
        return self._mode if isinstance(self._mode, Session) else None

    def run(
        self, program: Any, dry_run: bool = False, *, semantic_role: str | None = None
    ) -> RuntimeJob:
        """Submit ``program`` as one ``executor`` job.

        Args:
            program: A samplomatic ``QuantumProgram`` (qiskit-ibm-runtime's subclass, or any
                object with its attributes, works too). Its circuits must be ISA circuits of
                the backend's Target; the service checks them.
            dry_run: Run on the backend's dry-run twin (``mock_<name>``, whose results are
                mock data), as qiskit-ibm-runtime does; job mode only.
            semantic_role: The program's semantic role (reserved for IBM's clients; leave it
                ``None``).

        Returns:
            The job; ``job.result()`` is the program's :class:`ExecutorResult`.

        Raises:
            PubValidationError: the program cannot be encoded, or asks for more shots than the
                backend allows.
            TypeError, ValueError: an option is invalid, ``rep_delay`` is outside the backend's
                range, or ``dry_run`` was asked for in a session or batch.
            BadRequestError: the service refused the program (its reason is the message).
            ApiError: another error of the service.
        """
        self._options.validate()
        params = executor_params(program, self._options, semantic_role=semantic_role)
        backend = self._backend
        check_shots(backend, [int(program.shots)], int(program.shots), _RUN)
        check_rep_delay(
            backend,
            None
            if self._options.execution.rep_delay is None
            else float(self._options.execution.rep_delay),
            f"{_RUN.call}: options.execution.rep_delay",
        )
        name = backend.name
        session_id: str | None = None
        if dry_run:
            if isinstance(self._mode, Session):
                raise ValueError(
                    f"{_RUN.call}: dry_run=True runs on the backend's mock twin, outside any "
                    "session or batch; use Executor(backend) for dry runs"
                )
            name = _mock_name(name)
        elif isinstance(self._mode, Session):
            session_id = self._mode.session_id_for_submission()
        body: dict[str, Any] = {
            "program_id": EXECUTOR_PROGRAM,
            "backend": name,
            "params": params.model_dump(mode="json"),
            **self._options.job_fields(),
        }
        if session_id:
            body["session_id"] = session_id
        if backend.calibration_id:
            body["calibration_id"] = backend.calibration_id
        return submit(
            backend,
            body,
            RuntimeJob,
            poll=self._poll,
            expected_result_bytes=_expected_result_bytes(program),
        )


def _mock_name(name: str) -> str:
    """The backend's dry-run twin, named as qiskit-ibm-runtime names it (the name's first
    ``_``-separated word becomes ``mock``: ``ibm_kingston`` → ``mock_kingston``)."""
    return name if name.startswith("mock_") else re.sub(r"^[^_]+", "mock", name, count=1)
