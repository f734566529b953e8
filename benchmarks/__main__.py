"""Benchmarks: qiskit-rest-provider side by side with the official qiskit-ibm-runtime client.

Run ``python -m benchmarks`` (``--quick`` for a fast smoke run, ``--json PATH`` to save the
figures). Every case runs the same work through both clients and reports the median time of
each and their ratio (official / ours: above 1 means we are faster). Needs the test extras
(``pip install -e ".[test]"``), which bring the official client as a reference.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Case:
    name: str
    ours_ms: float
    official_ms: float | None
    goal: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.official_ms is None or self.ours_ms <= 0:
            return None
        return self.official_ms / self.ours_ms


def median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def peak_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        value = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, value


# Result decoding -------------------------------------------------------------------------------


def _sampler_result_text(pubs: int, bits: int, shots: int) -> str:
    from qiskit.primitives import BitArray, DataBin, PrimitiveResult, SamplerPubResult
    from qiskit_ibm_runtime import RuntimeEncoder

    rng = np.random.default_rng(0)
    nbytes = (bits + 7) // 8
    results = []
    for _ in range(pubs):
        raw = rng.integers(0, 256, size=(shots, nbytes), dtype=np.uint8)
        raw[:, 0] &= (1 << (bits - 8 * (nbytes - 1))) - 1 if bits % 8 else 0xFF
        results.append(SamplerPubResult(DataBin(meas=BitArray(raw, bits)), metadata={}))
    return json.dumps(PrimitiveResult(results, metadata={"version": 2}), cls=RuntimeEncoder)


def bench_decode(pubs: int, bits: int, shots: int, repeat: int, goal: str) -> Case:
    from qiskit_ibm_runtime import RuntimeDecoder

    from qiskit_rest_provider.codec.results import decode_result

    text = _sampler_result_text(pubs, bits, shots)
    body = text.encode()
    ours = median_ms(lambda: decode_result(body), repeat)
    official = median_ms(lambda: json.loads(text, cls=RuntimeDecoder), repeat)
    peak, result = peak_bytes(lambda: decode_result(body))
    arrays = sum(pub.data.meas.array.nbytes for pub in result)
    ref_peak, _ = peak_bytes(lambda: json.loads(text, cls=RuntimeDecoder))
    return Case(
        f"decode sampler result: {pubs} pub(s) x {bits} bits x {shots:,} shots",
        ours,
        official,
        goal,
        {
            "payload_MB": round(len(body) / 1e6, 2),
            "peak_over_arrays": round(peak / arrays, 2),
            "official_peak_over_arrays": round(ref_peak / arrays, 2),
        },
    )


# Pub serialization -----------------------------------------------------------------------------


def _ansatz_127(target: Any) -> Any:
    """A hardware-efficient ISA ansatz on a 127-qubit Eagle-like Target: 4 layers of rz, sx
    and one ecr per coupler, final rotations and measurements (about 1,900 operations)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    n, layers = target.num_qubits, 4
    edges = sorted(target["ecr"])
    theta = ParameterVector("θ", n * (layers + 1))
    qc = QuantumCircuit(n)
    k = 0
    for _layer in range(layers):
        for q in range(n):
            qc.rz(theta[k], q)
            qc.sx(q)
            k += 1
        for a, b in edges:
            qc.ecr(a, b)
    for q in range(n):
        qc.rz(theta[k], q)
        k += 1
    qc.measure_all()
    return qc


def bench_serialize(repeat: int) -> list[Case]:
    import warnings

    from qiskit import qasm3
    from qiskit.primitives.containers import SamplerPub
    from qiskit_ibm_runtime import RuntimeEncoder

    from qiskit_rest_provider import SamplerV2
    from qiskit_rest_provider.codec.ndarray import encode_ndarray
    from qiskit_rest_provider.codec.qasm3 import dumps_isa
    from qiskit_rest_provider.server import LocalRuntimeServer

    with warnings.catch_warnings(), LocalRuntimeServer(workers=0) as server:
        warnings.simplefilter("ignore")
        backend = server.provider().backend("local_eagle")
        circuit = _ansatz_127(backend.target)
        rng = np.random.default_rng(1)
        values = rng.random(circuit.num_parameters)
        pub = SamplerPub.coerce((circuit, values), 4096)

        def ours() -> Any:
            wire = [dumps_isa(circuit), encode_ndarray(values), 4096]
            return json.dumps(wire)

        def official() -> Any:
            return json.dumps(pub, cls=RuntimeEncoder)

        ops = len(circuit.data)
        first = Case(
            f"serialize a 127-qubit 4-layer ansatz ({ops:,} ops), first submission",
            median_ms(ours, repeat),
            median_ms(official, repeat),
            "no slower than the official client's QPY path",
            {"qasm3.dumps_ms": round(median_ms(lambda: qasm3.dumps(circuit), 3), 2)},
        )
        sampler = SamplerV2(backend)
        sampler.wire_pubs([(circuit, values)])  # checked and serialized once

        def cached() -> Any:
            new = rng.random(circuit.num_parameters)
            return json.dumps(sampler.wire_pubs([(circuit, new)], shots=4096))

        second = Case(
            "re-submit the same ansatz with new parameter values (cached text)",
            median_ms(cached, repeat * 3),
            median_ms(official, repeat),
            "<= 1 ms",
        )
    return [first, second]


