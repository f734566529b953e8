"""The tensors of the executor program's models (``ibm_quantum_schemas``): their dtypes' sizes
and a bounded count of what a compressed tensor inflates to.

A tensor is ``{"data", "shape", "dtype"}``: little-endian values in C order, booleans bit-packed,
base64-encoded, and zlib-compressed in the ``v2.0`` models. Both the service (checking a job's
params before decoding them) and the client (checking a result before decoding it) size a
tensor from its shape and dtype, and count what its stream inflates to without holding it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = [
    "TENSOR_ELEMENT_BITS",
    "InflateError",
    "decoded_tensor_bytes",
    "inflated_size",
    "packed_tensor_bytes",
]

#: Bits per element of each tensor dtype on the wire (``bool`` is bit-packed).
TENSOR_ELEMENT_BITS: Final[Mapping[str, int]] = {
    "bool": 1,
    "f16": 16,
    "f32": 32,
    "f64": 64,
    "i8": 8,
    "i16": 16,
    "i32": 32,
    "i64": 64,
    "u8": 8,
    "u16": 16,
    "u32": 32,
    "u64": 64,
    "c64": 64,
    "c128": 128,
}

#: Bytes inflated at a time while a stream's size is counted.
_INFLATE_CHUNK: Final = 1 << 20


class InflateError(ValueError):
    """A stream that is not zlib data, is truncated, or inflates beyond its limit
    (``exceeded``)."""

    def __init__(self, message: str, *, exceeded: bool = False) -> None:
        super().__init__(message)
        self.exceeded = exceeded


def _elements(shape: Sequence[int]) -> int:
    count = 1
    for extent in shape:
        count *= extent
    return count


def packed_tensor_bytes(shape: Sequence[int], dtype: str) -> int:
    """Bytes of a ``dtype`` tensor of ``shape`` on the wire, before compression (integers
    throughout: the product of a hostile shape may not fit a float)."""
    return -(-_elements(shape) * TENSOR_ELEMENT_BITS[dtype] // 8)


def decoded_tensor_bytes(shape: Sequence[int], dtype: str) -> int:
    """Bytes of a ``dtype`` tensor of ``shape`` once decoded (booleans take a byte each)."""
    return _elements(shape) * max(1, TENSOR_ELEMENT_BITS[dtype] // 8)


def inflated_size(packed: bytes, limit: int, *, complete: bool = True) -> int:
    """The bytes the zlib stream ``packed`` inflates to, counted a megabyte at a time (nothing
    larger is held).

    Raises:
        InflateError: ``packed`` is not zlib data, inflates beyond ``limit`` bytes (refused as
            soon as the count passes it), or (``complete``) is truncated.
    """
    inflater = zlib.decompressobj()
    size = 0
    pending = packed
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            pending = inflater.unconsumed_tail
            size += len(chunk)
            if size > limit:
                raise InflateError(f"the data inflate to more than {limit:,} bytes", exceeded=True)
            if not chunk and not pending:
                break  # all input consumed, nothing more comes out: truncated
    except zlib.error:
        raise InflateError("the data is not a zlib stream") from None
    if complete and not inflater.eof:
        raise InflateError("the zlib stream is truncated")
    return size
