"""Helpers shared by the tests that talk to the real local service over loopback.

Starting a second service instance, exchanging its API key for a bearer token, waiting for a
job to finish, probing that the service stays responsive while an attack runs, and measuring how
far this process's memory (the in-process service's) peaks during a block.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import requests

from qiskit_rest_provider.client.provider import QiskitRestProvider
from qiskit_rest_provider.server import LocalRuntimeServer

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
FINAL_STATUSES = ("Completed", "Failed", "Cancelled")


@contextlib.contextmanager
def running_server(**options: Any) -> Iterator[LocalRuntimeServer]:
    """A ``LocalRuntimeServer(**options)`` started for the block and stopped after it.

    Warnings are silenced while it starts only (the simulator's import warnings are noise);
    warnings raised inside the block still reach the test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = LocalRuntimeServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


def access_token(server: LocalRuntimeServer, timeout: float = 10) -> str:
    """Exchange the service's API key for a bearer token at ``/identity/token`` (raw HTTP)."""
    response = requests.post(
        f"{server.url}/identity/token",
        data={"grant_type": APIKEY_GRANT, "apikey": server.api_key},
        timeout=timeout,
    )
    return str(response.json()["access_token"])


def auth_headers(server: LocalRuntimeServer, timeout: float = 10) -> dict[str, str]:
    """Headers for raw requests to the service: a fresh bearer token and its instance."""
    return {
        "Authorization": f"Bearer {access_token(server, timeout)}",
        "Service-CRN": server.instance,
    }


def wait_final(provider: QiskitRestProvider, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the job until it is Completed, Failed or Cancelled; return its document."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = provider.client.get_job(job_id)
        if doc["status"] in FINAL_STATUSES:
            return doc
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


class ResponsivenessProbe:
    """``GET /api/v1/versions`` in a loop (timeout 3 s) while an attack runs.

    Records each probe's latency and every failure (a non-200 or no answer within the timeout).
    When the block ends without an exception it asserts that the probe ran and never failed,
    and prints the worst latency; after an exception it only stops (the error in flight is the
    one to see).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    response = session.get(f"{self.url}/api/v1/versions", timeout=3)
                    if response.status_code != 200:
                        self.failures.append(f"status {response.status_code}")
                except requests.RequestException as exc:
                    self.failures.append(repr(exc))
                self.latencies.append(time.perf_counter() - start)
                self._stop.wait(0.05)

    def __enter__(self) -> ResponsivenessProbe:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if exc_type is None:
            assert not self.failures, self.failures[:3]
            assert self.latencies, "the probe never ran"
            print(
                f"/versions during the attack: {len(self.latencies)} probes, "
                f"max {max(self.latencies) * 1000:.0f} ms"
            )


def _status_value(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert match is not None, field
    return int(match.group(1)) * 1024


class PeakGrowth:
    """Peak resident memory of this process during a block, minus its RSS at the start.

    The tests' service runs in this process (its simulations in worker processes), so this is
    the service's own memory; Rust and numpy allocations count too. Uses the kernel's
    high-water mark, reset through /proc/self/clear_refs; where that is not allowed, samples
    VmRSS every 5 ms. ``growth`` (bytes) is set when the block ends.
    """

    growth: int

    def __enter__(self) -> PeakGrowth:
        self.start = _status_value("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # reset the peak (VmHWM) to the current RSS
            self._sampler: threading.Thread | None = None
        except OSError:
            self._peak = self.start
            self._stop = threading.Event()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, _status_value("VmRSS"))

    def __exit__(self, *exc: object) -> None:
        if self._sampler is None:
            peak = _status_value("VmHWM")
        else:
            self._stop.set()
            self._sampler.join()
            peak = self._peak
        self.growth = max(0, peak - self.start)


def mitigated_ghz_correlators(executor: Any, backend: Any) -> tuple[Any, Any]:
    """Run qiskit-mitigation's workflow through ``executor`` (any ``Executor``: ``run(program)``
    returns a job whose ``result(timeout)`` is a quantum-program result) on a 4-qubit GHZ
    circuit with repeated CNOT ladders transpiled for ``backend``. Returns the ``ZZII`` and
    ``IIZZ`` expectation values unmitigated and with TREX plus ZNE by gate folding (noise
    factors 1 and 3, linear extrapolation); ideally both are 1."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_mitigation import TREX, GateFolding, MitigationTask

    qc = QuantumCircuit(4)
    qc.h(0)
    for _ in range(2):
        for i in range(3):
            qc.cx(i, i + 1)
        for i in reversed(range(3)):
            qc.cx(i, i + 1)
    for i in range(3):
        qc.cx(i, i + 1)
    isa = generate_preset_pass_manager(1, backend=backend, seed_transpiler=1).run(qc)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZII", "IIZZ")]
    sizes = {"num_randomizations": 8, "shots_per_randomization": 256}

    plain = MitigationTask()
    program = plain.prepare(isa, observables, None, **sizes)
    unmitigated = plain.postprocess(executor.run(program).result(timeout=600)).data.evs

    trex, folding = TREX(), GateFolding()
    program = folding.prepare(
        isa, observables, None, trex=trex, noise_factors=(1, 3), extrapolator=["linear"], **sizes
    )
    program = trex.prepare(8, program)
    mitigated = folding.postprocess(executor.run(program).result(timeout=600)).data.evs
    return unmitigated, mitigated
