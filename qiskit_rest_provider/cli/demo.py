"""``qiskit-rest demo``: the main job, end to end on the embedded local service."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from .render import print_json, table

__all__ = ["run_demo"]

T = TypeVar("T")


def run_demo(args: argparse.Namespace) -> int:
    """Start the local service, list its devices, transpile against the 156-qubit device's
    Target, run a sampler and an estimator job, and print results with timings."""
    import warnings

    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp, Statevector
    from qiskit.transpiler import generate_preset_pass_manager

    from ..client.primitives import EstimatorV2, SamplerV2
    from ..server import LocalRuntimeServer
    from .commands import backend_summary, wait_with_progress

    timings: dict[str, float] = {}
    quiet = args.json

    def say(text: str) -> None:
        if not quiet:
            print(text)

    @contextmanager
    def step(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - start, 3)
        say(f"   ({name}: {timings[name]:.2f} s)")

    def timed(name: str, fn: Callable[[], T]) -> T:
        with step(name):
            return fn()

    report: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        say("1. Starting the embedded local Qiskit Runtime service on 127.0.0.1 ...")
        server = timed("start service", lambda: LocalRuntimeServer(workers=1).start())
    try:
        provider = server.provider()
        say(f"   {server.url}  (instance {server.instance})")

        say("\n2. Backends (GET /v1/backends, /configuration, /properties):")
        rows = timed("list backends", lambda: [backend_summary(b) for b in provider.backends()])
        report["backends"] = rows
        headers = ["name", "qubits", "status", "queue", "processor", "median 2q", "median RO"]
        say(table([list(r.values()) for r in rows], headers))

        backend = provider.backend(args.backend)
        say(f"\n3. Transpiling against {backend.name}'s Target ...")
        target = timed("build target", lambda: backend.target)
        names = ", ".join(sorted(target.operation_names))
        say(f"   {target.num_qubits} qubits, operations: {names}")
        pm = generate_preset_pass_manager(optimization_level=2, backend=backend, seed_transpiler=7)
        ghz = QuantumCircuit(args.qubits)
        ghz.h(0)
        for i in range(args.qubits - 1):
            ghz.cx(i, i + 1)
        ghz.measure_all()
        isa_ghz = timed("transpile GHZ", lambda: pm.run(ghz))
        layout = isa_ghz.layout.final_index_layout() if isa_ghz.layout else []
        ops = dict(isa_ghz.count_ops())
        say(f"   GHZ-{args.qubits} on physical qubits {layout}: {ops}, depth {isa_ghz.depth()}")

        say(f"\n4. SamplerV2: GHZ-{args.qubits}, {args.shots} shots on the noisy simulator ...")
        sampler = SamplerV2(backend)
        with step("sampler job"):
            job = sampler.run([isa_ghz], shots=args.shots)
            say(f"   job {job.job_id()} submitted")
            if not quiet:
                wait_with_progress(job, timeout=600)
            counts = job.result(timeout=600)[0].data.meas.get_counts()
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
        ideal = counts.get("0" * args.qubits, 0) + counts.get("1" * args.qubits, 0)
        say(f"   top counts: {dict(top)}")
        say(f"   all-0 or all-1 (ideal outcomes): {ideal / args.shots:.1%} of shots")
        report["sampler"] = {"job_id": job.job_id(), "top_counts": dict(top)}

        say("\n5. EstimatorV2: <ZZ> and <XX> of RY(theta)-CX over a theta sweep ...")
        theta = Parameter("theta")
        pair = QuantumCircuit(2)
        pair.ry(theta, 0)
        pair.cx(0, 1)
        isa_pair = pm.run(pair)
        angles = np.linspace(0, np.pi, 5)
        observables = [[SparsePauliOp("ZZ")], [SparsePauliOp("XX")]]  # shape (2, 1)
        estimator = EstimatorV2(backend, options={"resilience_level": 1})
        with step("estimator job"):
            est_job = estimator.run([(isa_pair, observables, angles.reshape(1, -1, 1))])
            if not quiet:
                wait_with_progress(est_job, timeout=600)
            evs = est_job.result(timeout=600)[0].data.evs
        exact = np.array(
            [
                [
                    Statevector(pair.assign_parameters([a]))
                    .expectation_value(SparsePauliOp(o))
                    .real
                    for a in angles
                ]
                for o in ("ZZ", "XX")
            ]
        )
        rows2 = [
            [f"{a:.3f}", float(evs[0, i]), float(exact[0, i]), float(evs[1, i]), float(exact[1, i])]
            for i, a in enumerate(angles)
        ]
        say(table(rows2, ["theta", "<ZZ>", "exact", "<XX>", "exact"]))
        report["estimator"] = {"job_id": est_job.job_id(), "evs": evs.tolist()}
    finally:
        timed("stop service", server.stop)
    report["timings_s"] = timings
    if args.json:
        print_json(report)
    else:
        print("\nTimings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    return 0
