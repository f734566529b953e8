"""The executor params' size checks, run before anything is decoded: every declared shape and
every zlib stream is bounded, whatever the input (hypothesis for the shapes and streams)."""

from __future__ import annotations

import base64
import math
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qiskit_rest_provider.server.executor.decode import (
    MAX_ITEMS,
    MAX_TENSOR_BYTES,
    ProgramError,
    check_declared_sizes,
    inflated_size,
)


def _b64z(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data)).decode()


def _params(tensor: Any, version: str = "v2.0", items: int = 1) -> dict[str, Any]:
    return {
        "schema_version": version,
        "quantum_program": {
            "shots": 10,
            "circuits": {"b64_data": _b64z(b"QISKIT"), "qpy_version": 17, "num_programs": 1},
            "items": [
                {"item_type": "circuit", "circuit_arguments": tensor, "shape": []}
                for _ in range(items)
            ],
        },
        "options": {},
    }


@given(
    shape=st.lists(st.integers(min_value=0, max_value=2**70), max_size=40),
    dtype=st.sampled_from(["f64", "bool", "c128", "u8", "x1"]),
)
@settings(max_examples=200, deadline=None)
def test_any_declared_shape_is_checked_without_allocating(shape: list[int], dtype: str) -> None:
    tensor = {"data": _b64z(b""), "shape": shape, "dtype": dtype}
    try:
        check_declared_sizes(_params(tensor))
    except ProgramError as exc:
        assert "params.quantum_program.items[0].circuit_arguments" in str(exc)
    else:
        # accepted: the shape holds no element and the (empty) stream matches it
        assert dtype != "x1" and len(shape) <= 32 and math.prod(shape) == 0


@pytest.mark.parametrize(
    "shape",
    [[-1], [True], [1.5], "3", [[2]], None],
)
def test_malformed_shapes_are_refused(shape: Any) -> None:
    with pytest.raises(ProgramError, match="shape must be"):
        check_declared_sizes(_params({"data": _b64z(b""), "shape": shape, "dtype": "f64"}))


def test_a_stream_must_inflate_to_exactly_its_shape() -> None:
    ok = {"data": _b64z(b"\0" * 16), "shape": [2], "dtype": "f64"}
    check_declared_sizes(_params(ok))
    short = {"data": _b64z(b"\0" * 8), "shape": [2], "dtype": "f64"}
    with pytest.raises(ProgramError, match="inflate to 8 bytes"):
        check_declared_sizes(_params(short))
    long = {"data": _b64z(b"\0" * 24), "shape": [2], "dtype": "f64"}
    with pytest.raises(ProgramError, match="more than 16 bytes"):
        check_declared_sizes(_params(long))
    # versions before v2.0 carry plain (uncompressed) tensors: no stream to inflate
    check_declared_sizes(_params({"data": "AAAA", "shape": [0], "dtype": "f64"}, "v1.1"))


def test_a_program_may_not_declare_more_than_the_limits() -> None:
    huge = {"data": _b64z(b""), "shape": [MAX_TENSOR_BYTES // 8 + 1], "dtype": "f64"}
    with pytest.raises(ProgramError, match="limit per array"):
        check_declared_sizes(_params(huge))
    with pytest.raises(ProgramError, match="at most"):
        check_declared_sizes(
            _params({"data": "", "shape": [0], "dtype": "f64"}, items=MAX_ITEMS + 1)
        )
    with pytest.raises(ProgramError, match="schema_version"):
        check_declared_sizes(_params({}, version="v3.0"))


@given(st.binary(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_any_bytes_are_counted_or_refused(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    try:
        size = inflated_size(text, 1 << 20, "where")
    except ProgramError as exc:
        assert str(exc).startswith("where: ")
    else:
        assert size == len(zlib.decompress(data))


def test_a_deflate_bomb_is_refused_after_the_limit_without_inflating_it_whole() -> None:
    bomb = zlib.compressobj(9)
    stream = b"".join(bomb.compress(b"\0" * (1 << 24)) for _ in range(4)) + bomb.flush()
    text = base64.b64encode(stream).decode()
    with pytest.raises(ProgramError, match="more than 1,048,576 bytes"):
        inflated_size(text, 1 << 20, "bomb")
    with pytest.raises(ProgramError, match="not valid base64"):
        inflated_size("!!", 10, "bad")
    with pytest.raises(ProgramError, match="not a zlib stream"):
        inflated_size(base64.b64encode(b"plain bytes").decode(), 10, "bad")
