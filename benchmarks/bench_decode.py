"""Result decoding: our decoder versus RuntimeDecoder on the same JSON text."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .harness import Case, interleaved, peak_bytes

__all__ = ["run"]


def _sampler_text(pubs: int, bits: int, shots: int) -> str:
    from qiskit.primitives import BitArray, DataBin, PrimitiveResult, SamplerPubResult
    from qiskit_ibm_runtime import RuntimeEncoder

    rng = np.random.default_rng(0)
    nbytes = (bits + 7) // 8
    results = []
    for _ in range(pubs):
        raw = rng.integers(0, 256, size=(shots, nbytes), dtype=np.uint8)
        if bits % 8:
            raw[:, 0] &= (1 << (bits % 8)) - 1
        results.append(SamplerPubResult(DataBin(meas=BitArray(raw, bits)), metadata={}))
    return json.dumps(PrimitiveResult(results, metadata={"version": 2}), cls=RuntimeEncoder)


def _estimator_text(shape: tuple[int, int]) -> str:
    from qiskit.primitives import DataBin, PrimitiveResult, PubResult
    from qiskit_ibm_runtime import RuntimeEncoder

    rng = np.random.default_rng(1)
    data = DataBin(evs=rng.normal(size=shape), stds=rng.random(shape), shape=shape)
    result = PrimitiveResult([PubResult(data, metadata={"target_precision": 0.01})])
    return json.dumps(result, cls=RuntimeEncoder)


def _case(name: str, text: str, repeat: int, goal: str, arrays: Any) -> Case:
    from qiskit_ibm_runtime import RuntimeDecoder

    from qiskit_rest_provider.core.codec.results import decode_result

    body = text.encode()
    a, b = interleaved(
        lambda: decode_result(body), lambda: json.loads(text, cls=RuntimeDecoder), repeat
    )
    peak, result = peak_bytes(lambda: decode_result(body))
    ref_peak, _ = peak_bytes(lambda: json.loads(text, cls=RuntimeDecoder))
    size = arrays(result)
    return Case(
        "decode",
        name,
        a,
        b,
        goal,
        extra={
            "payload_MB": round(len(body) / 1e6, 2),
            "peak/arrays": round(peak / size, 2),
            "official_peak/arrays": round(ref_peak / size, 2),
        },
    )


def run(quick: bool) -> list[Case]:
    repeat = 5 if quick else 11
    shots = 20_000 if quick else 1_000_000

    def bit_bytes(result: Any) -> int:
        return sum(pub.data.meas.array.nbytes for pub in result)

    def ev_bytes(result: Any) -> int:
        return sum(pub.data.evs.nbytes + pub.data.stds.nbytes for pub in result)

    return [
        _case(
            f"sampler: 1 pub x 156 bits x {shots:,} shots",
            _sampler_text(1, 156, shots),
            repeat,
            ">= 3x faster, peak <= 1.5x the arrays",
            bit_bytes,
        ),
        _case(
            "sampler: 100 pubs x 27 bits x 4,096 shots",
            _sampler_text(100, 27, 4096),
            repeat,
            ">= 2x faster",
            bit_bytes,
        ),
        _case(
            "estimator: 1 pub of 1000 x 50 values",
            _estimator_text((1000, 50)),
            repeat,
            "faster",
            ev_bytes,
        ),
    ]
