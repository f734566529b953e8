"""Pub serialization: OpenQASM 3 (ours) versus QPY through RuntimeEncoder (official)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

from .circuits import ansatz, random_isa
from .harness import Case, interleaved

__all__ = ["run"]


def run(quick: bool) -> list[Case]:
    from qiskit import qasm3
    from qiskit.primitives.containers import SamplerPub
    from qiskit_ibm_runtime import RuntimeEncoder
    from qiskit_ibm_runtime.fake_provider import FakeKolkataV2

    from qiskit_rest_provider import SamplerV2
    from qiskit_rest_provider.core.codec.ndarray import encode_ndarray
    from qiskit_rest_provider.core.codec.qasm3 import dumps_isa
    from qiskit_rest_provider.server import LocalRuntimeServer

    repeat = 5 if quick else 15
    cases: list[Case] = []
    with warnings.catch_warnings(), LocalRuntimeServer(workers=0) as server:
        warnings.simplefilter("ignore")
        provider = server.provider()
        eagle = provider.backend("local_eagle")
        heron = provider.backend("local_heron")
        rng = np.random.default_rng(1)

        circuit = ansatz(eagle.target)
        values = rng.random(circuit.num_parameters)
        pub = SamplerPub.coerce((circuit, values), 4096)
        a, b = interleaved(
            lambda: json.dumps([dumps_isa(circuit), encode_ndarray(values), 4096]),
            lambda: json.dumps(pub, cls=RuntimeEncoder),
            repeat,
        )
        cases.append(
            Case(
                "serialize",
                f"127-qubit 4-layer ansatz ({len(circuit.data):,} ops), first submission",
                a,
                b,
                "no slower than the official QPY path",
                extra={"qasm3.dumps_ms": round(_once(lambda: qasm3.dumps(circuit)), 1)},
            )
        )
        sampler = SamplerV2(eagle)
        sampler.wire_pubs([(circuit, values)])

        def cached() -> Any:
            return json.dumps(sampler.wire_pubs([(circuit, rng.random(values.size))], shots=4096))

        a, b = interleaved(cached, lambda: json.dumps(pub, cls=RuntimeEncoder), repeat * 2)
        cases.append(
            Case(
                "serialize",
                "the same ansatz re-submitted with new values (cached text)",
                a,
                b,
                "<= 1 ms",
            )
        )

        kolkata = FakeKolkataV2().target
        count = 20 if quick else 100
        randoms = [random_isa(kolkata, 27, 50, seed) for seed in range(count)]
        pubs = [SamplerPub.coerce(c, 1024) for c in randoms]
        a, b = interleaved(
            lambda: json.dumps(
                [[dumps_isa(c), encode_ndarray(np.empty(0)), 1024] for c in randoms]
            ),
            lambda: json.dumps(pubs, cls=RuntimeEncoder),
            max(3, repeat // 3),
        )
        ops = sum(len(c.data) for c in randoms) // count
        cases.append(
            Case("serialize", f"{count} random 27-qubit circuits (~{ops} ops each)", a, b, "faster")
        )

        big = random_isa(heron.target, 156, 1, seed=7, measure=False)
        while len(big.data) < 10_000:
            big.compose(
                random_isa(heron.target, 156, 1, seed=len(big.data), measure=False), inplace=True
            )
        big.measure_all()
        big_pub = SamplerPub.coerce(big, 1024)
        a, b = interleaved(
            lambda: json.dumps([dumps_isa(big), encode_ndarray(np.empty(0)), 1024]),
            lambda: json.dumps(big_pub, cls=RuntimeEncoder),
            max(3, repeat // 3),
        )
        cases.append(
            Case("serialize", f"156-qubit circuit of {len(big.data):,} gates", a, b, "faster")
        )
    return cases


def _once(fn: Any) -> float:
    import time

    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3
