"""The ``ndarray`` wire wrapper: base64(zlib(``.npy`` bytes)), decoded safely and fast.

Safety: pickled (object) arrays are refused, the declared shape must match the data exactly,
and a declared size that the compressed payload could not possibly hold is refused before any
allocation. Speed and memory: the ``.npy`` header is parsed with a small grammar (no
``literal_eval``), and large payloads are base64-decoded and decompressed chunk by chunk straight
into the final array, so decoding needs little more memory than the array itself.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import re
import sys
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..exceptions import ResultDecodeError

_pybase64: Any
try:  # accelerator (a dependency of the package; the standard library is the fallback)
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - depends on the environment
    _pybase64 = None

__all__ = [
    "MAX_ARRAY_BYTES",
    "decode_ndarray",
    "decode_ndarray_chunks",
    "encode_ndarray",
    "npy_bytes",
]

#: Largest array (in bytes) a payload may declare.
MAX_ARRAY_BYTES = 8 * 1024**3
#: zlib cannot expand data by more than about 1032:1.
_MAX_ZLIB_RATIO = 1100
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


def _parse_header(raw: bytes) -> tuple[np.dtype[Any], tuple[int, ...], bool, int]:
    """Parse an ``.npy`` preamble. Returns ``(dtype, shape, fortran_order, data_offset)``."""
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
    header = raw[start:end]
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
    shape = tuple(int(p) for p in shape_text.split(",") if p.strip())
    if len(shape) > 32:
        raise ResultDecodeError("ndarray has too many dimensions")
    return dtype, shape, match.group("fortran") == "True"


_parse_header_cached = functools.lru_cache(maxsize=128)(_parse_header_dict)


def _nbytes(dtype: np.dtype[Any], shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count * dtype.itemsize


def _from_npy(raw: bytes | bytearray | memoryview) -> NDArray[Any]:
    dtype, shape, fortran, offset = _parse_header(bytes(raw[:70000]))
    nbytes = _nbytes(dtype, shape)
    if len(raw) - offset != nbytes:
        raise ResultDecodeError(
            f"ndarray data has {len(raw) - offset} bytes, its header declares {nbytes}"
        )
    flat = np.frombuffer(
        raw, dtype=dtype, count=nbytes // dtype.itemsize if nbytes else 0, offset=offset
    )
    array: NDArray[Any] = flat.reshape(shape, order="F" if fortran else "C")
    if not array.flags.writeable:
        array = array.copy()
    return array


def decode_ndarray(value: Any, *, max_bytes: int = MAX_ARRAY_BYTES) -> NDArray[Any]:
    """Decode the ``__value__`` of an ``ndarray`` wrapper.

    A JSON number or list (object-dtype arrays on the wire) becomes ``np.array(value)``.
    """
    if isinstance(value, (list, int, float)) and not isinstance(value, bool):
        return np.array(value)
    if not isinstance(value, (str, bytes)):
        raise ResultDecodeError(
            f"ndarray value must be a base64 string, got {type(value).__name__}"
        )
    if len(value) > 65536:
        return decode_ndarray_chunks(value, 0, len(value), max_bytes=max_bytes)
    try:
        compressed = _a2b(value)
    except (binascii.Error, ValueError):
        raise ResultDecodeError("ndarray value is not valid base64") from None
    decompressor = zlib.decompressobj()
    try:
        raw = decompressor.decompress(compressed, max_bytes + 70000)
    except zlib.error as exc:
        raise ResultDecodeError(f"ndarray value is not valid zlib data ({exc})") from None
    if decompressor.unconsumed_tail or not decompressor.eof:
        raise ResultDecodeError("ndarray payload is truncated or larger than allowed")
    return _from_npy(raw)


def decode_ndarray_chunks(
    text: str | bytes,
    start: int,
    stop: int,
    *,
    max_bytes: int = MAX_ARRAY_BYTES,
    chunk_chars: int = 1 << 20,
) -> NDArray[Any]:
    """Stream-decode ``text[start:stop]`` (base64 of zlib of .npy) into a new array.

    ``text`` may be ``str`` or ``bytes`` (a response body: no text copy is made). Memory use is
    the array plus one chunk; no full-size intermediate copies are made, and the decompressor is
    never allowed to produce more than the header declares (no decompression bombs).
    """
    length = stop - start
    if length % 4:
        raise ResultDecodeError("ndarray value is not valid base64 (length)")
    chunk_chars -= chunk_chars % 4
    source: str | memoryview = memoryview(text) if isinstance(text, bytes) else text
    decompressor = zlib.decompressobj()
    head = bytearray()
    out: NDArray[Any] | None = None
    view: memoryview | None = None
    filled = 0
    nbytes = 0
    pos = start
    while pos < stop:
        end = min(pos + chunk_chars, stop)
        try:
            pending = _a2b(source[pos:end])
        except (binascii.Error, ValueError):
            raise ResultDecodeError("ndarray value is not valid base64") from None
        pos = end
        while pending:
            limit = 70000 if out is None else nbytes - filled + 1
            try:
                data = decompressor.decompress(pending, limit)
            except zlib.error as exc:
                raise ResultDecodeError(f"ndarray value is not valid zlib data ({exc})") from None
            pending = decompressor.unconsumed_tail
            if out is None:
                head += data
                if not _header_complete(head):
                    if len(head) > 70000:
                        raise ResultDecodeError("ndarray header is too large")
                    continue
                dtype, shape, fortran, offset = _parse_header(bytes(head[:70000]))
                nbytes = _nbytes(dtype, shape)
                if nbytes > max_bytes or nbytes > _MAX_ZLIB_RATIO * (length * 3 // 4) + 70000:
                    raise ResultDecodeError(
                        f"ndarray declares {nbytes} bytes, more than its payload can hold or "
                        "allowed"
                    )
                out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
                flat = out.reshape(-1, order="A").view(np.uint8)
                view = memoryview(flat.data) if nbytes else None
                data = bytes(head[offset:])
                head = bytearray()
            if data:
                if filled + len(data) > nbytes or view is None:
                    raise ResultDecodeError("ndarray data is longer than its header declares")
                view[filled : filled + len(data)] = data
                filled += len(data)
            if not data and not pending:
                break
    if not decompressor.eof:
        raise ResultDecodeError("ndarray payload is truncated")
    if out is None:
        return _from_npy(bytes(head))
    if filled != nbytes:
        raise ResultDecodeError(f"ndarray data has {filled} bytes, its header declares {nbytes}")
    return out


def _header_complete(head: bytearray) -> bool:
    if len(head) < 10 or head[:6] != _MAGIC:
        return len(head) >= 10  # let the parser report the error
    if head[6] == 1:
        return len(head) >= 10 + int.from_bytes(head[8:10], "little")
    return len(head) >= 12 and len(head) >= 12 + int.from_bytes(head[8:12], "little")
