"""The ``ndarray`` wire wrapper: base64(zlib(``.npy`` bytes)), decoded safely and fast.

Safety: pickled (object) arrays are refused, the declared shape must match the data exactly, and
nothing is allocated for an array before its ``.npy`` header was read and accepted: by a caller's
``check`` (a budget of decoded bytes shared by every array of a document, a dtype policy, a
shape limit) and by the payload itself (zlib cannot expand data by more than about 1032:1). The
decompressor is never allowed to produce more bytes than the header declares, so a decompression
bomb costs at most what its header admits to, and that is checked first.

Speed and memory: the ``.npy`` header is parsed with a small grammar (no ``literal_eval``), and
payloads are base64-decoded and inflated chunk by chunk straight into the final array, so
decoding needs little more memory than the array itself.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
import sys
import threading
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...errors import ResultDecodeError

_pybase64: Any
try:  # accelerator (a dependency of the package; the standard library is the fallback)
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - depends on the environment
    _pybase64 = None

__all__ = [
    "MAX_ARRAY_BYTES",
    "DecodeBudget",
    "HeaderCheck",
    "decode_ndarray",
    "decode_ndarray_chunks",
    "encode_ndarray",
    "npy_bytes",
    "npy_header",
]

#: Largest array (in bytes) a payload may declare, whatever the caller's budget.
MAX_ARRAY_BYTES = 8 * 1024**3
#: zlib cannot expand data by more than about 1032:1.
_MAX_ZLIB_RATIO = 1100
#: The ``.npy`` preamble (magic, version, length) plus the largest header we accept.
_MAX_HEAD = 70000
#: Most bytes inflated per zlib call.
_OUT_CHUNK = 1 << 20
_MAGIC = b"\x93NUMPY"
_HEADER_RE = re.compile(
    r"""^\{\s*
    (?:'descr'\s*:\s*'(?P<descr>[<>|=]?[a-zA-Z][0-9]*)'\s*,\s*
     |'fortran_order'\s*:\s*(?P<fortran>True|False)\s*,\s*
     |'shape'\s*:\s*\((?P<shape>[0-9,\s]*)\)\s*,?\s*){3}
    \}\s*$""",
    re.VERBOSE,
)
_ALLOWED_KINDS = frozenset("biufcS?")

#: Called with an array's dtype and shape once its header is read, before anything is allocated
#: for it; raises to refuse the array.
HeaderCheck = Callable[[np.dtype[Any], tuple[int, ...]], None]


class DecodeBudget:
    """An allowance of decoded bytes shared by every array of one document (a result, or the
    pubs of one request). Thread-safe: arrays decoded in parallel threads draw on it too."""

    __slots__ = ("_lock", "limit", "used")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("a decode budget cannot be negative")
        self.limit = int(limit)
        self.used = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        """Bytes still allowed."""
        return max(0, self.limit - self.used)

    def take(self, nbytes: int) -> bool:
        """Reserve ``nbytes``; ``False`` (and nothing reserved) if that exceeds the limit."""
        with self._lock:
            if nbytes < 0 or self.used + nbytes > self.limit:
                return False
            self.used += nbytes
            return True


def _a2b(text: str | bytes | memoryview) -> bytes:
    """Strict base64 decoding: SIMD-accelerated ``pybase64`` when installed (about 6x faster
    than the standard library on large payloads), else ``binascii``."""
    if _pybase64 is not None:
        return bytes(_pybase64.b64decode(text, validate=True))
    if _STRICT:
        return binascii.a2b_base64(text, strict_mode=True)  # type: ignore[call-arg,unused-ignore]
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if _B64_ALPHABET.fullmatch(data) is None:
        raise binascii.Error("invalid base64")
    return binascii.a2b_base64(data)


def _b2a(data: bytes) -> str:
    if _pybase64 is not None:
        return str(_pybase64.b64encode_as_string(data))
    return base64.standard_b64encode(data).decode("ascii")


_STRICT = sys.version_info >= (3, 11)
_B64_ALPHABET = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def npy_bytes(array: NDArray[Any]) -> bytes:
    """``np.save`` bytes of an array (no pickling)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def encode_ndarray(array: Any, *, level: int = 6) -> dict[str, Any]:
    """Wrap an array as ``{"__type__": "ndarray", "__value__": base64(zlib(npy))}``."""
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise TypeError("object arrays cannot be encoded")
    data = _b2a(zlib.compress(npy_bytes(arr), level))
    return {"__type__": "ndarray", "__value__": data}


