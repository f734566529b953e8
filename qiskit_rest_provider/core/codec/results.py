"""The type-tagged result format (``{"__type__": tag, "__value__": payload}``) both ways.

:func:`decode_result` turns a ``/results`` body into ``PrimitiveResult`` / ``SamplerPubResult``
/ ``PubResult`` / ``DataBin`` / ``BitArray`` / execution spans and plain metadata. It never
evaluates code, unpickles or imports by name: every tag maps to a fixed constructor and an
unknown tag raises :class:`~qiskit_rest_provider.errors.ResultDecodeError`.

Decoding is bounded: the arrays of one result may together hold at most ``max_bytes`` decoded
bytes (:data:`DEFAULT_MAX_RESULT_BYTES` unless the caller knows better, see
:func:`result_budget`). Every array's declared size is checked against what is left of that
budget when its ``.npy`` header has been read, before anything is allocated for it, and the
decompressor never produces more than the header declared, so a small hostile body cannot make
the client allocate more than the budget.

:func:`encode_result` is the inverse, used by the local service.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qiskit.primitives import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)

from ...errors import MALFORMED_INPUT_ERRORS, ResultDecodeError
from ...wire.times import parse_iso
from ..execution_span import (
    DoubleSliceSpan,
    ExecutionSpan,
    ExecutionSpans,
    SliceSpan,
    TwirledSliceSpan,
    TwirledSliceSpanV2,
)
from .ndarray import (
    DecodeBudget,
    HeaderCheck,
    decode_ndarray,
    decode_ndarray_chunks,
    encode_ndarray,
)

__all__ = [
    "BITARRAY_FIELD_TYPE",
    "DEFAULT_MAX_RESULT_BYTES",
    "RESULT_BUDGET_FACTOR",
    "RESULT_BUDGET_FLOOR",
    "decode_result",
    "decode_tagged",
    "encode_result",
    "estimator_result_bytes",
    "result_budget",
    "sampler_result_bytes",
    "to_wire",
]

#: Decoded bytes the arrays of one result may hold when nothing is known about the job (1 GiB):
#: far above ordinary results (1,000,000 shots of 156 bits decode to 20 MB; a job of 100 such
#: pubs, 2 GB, needs its size known or a larger limit) and below what makes a laptop swap.
DEFAULT_MAX_RESULT_BYTES = 1 << 30
#: With the job's expected result size known: room for metadata, spans and small arrays...
RESULT_BUDGET_FLOOR = 64 << 20
#: ...plus this multiple of the expected size.
RESULT_BUDGET_FACTOR = 2
#: Per-element float fields an estimator result may carry (evs, stds, ensemble errors and the
#: ZNE fields with their extrapolator and noise-factor axes), generously.
_ESTIMATOR_FIELD_BYTES = 8 * 32
#: Bytes per shot and bit of kerneled (IQ) sampler data: one complex128.
_KERNELED_BYTES = 16

BITARRAY_FIELD_TYPE = "<class 'qiskit.primitives.containers.bit_array.BitArray'>"
_STREAM_THRESHOLD = 1 << 16
#: ndarray payloads shorter than this stay in the JSON (not worth extracting).
_EXTRACT_THRESHOLD = 512
_PARALLEL_MIN_ARRAYS = 8
_PARALLEL_MIN_CHARS = 1 << 18
_PARALLEL_CHUNK = 8
_PLACEHOLDER = "\x00ndarray:"
_EXTRAPOLATOR_RE = re.compile(r"^[a-z_]+(?:_\d+)?$")
_MAX_NESTING = 200


def _parse_datetime(value: Any) -> _dt.datetime:
    if not isinstance(value, str):
        raise ResultDecodeError(f"datetime value must be a string, got {value!r}")
    try:
        parsed = parse_iso(value, assume_utc=False)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ResultDecodeError(f"invalid datetime {value!r}")
    return parsed


def _expect_dict(value: Any, tag: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ResultDecodeError(f"{tag} value must be an object")
    return value


def _bit_array(value: Any) -> BitArray:
    v = _expect_dict(value, "BitArray")
    array, num_bits = v.get("array"), v.get("num_bits")
    if not isinstance(array, np.ndarray) or not isinstance(num_bits, int):
        raise ResultDecodeError("BitArray needs an ndarray 'array' and an int 'num_bits'")
    if array.dtype != np.uint8:
        raise ResultDecodeError(f"BitArray array must be uint8, got {array.dtype}")
    try:
        return BitArray(array, num_bits)
    except (TypeError, ValueError) as exc:
        raise ResultDecodeError(f"invalid BitArray: {exc}") from None


def _data_bin(value: Any) -> DataBin:
    v = _expect_dict(value, "DataBin")
    fields = v.get("fields")
    shape = v.get("shape", [])
    if not isinstance(fields, dict) or not isinstance(shape, list):
        raise ResultDecodeError("DataBin needs 'fields' (object) and 'shape' (list)")
    try:
        return DataBin(shape=tuple(int(s) for s in shape), **fields)
    except (TypeError, ValueError) as exc:
        raise ResultDecodeError(f"invalid DataBin: {exc}") from None


def _pub_result(cls: type[PubResult]) -> Callable[[Any], PubResult]:
    def build(value: Any) -> PubResult:
        v = _expect_dict(value, cls.__name__)
        data = v.get("data")
        if not isinstance(data, DataBin):
            raise ResultDecodeError(f"{cls.__name__} needs a DataBin 'data'")
        metadata = v.get("metadata") or {}
        return cls(data=data, metadata=metadata)

    return build


def _primitive_result(value: Any) -> PrimitiveResult[Any]:
    v = _expect_dict(value, "PrimitiveResult")
    pubs = v.get("pub_results")
    if not isinstance(pubs, list) or not all(isinstance(p, PubResult) for p in pubs):
        raise ResultDecodeError("PrimitiveResult needs a list of pub results")
    return PrimitiveResult(pubs, metadata=v.get("metadata") or {})


def _slices(value: Any, tag: str, width: int, kinds: str) -> dict[int, tuple[Any, ...]]:
    v = _expect_dict(value, tag)
    raw = v.get("data_slices")
    if not isinstance(raw, dict):
        raise ResultDecodeError(f"{tag} needs 'data_slices'")
    out: dict[int, tuple[Any, ...]] = {}
    for key, entry in raw.items():
        if not isinstance(entry, list) or len(entry) != width:
            raise ResultDecodeError(f"{tag} data slice {key!r} must have {width} entries")
        try:
            shape = tuple(int(s) for s in entry[0])
            rest = entry[1:]
            converted: list[Any] = [shape]
            i = 0
            for kind in kinds:
                if kind == "s":  # a slice from two ints
                    converted.append(slice(int(rest[i]), int(rest[i + 1])))
                    i += 2
                elif kind == "b":
                    converted.append(bool(rest[i]))
                    i += 1
                else:
                    converted.append(int(rest[i]))
                    i += 1
            out[int(key)] = tuple(converted)
        except (TypeError, ValueError) as exc:
            raise ResultDecodeError(f"{tag} data slice {key!r}: {exc}") from None
    return out


def _span(cls: type[ExecutionSpan], width: int, kinds: str) -> Callable[[Any], ExecutionSpan]:
    tag = cls.__name__

    def build(value: Any) -> ExecutionSpan:
        v = _expect_dict(value, tag)
        start, stop = v.get("start"), v.get("stop")
        if not isinstance(start, _dt.datetime) or not isinstance(stop, _dt.datetime):
            raise ResultDecodeError(f"{tag} needs datetime 'start' and 'stop'")
        return cls(start, stop, _slices(v, tag, width, kinds))

    return build


def _spans(value: Any) -> ExecutionSpans:
    v = _expect_dict(value, "ExecutionSpans")
    spans = v.get("spans")
    if not isinstance(spans, list) or not all(isinstance(s, ExecutionSpan) for s in spans):
        raise ResultDecodeError("ExecutionSpans needs a list of spans")
    return ExecutionSpans(spans)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _complex(value: Any) -> complex:
    if isinstance(value, list) and len(value) == 2 and all(_is_real(v) for v in value):
        return complex(float(value[0]), float(value[1]))
    raise ResultDecodeError(f"complex value must be [real, imag], got {value!r:.80}")


def _set(value: Any) -> set[Any]:
    if isinstance(value, list) and all(
        v is None or isinstance(v, (str, int, float, bool)) for v in value
    ):
        return set(value)
    raise ResultDecodeError("set value must be a list of scalars")


def _ndarray(value: Any, check: HeaderCheck | None = None) -> Any:
    try:
        return decode_ndarray(value, check=check)
    except ResultDecodeError:
        # Quirk of the official encoder: ZNE extrapolator names may arrive under this tag.
        if isinstance(value, str) and len(value) < 64 and _EXTRAPOLATOR_RE.match(value):
            return value
        raise


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "BitArray": _bit_array,
    "DataBin": _data_bin,
    "SamplerPubResult": _pub_result(SamplerPubResult),
    "PubResult": _pub_result(PubResult),
    "EstimatorPubResult": _pub_result(PubResult),
    "PrimitiveResult": _primitive_result,
    "ExecutionSpans": _spans,
    "ExecutionSpanCollection": _spans,
    "ExecutionSpan": _span(SliceSpan, 3, "s"),
    "SliceSpan": _span(SliceSpan, 3, "s"),
    "DoubleSliceSpan": _span(DoubleSliceSpan, 5, "ss"),
    "TwirledSliceSpan": _span(TwirledSliceSpan, 6, "bss"),
    "TwirledSliceSpanV2": _span(TwirledSliceSpanV2, 7, "bssi"),
    "datetime": _parse_datetime,
    "complex": _complex,
    "set": _set,
}


def _extract_large_arrays(
    text: str | bytes, check: HeaderCheck | None = None, batch: _Batch | None = None
) -> tuple[str | bytes, dict[str, Any]]:
    """Decode the ndarray payloads of ``text`` (``str`` or ``bytes``, never copied whole) and
    return the text with short placeholders in their place.

    Large payloads are stream-decoded straight into their arrays. Many small ones (a result with
    many pubs) are decoded in parallel threads: zlib releases the GIL while it inflates.
    """
    raw = isinstance(text, bytes)
    key: Any = b'"__value__"' if raw else '"__value__"'
    space: Any = b" \t\r\n" if raw else " \t\r\n"
    colon: Any = b":" if raw else ":"
    quote: Any = b'"' if raw else '"'
    spans: list[tuple[int, int]] = []
    pos = text.find(key)
    n = len(text)
    while pos != -1:
        i = pos + len(key)
        while i < n and text[i : i + 1] in space:
            i += 1
        if text[i : i + 1] == colon:
            i += 1
            while i < n and text[i : i + 1] in space:
                i += 1
            if text[i : i + 1] == quote:
                end = text.find(quote, i + 1)
                if end == -1:
                    break
                if end - i - 1 >= _EXTRACT_THRESHOLD and _is_ndarray_wrapper(text, pos, end):
                    spans.append((i + 1, end))
                pos = text.find(key, end + 1)
                continue
        pos = text.find(key, i)
    if not spans:
        return text, {}
    arrays = _decode_spans(text, spans, check, batch or _Batch())
    pieces: list[Any] = []
    last = 0
    names: dict[str, Any] = {}
    for (start, end), array in zip(spans, arrays, strict=True):
        name = f"{_PLACEHOLDER}{len(names)}"
        names[name] = array
        pieces.append(text[last:start])
        escaped = json.dumps(name)[1:-1]
        pieces.append(escaped.encode() if raw else escaped)
        last = end
    pieces.append(text[last:])
    joined: Any = (b"" if raw else "").join(pieces)
    return joined, names


class _Batch:
    """The worker-thread decodes of one document. If decoding the document fails, they are
    stopped (those not started are cancelled, the others stop after their current array) and
    waited for, so that nothing keeps allocating after the error is raised."""

    __slots__ = ("abort", "futures")

    def __init__(self) -> None:
        self.futures: list[Future[list[NDArray[Any]]]] = []
        self.abort = threading.Event()

    def submit(
        self, function: Callable[..., list[NDArray[Any]]], *args: Any
    ) -> Future[list[NDArray[Any]]]:
        future = _decoder_pool().submit(function, *args)
        self.futures.append(future)
        return future

    def stop(self) -> None:
        self.abort.set()
        for future in self.futures:
            future.cancel()
        wait(self.futures)


class _Pending:
    """An array being decoded in a worker thread; ``get()`` waits for it."""

    __slots__ = ("future", "index")

    def __init__(self, future: Future[list[NDArray[Any]]], index: int) -> None:
        self.future = future
        self.index = index

    def get(self) -> NDArray[Any]:
        return self.future.result()[self.index]


def _decode_spans(
    text: str | bytes,
    spans: list[tuple[int, int]],
    check: HeaderCheck | None,
    batch: _Batch,
) -> list[Any]:
    """Arrays (or :class:`_Pending` arrays) for ``spans``, in order.

    Small payloads are handed to worker threads in order, in chunks, so that the JSON parse of
    the rest of the document runs while they inflate and rarely has to wait.
    """
    out: list[Any] = [None] * len(spans)
    small = [k for k, (a, b) in enumerate(spans) if b - a < _STREAM_THRESHOLD]
    large = [k for k, (a, b) in enumerate(spans) if b - a >= _STREAM_THRESHOLD]
    total = sum(spans[k][1] - spans[k][0] for k in small)
    parallel = len(small) >= _PARALLEL_MIN_ARRAYS and total >= _PARALLEL_MIN_CHARS
    if parallel:
        size = max(4, -(-len(small) // (4 * _POOL_WORKERS)))

        def run(ks: list[int]) -> list[NDArray[Any]]:
            decoded = []
            for k in ks:
                if batch.abort.is_set():
                    raise ResultDecodeError("decoding abandoned")
                decoded.append(decode_ndarray(text[spans[k][0] : spans[k][1]], check=check))
            return decoded

        for start in range(0, len(small), size):
            chunk = small[start : start + size]
            future = batch.submit(run, chunk)
            for position, k in enumerate(chunk):
                out[k] = _Pending(future, position)
    if len(large) > 1:
        # Several large arrays (an estimator's evs and stds): stream each in its own thread,
        # all but the first, which this thread decodes.

        def stream(k: int) -> list[NDArray[Any]]:
            return [decode_ndarray_chunks(text, *spans[k], check=check)]

        for k in large[1:]:
            out[k] = _Pending(batch.submit(stream, k), 0)
    if large:
        out[large[0]] = decode_ndarray_chunks(text, *spans[large[0]], check=check)
    if not parallel:
        for k in small:
            out[k] = decode_ndarray(text[spans[k][0] : spans[k][1]], check=check)
    return out


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
# Inflating releases the GIL; base64 and header parsing do not. Twice as many threads as cores
# keeps the cores busy while the JSON parse runs.
_POOL_WORKERS = max(2, min(8, 2 * (os.cpu_count() or 1)))


def _decoder_pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_POOL_WORKERS, thread_name_prefix="ndarray-decode")
        return _POOL


def _is_ndarray_wrapper(text: Any, value_pos: int, value_end: int) -> bool:
    raw = isinstance(text, bytes)
    tag: Any = b'"ndarray"' if raw else '"ndarray"'
    brace = text.rfind(b"{" if raw else "{", 0, value_pos)
    if brace != -1 and tag in text[brace:value_pos]:
        return True
    close = text.find(b"}" if raw else "}", value_end)
    return close != -1 and tag in text[value_end:close]


def _budget_check(max_bytes: int | None) -> HeaderCheck | None:
    """A header check drawing every array's declared size from one budget of ``max_bytes``."""
    if max_bytes is None:
        return None
    budget = DecodeBudget(max_bytes)

    def check(dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        nbytes = math.prod(shape) * dtype.itemsize
        if not budget.take(nbytes):
            raise ResultDecodeError(
                f"result too large to decode: an array of shape {shape} ({dtype}) declares "
                f"{nbytes} bytes with {budget.used} already decoded, over the limit of "
                f"{budget.limit} bytes per result (raise it with RuntimeJob.max_result_bytes "
                "or decode_result(max_bytes=...) if the result is genuine)"
            )

    return check


def decode_tagged(text: str | bytes, *, max_bytes: int | None = DEFAULT_MAX_RESULT_BYTES) -> Any:
    """Decode any type-tagged JSON document (results or parameter payloads).

    Bytes (a response body) are scanned as they are: large arrays are decoded straight from
    them, and only the small remainder is turned into text. The arrays may hold at most
    ``max_bytes`` decoded bytes together (``None``: no budget beyond the per-array cap); past
    that, :class:`ResultDecodeError` is raised before the array that would exceed it is
    allocated.
    """
    if isinstance(text, (bytearray, memoryview)):
        text = bytes(text)
    if not isinstance(text, (str, bytes)):
        raise ResultDecodeError(f"expected JSON text, got {type(text).__name__}")
    batch = _Batch()
    try:
        return _decode_document(text, _budget_check(max_bytes), batch)
    except BaseException:
        batch.stop()
        raise


def _decode_document(text: str | bytes, check: HeaderCheck | None, batch: _Batch) -> Any:
    text, arrays = _extract_large_arrays(text, check, batch)

    def hook(obj: dict[str, Any]) -> Any:
        tag = obj.get("__type__")
        if tag is None:
            return obj
        if not isinstance(tag, str):
            raise ResultDecodeError(f"type tag must be a string, got {tag!r}")
        value = obj.get("__value__")
        if tag == "ndarray" and isinstance(value, str) and value.startswith(_PLACEHOLDER):
            array = arrays.get(value)
            if array is None:
                # Only our scanner makes placeholders; one in the input is just bad base64.
                raise ResultDecodeError("malformed ndarray value")
            return array.get() if isinstance(array, _Pending) else array
        if tag == "ndarray":
            return _ndarray(value, check)
        decoder = _DECODERS.get(tag)
        if decoder is None:
            raise ResultDecodeError(f"unknown type tag {tag!r} in result")
        try:
            return decoder(value)
        except ResultDecodeError:
            raise
        except MALFORMED_INPUT_ERRORS as exc:
            # Safety net: a payload no specific check anticipated is still a decode error.
            raise ResultDecodeError(f"malformed {tag} value: {exc}") from None

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ResultDecodeError("result is not UTF-8 text") from None
    try:
        return json.loads(text, object_hook=hook)
    except RecursionError:
        raise ResultDecodeError("result JSON is nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, ResultDecodeError):
            raise
        raise ResultDecodeError(f"result is not valid JSON: {exc}") from None


def decode_result(
    text: str | bytes, *, max_bytes: int | None = DEFAULT_MAX_RESULT_BYTES
) -> PrimitiveResult[Any]:
    """Decode a primitive ``/results`` body into a :class:`~qiskit.primitives.PrimitiveResult`.

    ``max_bytes`` bounds the decoded arrays of the whole result (see :func:`result_budget`);
    a body declaring or inflating to more raises :class:`ResultDecodeError` saying so.
    """
    result = decode_tagged(text, max_bytes=max_bytes)
    if not isinstance(result, PrimitiveResult):
        raise ResultDecodeError(f"expected a PrimitiveResult, got {type(result).__name__}")
    return result


def result_budget(expected_bytes: int | None) -> int:
    """The decode limit for a result expected to hold ``expected_bytes`` of arrays:
    :data:`RESULT_BUDGET_FLOOR` plus :data:`RESULT_BUDGET_FACTOR` times the expectation, or
    :data:`DEFAULT_MAX_RESULT_BYTES` when nothing is known (``None``)."""
    if expected_bytes is None:
        return DEFAULT_MAX_RESULT_BYTES
    return RESULT_BUDGET_FLOOR + RESULT_BUDGET_FACTOR * max(0, int(expected_bytes))


def sampler_result_bytes(
    pubs: Iterable[tuple[int, int, Sequence[int]]], *, meas_type: str = "classified"
) -> int:
    """Array bytes of a sampler result: ``pubs`` gives, per pub, its number of parameter sets,
    its shots and the widths of its classical registers (one ``BitArray`` each).

    ``meas_type="kerneled"`` results carry one complex128 per shot and bit instead,
    ``"avg_kerneled"`` one per bit.
    """
    total = 0
    for sets, shots, widths in pubs:
        if meas_type == "classified":
            total += sets * shots * sum((w + 7) // 8 for w in widths)
        elif meas_type == "avg_kerneled":
            total += sets * sum(widths) * _KERNELED_BYTES
        else:
            total += sets * shots * sum(widths) * _KERNELED_BYTES
    return total


def estimator_result_bytes(elements: Iterable[int]) -> int:
    """Array bytes an estimator result may hold, given each pub's number of expectation values
    (the size of its broadcast shape)."""
    return sum(elements) * _ESTIMATOR_FIELD_BYTES


# Encoding -------------------------------------------------------------------------------------


def _slice_entry(value: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = [list(value[0])]
    for item in value[1:]:
        if isinstance(item, slice):
            out.extend([item.start or 0, item.stop])
        else:
            out.append(item)
    return out


def to_wire(obj: Any, depth: int = 0) -> Any:
    """Convert result objects to their JSON-able, type-tagged form."""
    if depth > _MAX_NESTING:
        raise ValueError("object nested too deeply to encode")
    d = depth + 1
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, np.ndarray):
        return encode_ndarray(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): to_wire(v, d) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_wire(v, d) for v in obj]
    if isinstance(obj, PrimitiveResult):
        return {
            "__type__": "PrimitiveResult",
            "__value__": {
                "pub_results": [to_wire(r, d) for r in obj],
                "metadata": to_wire(obj.metadata, d),
            },
        }
    if isinstance(obj, PubResult):
        tag = "SamplerPubResult" if isinstance(obj, SamplerPubResult) else "PubResult"
        return {
            "__type__": tag,
            "__value__": {"data": to_wire(obj.data, d), "metadata": to_wire(obj.metadata, d)},
        }
    if isinstance(obj, DataBin):
        names = list(obj.keys())
        values = [obj[name] for name in names]
        return {
            "__type__": "DataBin",
            "__value__": {
                "field_names": names,
                "field_types": [
                    BITARRAY_FIELD_TYPE if isinstance(v, BitArray) else "ndarray" for v in values
                ],
                "shape": list(obj.shape),
                "fields": {n: to_wire(v, d) for n, v in zip(names, values, strict=True)},
            },
        }
    if isinstance(obj, BitArray):
        return {
            "__type__": "BitArray",
            "__value__": {"array": encode_ndarray(obj.array), "num_bits": obj.num_bits},
        }
    if isinstance(obj, ExecutionSpans):
        return {"__type__": "ExecutionSpans", "__value__": {"spans": [to_wire(s, d) for s in obj]}}
    if isinstance(obj, ExecutionSpan):
        # The official encoder tags a SliceSpan "ExecutionSpan" (its historical name).
        tag = "ExecutionSpan" if type(obj) is SliceSpan else type(obj).__name__
        return {
            "__type__": tag,
            "__value__": {
                "start": to_wire(obj.start, d),
                "stop": to_wire(obj.stop, d),
                "data_slices": {str(k): _slice_entry(v) for k, v in obj.data_slices.items()},
            },
        }
    if isinstance(obj, _dt.datetime):
        return {"__type__": "datetime", "__value__": obj.isoformat()}
    if isinstance(obj, complex):
        return {"__type__": "complex", "__value__": [obj.real, obj.imag]}
    if isinstance(obj, (set, frozenset)):
        return {"__type__": "set", "__value__": [to_wire(v, d) for v in obj]}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode_result(result: PrimitiveResult[Any]) -> str:
    """Encode a ``PrimitiveResult`` as the ``/results`` body text."""
    return json.dumps(to_wire(result), separators=(",", ":"))
