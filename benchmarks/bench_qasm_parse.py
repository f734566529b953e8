"""OpenQASM 3 parsing in the service: our ISA reader versus qiskit-qasm3-import."""

from __future__ import annotations

import warnings

from .circuits import ansatz, random_isa
from .harness import Case, interleaved

__all__ = ["run"]


def run(quick: bool) -> list[Case]:
    from qiskit import qasm3
    from qiskit_ibm_runtime.fake_provider import FakeKolkataV2, FakeSherbrooke

    from qiskit_rest_provider.core.codec.qasm3 import dumps_isa, loads_isa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eagle = FakeSherbrooke().target
        kolkata = FakeKolkataV2().target
    text = dumps_isa(ansatz(eagle))
    repeat = 3 if quick else 7
    a, b = interleaved(
        lambda: loads_isa(text), lambda: qasm3.loads(text), repeat, reference_repeat=2
    )
    cases = [
        Case(
            "qasm parse",
            "one 127-qubit ansatz (~1,900 ops)",
            a,
            b,
            ">= 20x faster (reference about 1.3 s)",
            reference_name="qiskit-qasm3-import",
        )
    ]
    count = 10 if quick else 100
    texts = [dumps_isa(random_isa(kolkata, 27, 50, seed)) for seed in range(count)]
    a, b = interleaved(
        lambda: [loads_isa(t) for t in texts],
        lambda: [qasm3.loads(t) for t in texts],
        max(2, repeat // 2),
        reference_repeat=1,
        warmup=0,
    )
    cases.append(
        Case(
            "qasm parse",
            f"{count} random 27-qubit depth-50 circuits",
            a,
            b,
            ">= 20x faster",
            reference_name="qiskit-qasm3-import",
        )
    )
    return cases