def npy_header(raw: bytes | bytearray) -> tuple[np.dtype[Any], tuple[int, ...], bool, int]:
    """Parse an ``.npy`` preamble: ``(dtype, shape, fortran_order, data_offset)``.

    Only numeric, bool and bytes dtypes are accepted (never objects). Raises
    :class:`~qiskit_rest_provider.errors.ResultDecodeError`.
    """
    if len(raw) < 10 or raw[:6] != _MAGIC:
        raise ResultDecodeError("ndarray payload is not in .npy format")
    major = raw[6]
    if major == 1:
        header_len = int.from_bytes(raw[8:10], "little")
        start = 10
    elif major in (2, 3):
        if len(raw) < 12:
            raise ResultDecodeError("truncated .npy header")
        header_len = int.from_bytes(raw[8:12], "little")
        start = 12
    else:
        raise ResultDecodeError(f"unsupported .npy version {major}")
    end = start + header_len
    if len(raw) < end or header_len > 65536:
        raise ResultDecodeError("truncated or oversized .npy header")
    header = bytes(raw[start:end])
    # Every pub of a result repeats the same header: parse it once. Only ordinary-sized
    # headers are cached, so hostile input cannot make the cache hold much.
    parse = _parse_header_cached if header_len <= 256 else _parse_header_dict
    dtype, shape, fortran = parse(header)
    return dtype, shape, fortran, end


def _parse_header_dict(header: bytes) -> tuple[np.dtype[Any], tuple[int, ...], bool]:
    """The ``.npy`` header dictionary: dtype, shape and Fortran order."""
    text = header.decode("latin-1")
    match = _HEADER_RE.match(text.strip())
    if not match or not all(match.group(g) is not None for g in ("descr", "fortran", "shape")):
        raise ResultDecodeError(f"unsupported .npy header {text.strip()[:100]!r}")
    descr = match.group("descr")
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise ResultDecodeError(f"unsupported dtype {descr!r}") from None
    if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject:
        raise ResultDecodeError(f"refusing dtype {descr!r} (only numeric and bool arrays)")
    shape_text = match.group("shape").strip()
    parts = [p for p in shape_text.split(",") if p.strip()]
    if len(parts) > 32:
        raise ResultDecodeError("ndarray has too many dimensions")
    if any(len(p.strip()) > 19 for p in parts):  # beyond int64: no real array is that long
        raise ResultDecodeError("ndarray declares an impossible dimension")
    shape = tuple(int(p) for p in parts)
    return dtype, shape, match.group("fortran") == "True"


_parse_header_cached = functools.lru_cache(maxsize=128)(_parse_header_dict)


