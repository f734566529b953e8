"""Our result decoder against qiskit-ibm-runtime's RuntimeDecoder, on a corpus encoded by the
official RuntimeEncoder (the oracle of reference §9)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult, SamplerPubResult
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder
from qiskit_ibm_runtime import execution_span as ref_spans

from qiskit_rest_provider.core.codec.ndarray import decode_ndarray, encode_ndarray
from qiskit_rest_provider.core.codec.results import decode_result, decode_tagged, encode_result
from qiskit_rest_provider.errors import ResultDecodeError

pytestmark = [pytest.mark.official]

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
T1 = dt.datetime(2026, 11, 1, 12, 0, 3, 250000, tzinfo=dt.timezone.utc)


def _bits(rng: np.random.Generator, shape: tuple[int, ...], shots: int, bits: int) -> BitArray:
    raw = rng.integers(0, 2, size=(*shape, shots, bits), dtype=bool)
    return BitArray.from_bool_array(raw, order="big")


def _spans() -> Any:
    return ref_spans.ExecutionSpans(
        [
            ref_spans.SliceSpan(T0, T1, {0: ((4,), slice(0, 4))}),
            ref_spans.DoubleSliceSpan(T0, T1, {1: ((2, 100), slice(0, 2), slice(0, 100))}),
            ref_spans.TwirledSliceSpan(T0, T1, {0: ((3, 4, 10), True, slice(0, 4), slice(2, 9))}),
            ref_spans.TwirledSliceSpanV2(
                T0, T1, {2: ((4, 5, 16), False, slice(1, 5), slice(0, 64), 60)}
            ),
        ]
    )


def sampler_result(seed: int = 1) -> PrimitiveResult[Any]:
    rng = np.random.default_rng(seed)
    pubs = [
        SamplerPubResult(
            DataBin(meas=_bits(rng, (), 100, 5)),
            metadata={"circuit_metadata": {"name": "bell"}},
        ),
        SamplerPubResult(
            DataBin(alpha=_bits(rng, (3, 2), 64, 3), beta=_bits(rng, (3, 2), 64, 9), shape=(3, 2)),
            metadata={"circuit_metadata": {}, "unknown_key": [1, 2, {"x": "y"}]},
        ),
    ]
    return PrimitiveResult(
        pubs, metadata={"execution": {"execution_spans": _spans()}, "version": 2}
    )


def estimator_result(seed: int = 2) -> PrimitiveResult[Any]:
    rng = np.random.default_rng(seed)
    shape = (2, 3)
    data = DataBin(
        evs=rng.normal(size=shape),
        stds=rng.random(shape),
        ensemble_standard_error=rng.random(shape),
        evs_extrapolated=rng.normal(size=(*shape, 2, 4)),
        stds_extrapolated=rng.random((*shape, 2, 4)),
        evs_noise_factors=rng.normal(size=(*shape, 3)),
        stds_noise_factors=rng.random((*shape, 3)),
        shape=shape,
    )
    metadata = {
        "target_precision": 0.015625,
        "shots": 4096,
        "circuit_metadata": {},
        "resilience": {
            "zne": {"extrapolator": ["exponential", "linear"], "noise_factors": [1, 3, 5]},
        },
        "num_randomizations": 32,
    }
    return PrimitiveResult(
        [PubResult(data, metadata=metadata)], metadata={"dynamical_decoupling": {"enable": False}}
    )


def _assert_same(ours: Any, ref: Any, path: str = "result") -> None:
    if isinstance(ref, PrimitiveResult):
        assert isinstance(ours, PrimitiveResult), path
        assert len(ours) == len(ref)
        _assert_same(ours.metadata, ref.metadata, f"{path}.metadata")
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(ref, PubResult):
        assert type(ours).__name__ == type(ref).__name__, path
        _assert_same(ours.data, ref.data, f"{path}.data")
        _assert_same(ours.metadata, ref.metadata, f"{path}.metadata")
    elif isinstance(ref, DataBin):
        assert isinstance(ours, DataBin) and ours.shape == ref.shape, path
        assert list(ours.keys()) == list(ref.keys()), path
        for key in ref:
            _assert_same(ours[key], ref[key], f"{path}.{key}")
    elif isinstance(ref, BitArray):
        assert isinstance(ours, BitArray), path
        assert (ours.num_bits, ours.shape, ours.num_shots) == (
            ref.num_bits,
            ref.shape,
            ref.num_shots,
        )
        np.testing.assert_array_equal(ours.array, ref.array)
    elif isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == ref.dtype, path
        np.testing.assert_array_equal(ours, ref)
    elif isinstance(ref, ref_spans.ExecutionSpans):
        assert len(ours) == len(ref), path
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            assert type(a).__name__ == type(b).__name__, f"{path}[{i}]"
            assert (a.start, a.stop) == (b.start, b.stop)
            assert a.pub_idxs == b.pub_idxs and a.duration == b.duration, f"{path}[{i}]"
            assert a.size == b.size
            for idx in b.pub_idxs:
                np.testing.assert_array_equal(a.mask(idx), b.mask(idx))
    elif isinstance(ref, dict):
        assert isinstance(ours, dict) and set(ours) == set(ref), path
        for key in ref:
            _assert_same(ours[key], ref[key], f"{path}.{key}")
    elif isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref), path
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    else:
        assert ours == ref, path


@pytest.mark.parametrize("make", [sampler_result, estimator_result])
def test_decoder_agrees_with_runtime_decoder(make: Any) -> None:
    text = json.dumps(make(), cls=RuntimeEncoder)
    reference = json.loads(text, cls=RuntimeDecoder)
    ours = decode_result(text)
    _assert_same(ours, reference)
    _assert_same(decode_result(text.encode()), reference)


def test_spans_behave_like_the_official_ones() -> None:
    text = json.dumps(sampler_result(), cls=RuntimeEncoder)
    ours = decode_result(text).metadata["execution"]["execution_spans"]
    ref = json.loads(text, cls=RuntimeDecoder).metadata["execution"]["execution_spans"]
    assert ours.start == ref.start and ours.stop == ref.stop and ours.duration == ref.duration
    assert ours.pub_idxs == ref.pub_idxs
    assert [s.pub_idxs for s in ours.filter_by_pub(0)] == [s.pub_idxs for s in ref.filter_by_pub(0)]
    assert [type(s).__name__ for s in ours.sort()] == [type(s).__name__ for s in ref.sort()]


def test_our_encoding_round_trips_through_both_decoders() -> None:
    for make in (sampler_result, estimator_result):
        ours_text = encode_result(decode_result(json.dumps(make(), cls=RuntimeEncoder)))
        _assert_same(decode_result(ours_text), json.loads(ours_text, cls=RuntimeDecoder))


def test_large_sampler_result_streams_and_matches() -> None:
    rng = np.random.default_rng(5)
    result = PrimitiveResult([SamplerPubResult(DataBin(meas=_bits(rng, (), 20_000, 156)))])
    text = json.dumps(result, cls=RuntimeEncoder)
    _assert_same(decode_result(text), json.loads(text, cls=RuntimeDecoder))


def test_several_large_arrays_decode_in_parallel_and_match() -> None:
    # evs, stds and ensemble_standard_error each stream in their own thread.
    rng = np.random.default_rng(6)
    shape = (400, 50)
    data = DataBin(
        evs=rng.normal(size=shape),
        stds=rng.random(shape),
        ensemble_standard_error=rng.random(shape),
        shape=shape,
    )
    text = json.dumps(PrimitiveResult([PubResult(data, metadata={})]), cls=RuntimeEncoder)
    assert text.count('"ndarray"') == 3 and len(text) > 3 * 65536
    for body in (text, text.encode()):
        _assert_same(decode_result(body), json.loads(text, cls=RuntimeDecoder))
    # A corrupt second array is reported, whichever thread decoded it.
    start = text.index('"__value__"', text.index('"stds"'))
    start = text.index('"', start + len('"__value__": ')) + 1
    broken = text[: start + 1000] + "!!!!" + text[start + 1004 :]
    with pytest.raises(ResultDecodeError, match="base64"):
        decode_result(broken)


@pytest.mark.parametrize(
    "payload, message",
    [
        ('{"__type__": "Pickled", "__value__": "gASVAAAA"}', "unknown type tag"),
        ('{"__type__": "PrimitiveResult", "__value__": {"pub_results": 3}}', "list of pub results"),
        ('{"__type__": "ndarray", "__value__": "!!notbase64"}', "ndarray"),
        ('{"__type__": "BitArray", "__value__": {"array": 1}}', "BitArray"),
        ("[1, 2]", "PrimitiveResult"),
        ("not json", "JSON"),
    ],
)
def test_malformed_results_give_clear_errors(payload: str, message: str) -> None:
    with pytest.raises(ResultDecodeError, match=message):
        decode_result(payload)


def test_ndarray_wrapper_refuses_pickled_object_arrays() -> None:
    import base64
    import io
    import zlib

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    wrapper = {
        "__type__": "ndarray",
        "__value__": base64.b64encode(zlib.compress(buffer.getvalue())).decode(),
    }
    with pytest.raises(ResultDecodeError):
        decode_tagged(json.dumps(wrapper))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["float64", "float32", "int64", "int8", "uint8", "bool", "complex128"]),
    st.lists(st.integers(0, 4), min_size=0, max_size=3),
    st.integers(0, 2**31),
)
def test_ndarray_round_trip_matches_the_official_encoder(
    dtype: str, shape: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    array = np.asarray(rng.normal(size=shape) * 50).astype(dtype)
    ours = encode_ndarray(array)
    seen: list[tuple[Any, ...]] = []
    decoded = decode_ndarray(ours["__value__"], check=lambda d, s: seen.append((d, s)))
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    assert seen == [(array.dtype, array.shape)]  # the header check runs once, before allocation
    budget = array.nbytes - 1
    if budget >= 0:  # one byte short of the array: refused, whatever its size
        with pytest.raises(ResultDecodeError, match="result too large"):
            decode_tagged(json.dumps(ours), max_bytes=budget)
    np.testing.assert_array_equal(decoded, array)
    reference = json.loads(json.dumps(ours), cls=RuntimeDecoder)
    np.testing.assert_array_equal(reference, array)
    official = json.loads(json.dumps(array, cls=RuntimeEncoder))
    np.testing.assert_array_equal(decode_ndarray(official["__value__"]), array)


def test_standard_library_fallback_decodes_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from qiskit_rest_provider.core.codec import ndarray

    text = json.dumps(sampler_result(), cls=RuntimeEncoder)
    fast = decode_result(text.encode())
    monkeypatch.setattr(ndarray, "_pybase64", None)
    slow = decode_result(text.encode())
    _assert_same(slow, fast)
    with pytest.raises(ResultDecodeError, match="base64"):
        decode_ndarray("@@@@")


def test_truncated_and_oversized_streams_are_refused() -> None:
    import base64
    import zlib

    from qiskit_rest_provider.core.codec.ndarray import decode_ndarray_chunks, npy_bytes

    data = np.random.default_rng(0).random(200_000)
    payload = base64.b64encode(zlib.compress(npy_bytes(data))).decode()
    assert decode_ndarray_chunks(payload, 0, len(payload), chunk_chars=4096).shape == (200_000,)
    cut = payload[: len(payload) // 2 // 4 * 4]
    with pytest.raises(ResultDecodeError, match="truncated"):
        decode_ndarray_chunks(cut, 0, len(cut), chunk_chars=4096)
    # A header that declares fewer bytes than the stream holds is refused, never overrun.
    raw = npy_bytes(np.zeros(10)) + bytes(10_000)
    bomb = base64.b64encode(zlib.compress(raw)).decode()
    with pytest.raises(ResultDecodeError, match="longer than its header"):
        decode_ndarray_chunks(bomb, 0, len(bomb))


def test_padded_npy_headers_decode_without_being_cached() -> None:
    import base64
    import zlib

    from qiskit_rest_provider.core.codec import ndarray

    data = np.arange(6, dtype="<i8").reshape(2, 3)
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }".ljust(2000) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    payload = base64.b64encode(zlib.compress(raw + data.tobytes())).decode()
    before = ndarray._parse_header_cached.cache_info().currsize
    np.testing.assert_array_equal(decode_ndarray(payload), data)
    assert ndarray._parse_header_cached.cache_info().currsize == before
    decode_ndarray(encode_ndarray(data)["__value__"])  # an ordinary header is cached
    assert ndarray._parse_header_cached.cache_info().currsize >= 1