# Target building -------------------------------------------------------------------------------


def bench_target(repeat: int) -> Case:
    from qiskit_ibm_runtime.fake_provider import FakeFez
    from qiskit_ibm_runtime.utils.backend_converter import convert_to_target
    from qiskit_ibm_runtime.utils.backend_decoder import (
        configuration_from_server_data,
        properties_from_server_data,
    )

    from qiskit_rest_provider.configuration import BackendConfiguration
    from qiskit_rest_provider.properties import BackendProperties
    from qiskit_rest_provider.target import build_target

    fake = FakeFez()
    folder = Path(sys.modules[type(fake).__module__].__file__ or "").parent
    conf = json.loads(next(folder.glob("conf_*.json")).read_text())
    props = json.loads(next(folder.glob("props_*.json")).read_text())

    def ours() -> Any:
        config = BackendConfiguration(conf)
        return build_target(config, BackendProperties(props, dt=config.get("dt")))

    # The official decoders modify their input: give every call fresh copies, made untimed.
    official_repeat = max(repeat // 2, 1)
    copies = [(copy.deepcopy(conf), copy.deepcopy(props)) for _ in range(official_repeat + 1)]

    def official() -> Any:
        c, p = copies.pop()
        return convert_to_target(
            configuration_from_server_data(c, use_fractional_gates=True),
            properties_from_server_data(p),
        )

    return Case(
        "build the Target of a 156-qubit device (FakeFez snapshot)",
        median_ms(ours, repeat),
        median_ms(official, official_repeat),
        "faster than the official converter",
    )


# Round trip against the local service ----------------------------------------------------------


def bench_round_trip(repeat: int) -> Case:
    import os
    import warnings

    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime import SamplerV2 as OfficialSampler

    from qiskit_rest_provider import SamplerV2
    from qiskit_rest_provider.server import LocalRuntimeServer

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    with warnings.catch_warnings(), LocalRuntimeServer(workers=1) as server:
        warnings.simplefilter("ignore")
        provider = server.provider()
        backend = provider.backend("local_heron")
        pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=1)
        circuit = pm.run(qc)
        sampler = SamplerV2(backend)
        ours = median_ms(lambda: sampler.run([circuit], shots=1000).result(), repeat)
        os.environ["IAM_URL"] = server.iam_url
        os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"
        api = f"{server.url}/api/v1"
        service = QiskitRuntimeService(
            channel="ibm_quantum_platform",
            token=server.api_key,
            instance=server.instance,
            url=server.url,
            url_resolver=lambda *_: api,
        )
        official_sampler = OfficialSampler(mode=service.backend("local_heron"))
        official = median_ms(lambda: official_sampler.run([circuit], shots=1000).result(), repeat)
    return Case(
        "Bell job round trip on the local service (156-qubit noisy device)",
        ours,
        official,
        "faster than the official client",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small inputs, few repeats")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 9
    shots = 20_000 if args.quick else 1_000_000
    cases = [
        bench_decode(1, 156, shots, repeat, ">= 3x faster, peak <= 1.5x the arrays"),
        bench_decode(100, 27, 4096, repeat, ">= 2x faster"),
        *bench_serialize(repeat),
        bench_target(repeat),
        bench_round_trip(3 if args.quick else 10),
    ]
    width = max(len(c.name) for c in cases)
    print(f"{'case':<{width}}  {'ours ms':>9}  {'official ms':>11}  {'ratio':>6}  goal / extra")
    for c in cases:
        official = f"{c.official_ms:11.2f}" if c.official_ms is not None else f"{'-':>11}"
        ratio = f"{c.ratio:5.2f}x" if c.ratio is not None else f"{'-':>6}"
        extra = ", ".join(f"{k}={v}" for k, v in c.extra.items())
        print(f"{c.name:<{width}}  {c.ours_ms:9.2f}  {official}  {ratio}  {c.goal}; {extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "quick": args.quick,
            "cases": [{**asdict(c), "ratio": c.ratio} for c in cases],
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