def _nbytes(dtype: np.dtype[Any], shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count * dtype.itemsize


class _Inflater:
    """Inflates one zlib stream of ``.npy`` bytes into an array allocated only once its header
    was accepted; never inflates more than the header declares (plus one byte, to notice)."""

    __slots__ = (
        "_check",
        "_compressed",
        "_filled",
        "_head",
        "_max_bytes",
        "_nbytes",
        "_out",
        "_view",
        "_zlib",
    )

    def __init__(self, compressed_size: int, max_bytes: int, check: HeaderCheck | None) -> None:
        self._zlib = zlib.decompressobj()
        self._compressed = compressed_size
        self._max_bytes = max_bytes
        self._check = check
        self._head: bytes | bytearray = b""
        self._out: NDArray[Any] | None = None
        self._view: memoryview | None = None
        self._filled = 0
        self._nbytes = 0

    def feed(self, compressed: bytes) -> None:
        """Inflate the next piece of the compressed stream."""
        pending = compressed
        while pending:
            before = len(pending)
            # Output is taken in bounded pieces and copied into the array at once: zlib's own
            # output buffer never holds more than _OUT_CHUNK (a bomb's temporary bytes neither).
            limit = (
                _MAX_HEAD if self._out is None else min(_OUT_CHUNK, self._nbytes - self._filled + 1)
            )
            try:
                chunk = self._zlib.decompress(pending, limit)
            except zlib.error as exc:
                raise ResultDecodeError(f"ndarray value is not valid zlib data ({exc})") from None
            pending = self._zlib.unconsumed_tail
            data: bytes | memoryview = chunk
            if self._out is None:
                self._head = chunk if not self._head else bytearray(self._head) + chunk
                if not _header_complete(self._head):
                    if len(self._head) >= _MAX_HEAD:
                        raise ResultDecodeError("ndarray header is too large")
                    if not chunk and len(pending) >= before:
                        break  # no progress: the stream ended (or is stuck)
                    continue
                data = self._start()
            if data:
                self._write(data)
            elif len(pending) >= before:
                break  # no progress: the stream ended (or is stuck)

    def _start(self) -> memoryview:
        """Parse and check the header, allocate the array; returns the data after the header."""
        head = self._head
        dtype, shape, fortran, offset = npy_header(head)
        nbytes = _nbytes(dtype, shape)
        if nbytes > self._max_bytes or nbytes > _MAX_ZLIB_RATIO * self._compressed + _MAX_HEAD:
            raise ResultDecodeError(
                f"ndarray declares {nbytes} bytes, more than its payload can hold or than "
                f"allowed ({min(self._max_bytes, _MAX_ZLIB_RATIO * self._compressed)} bytes)"
            )
        if self._check is not None:
            self._check(dtype, shape)
        out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
        self._out = out
        self._nbytes = nbytes
        if nbytes:
            self._view = memoryview(out.reshape(-1, order="A").view(np.uint8).data)
        self._head = b""
        return memoryview(head)[offset:]

    def _write(self, chunk: bytes | memoryview) -> None:
        end = self._filled + len(chunk)
        if end > self._nbytes or self._view is None:
            raise ResultDecodeError("ndarray data is longer than its header declares")
        self._view[self._filled : end] = chunk
        self._filled = end

    def finish(self) -> NDArray[Any]:
        """The array, once the whole stream was fed."""
        if not self._zlib.eof:
            raise ResultDecodeError("ndarray payload is truncated")
        if self._out is None:
            npy_header(self._head)  # reports why the header is incomplete
            raise ResultDecodeError("ndarray payload is truncated")
        if self._filled != self._nbytes:
            raise ResultDecodeError(
                f"ndarray data has {self._filled} bytes, its header declares {self._nbytes}"
            )
        return self._out


def decode_ndarray(
    value: Any, *, max_bytes: int = MAX_ARRAY_BYTES, check: HeaderCheck | None = None
) -> NDArray[Any]:
    """Decode the ``__value__`` of an ``ndarray`` wrapper.

    ``check(dtype, shape)`` is called once the header is read and before the array is
    allocated (and for a JSON value, once it is converted); it raises to refuse the array. A
    JSON number or list (object-dtype arrays on the wire) becomes ``np.array(value)``.
    """
    if isinstance(value, (list, int, float)) and not isinstance(value, bool):
        array = np.array(value)
        if check is not None:
            check(array.dtype, array.shape)
        return array
    if not isinstance(value, (str, bytes)):
        raise ResultDecodeError(
            f"ndarray value must be a base64 string, got {type(value).__name__}"
        )
    if len(value) > 65536:
        return decode_ndarray_chunks(value, 0, len(value), max_bytes=max_bytes, check=check)
    try:
        compressed = _a2b(value)
    except (binascii.Error, ValueError):
        raise ResultDecodeError("ndarray value is not valid base64") from None
    inflater = _Inflater(len(compressed), max_bytes, check)
    inflater.feed(compressed)
    return inflater.finish()


def decode_ndarray_chunks(
    text: str | bytes,
    start: int,
    stop: int,
    *,
    max_bytes: int = MAX_ARRAY_BYTES,
    chunk_chars: int = 1 << 20,
    check: HeaderCheck | None = None,
) -> NDArray[Any]:
    """Stream-decode ``text[start:stop]`` (base64 of zlib of .npy) into a new array.

    ``text`` may be ``str`` or ``bytes`` (a response body: no text copy is made). Memory use is
    the array plus one chunk; no full-size intermediate copies are made, and the decompressor is
    never allowed to produce more than the header declares (no decompression bombs). ``check``
    is as for :func:`decode_ndarray`.
    """
    length = stop - start
    if length % 4:
        raise ResultDecodeError("ndarray value is not valid base64 (length)")
    chunk_chars -= chunk_chars % 4
    source: str | memoryview = memoryview(text) if isinstance(text, bytes) else text
    inflater = _Inflater(length * 3 // 4, max_bytes, check)
    pos = start
    while pos < stop:
        end = min(pos + chunk_chars, stop)
        try:
            pending = _a2b(source[pos:end])
        except (binascii.Error, ValueError):
            raise ResultDecodeError("ndarray value is not valid base64") from None
        pos = end
        inflater.feed(pending)
    return inflater.finish()


def _header_complete(head: bytes | bytearray) -> bool:
    if len(head) < 10 or head[:6] != _MAGIC:
        return len(head) >= 10  # let the parser report the error
    if head[6] == 1:
        return len(head) >= 10 + int.from_bytes(head[8:10], "little")
    return len(head) >= 12 and len(head) >= 12 + int.from_bytes(head[8:12], "little")
