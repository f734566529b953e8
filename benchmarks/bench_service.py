"""End to end against the local service, both clients; service throughput, request overhead,
polling load, simulation time inside the service versus Aer called directly, and throughput
across cores (jobs per second at 1, 2 and 4 worker processes, with the cores kept busy)."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .circuits import coupling_path
from .harness import Case, Figure, interleaved

__all__ = ["run"]


def _official_service(server: Any) -> Any:
    from qiskit_ibm_runtime import QiskitRuntimeService

    # The official client reaches a loopback service through the service's proxy, with
    # documented options only (no environment variable, which would leak into the caller).
    return QiskitRuntimeService(instance=server.instance, **server.official_client_options())


def _requests_per_job(server: Any, submit: Callable[[], Any], jobs: int) -> float:
    before = sum(server.service.requests.values())
    for _ in range(jobs):
        submit()
    return (sum(server.service.requests.values()) - before) / jobs


def run(quick: bool) -> list[Case]:
    import qiskit_ibm_runtime as official
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler import generate_preset_pass_manager

    from qiskit_rest_provider import EstimatorV2, SamplerV2, Session
    from qiskit_rest_provider.server import LocalRuntimeServer

    repeat = 3 if quick else 10
    cases: list[Case] = []
    with warnings.catch_warnings(), LocalRuntimeServer(workers=1) as server:
        warnings.simplefilter("ignore")
        provider = server.provider()
        service = _official_service(server)
        heron = provider.backend("local_heron")
        pm = generate_preset_pass_manager(optimization_level=1, backend=heron, seed_transpiler=1)
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        isa_bell = pm.run(bell)
        ours_sampler = SamplerV2(heron)
        ref_sampler = official.SamplerV2(mode=service.backend("local_heron"))

        def ours_bell() -> Any:
            return ours_sampler.run([isa_bell], shots=1000).result()

        def ref_bell() -> Any:
            return ref_sampler.run([isa_bell], shots=1000).result()

        a, b = interleaved(ours_bell, ref_bell, repeat)
        per_job = (
            _requests_per_job(server, ours_bell, 3),
            _requests_per_job(server, ref_bell, 3),
        )
        cases.append(
            Case(
                "end to end",
                "Bell sampler job, 156-qubit noisy device, submit to result",
                a,
                b,
                "<= 0.5 s warm",
                extra={"http_requests_per_job": f"{per_job[0]:.1f} vs {per_job[1]:.1f}"},
            )
        )
        cases.append(
            Case(
                "polling load",
                "HTTP requests per completed Bell job",
                Figure.value(per_job[0]),
                Figure.value(per_job[1]),
                "fewer",
                unit="requests",
            )
        )

        theta = Parameter("theta")
        pair = QuantumCircuit(2)
        pair.ry(theta, 0)
        pair.cx(0, 1)
        isa_pair = pm.run(pair)
        zz = SparsePauliOp("ZZ").apply_layout(isa_pair.layout)
        ours_est = EstimatorV2(heron, options={"resilience_level": 0})
        ref_est = official.EstimatorV2(mode=service.backend("local_heron"))
        ref_est.options.resilience_level = 0
        a, b = interleaved(
            lambda: ours_est.run([(isa_pair, zz, [0.3])]).result(),
            lambda: ref_est.run([(isa_pair, zz, [0.3])]).result(),
            repeat,
        )
        cases.append(Case("end to end", "estimator job (one observable)", a, b, "faster"))

        falcon = provider.backend("local_falcon")
        pm_falcon = generate_preset_pass_manager(
            optimization_level=1, backend=falcon, seed_transpiler=1
        )
        ansatz = QuantumCircuit(2)
        ansatz.ry(theta, 0)
        ansatz.cx(0, 1)
        isa_vqe = pm_falcon.run(ansatz)
        hamiltonian = SparsePauliOp.from_list([("ZZ", 1.0), ("XX", 0.5)]).apply_layout(
            isa_vqe.layout
        )
        angles = np.linspace(0, np.pi, 20)

        def ours_vqe() -> Any:
            with Session(falcon) as session:
                estimator = EstimatorV2(session, options={"resilience_level": 0})
                return [
                    estimator.run([(isa_vqe, hamiltonian, [a])]).result()[0].data.evs
                    for a in angles
                ]

        ref_falcon = service.backend("local_falcon")

        def ref_vqe() -> Any:
            with official.Session(backend=ref_falcon) as session:
                estimator = official.EstimatorV2(mode=session)
                estimator.options.resilience_level = 0
                return [
                    estimator.run([(isa_vqe, hamiltonian, [a])]).result()[0].data.evs
                    for a in angles
                ]

        a, b = interleaved(ours_vqe, ref_vqe, 1 if quick else 3, warmup=0)
        cases.append(Case("end to end", "20-iteration VQE loop in a session", a, b, "faster"))

        job = ours_sampler.run([isa_bell], shots=10)
        job.result()
        ref_client = service._get_api_client()
        a, b = interleaved(
            lambda: provider.client.get_job(job.job_id()),
            lambda: ref_client.job_get(job.job_id()),
            20 if quick else 100,
        )
        cases.append(Case("service", "request overhead: GET /v1/jobs/{id}", a, b, "faster"))

        simulator = provider.backend("local_simulator")
        trivial = QuantumCircuit(1)
        trivial.measure_all()
        ref_target = service.backend(simulator.name)
        for clients in (1, 8):
            total = (10 if quick else 40) * (1 if clients == 1 else 2)
            rate = _jobs_per_second(
                lambda: SamplerV2(server.provider().backend(simulator.name)),
                trivial,
                clients,
                total,
            )
            ref_rate = _jobs_per_second(
                lambda: official.SamplerV2(mode=ref_target), trivial, clients, total
            )
            cases.append(
                Case(
                    "service",
                    f"trivial jobs per second end to end, {clients} concurrent client(s)",
                    Figure.value(rate),
                    Figure.value(ref_rate),
                    "higher",
                    unit="jobs/s",
                    higher_is_better=True,
                )
            )

        cases.append(_simulation_overhead(heron, repeat))
    cases.append(_mitigation_cost(6 if quick else 10, 1 if quick else 2))
    cases.extend(_wide_clifford_cases(quick))
    cases.append(_wide_mps_case(quick))
    if not quick:
        cases.append(_local_mode_case())
    cases.extend(_throughput_cases(quick))
    return cases


def _jobs_per_second(
    make_sampler: Callable[[], Any], circuit: Any, clients: int, total: int
) -> float:
    """Trivial jobs per second with ``clients`` threads, each using its own sampler."""
    per_client = max(1, total // clients)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            sampler = make_sampler()
            for _ in range(per_client):
                sampler.run([circuit], shots=1).result()
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    elapsed = _run_threads([threading.Thread(target=work) for _ in range(clients)], errors)
    return per_client * clients / elapsed


def _run_threads(threads: list[threading.Thread], errors: list[BaseException]) -> float:
    """Start ``threads``, wait for all, and return the seconds they took; re-raise the first
    error they recorded in ``errors``."""
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def _simulation_overhead(heron: Any, repeat: int) -> Case:
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator

    from qiskit_rest_provider.core.codec.qasm3 import dumps_isa
    from qiskit_rest_provider.server import simulation
    from qiskit_rest_provider.server.emulator.circuits import active_qubits, compact

    ghz = QuantumCircuit(10)
    ghz.h(0)
    for i in range(9):
        ghz.cx(i, i + 1)
    ghz.measure_all()
    pm = generate_preset_pass_manager(optimization_level=2, backend=heron, seed_transpiler=3)
    circuit = pm.run(ghz)
    config = heron.configuration().to_dict()
    props = heron.properties().to_dict()
    params = {"pubs": [[dumps_isa(circuit), None, 4000]], "version": 2, "options": {}}

    def service_path() -> Any:
        return simulation.execute_job("sampler", json.loads(json.dumps(params)), config, props, "b")

    service_path()  # builds and caches the device emulator
    emulator = simulation.emulator_for(config, props, "b")
    keep = sorted(active_qubits(circuit, delays_idle=True))
    prepared = emulator.prepare(compact(circuit, keep), keep, shots=4000)
    aer = AerSimulator(method="density_matrix")
    a, b = interleaved(
        service_path, lambda: aer.run(prepared.circuit, shots=4000, memory=True).result(), repeat
    )
    return Case(
        "service",
        "simulation of a GHZ-10 job (4000 shots) inside the service vs Aer directly on the "
        "same noisy circuit (the emulator's scheduling, noise and readout are the overhead)",
        a,
        b,
        "<= 1.2x Aer's time",
        reference_name="Aer directly",
    )


def _mitigation_cost(width: int, repeat: int) -> Case:
    """The emulator's cost of error mitigation: one estimator pub at resilience level 2 (TREX,
    ZNE with three noise factors, 32 gate-and-measurement randomizations) against the same
    pub at level 0 (no randomization), both with about 2,000 shots per noise factor."""
    from qiskit import QuantumCircuit
    from qiskit.primitives.containers import EstimatorPub
    from qiskit.quantum_info import SparsePauliOp

    from qiskit_rest_provider.server.devices import default_catalog
    from qiskit_rest_provider.server.emulator.estimator import run_estimator
    from qiskit_rest_provider.server.simulation import emulator_for

    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    neighbours: dict[int, set[int]] = {}
    for a, b in device.configuration["coupling_map"]:
        neighbours.setdefault(a, set()).add(b)
    chain = [0]
    while len(chain) < width:
        chain.append(min(q for q in neighbours[chain[-1]] if q not in chain))
    circuit = QuantumCircuit(device.num_qubits)
    for layer in range(4):
        for q in chain:
            circuit.sx(q)
            circuit.rz(0.3 + layer, q)
        for i in range(layer % 2, width - 1, 2):
            circuit.cz(chain[i], chain[i + 1])
    observables = [
        SparsePauliOp.from_sparse_list([("Z", [q], 1.0)], device.num_qubits) for q in chain
    ]
    pub = EstimatorPub.coerce((circuit, observables), precision=0.022)
    level_2 = {"twirling": {"num_randomizations": 32}}

    def run(level: int, options: dict[str, Any]) -> Any:
        return run_estimator([pub], emulator, options, level, 1, None)

    a, b = interleaved(lambda: run(2, level_2), lambda: run(0, {}), repeat)
    return Case(
        "service",
        f"cost of mitigation: a {width}-qubit estimator pub (4 CZ layers, {width} observables) "
        "at resilience level 2 with 32 randomizations vs the same pub at level 0",
        a,
        b,
        "state the ratio (issue 15 aims at <= 5x)",
        reference_name="the same pub at level 0",
    )


def _wide_clifford_cases(quick: bool) -> list[Case]:
    """Clifford circuits with the calibrated noise Pauli-twirled, as the service runs them
    (the emulator's stabilizer method, on Stim) against Aer's stabilizer method on the very
    same noisy circuit: GHZ on 20 and on all 156 qubits of local_heron, and a 100-qubit,
    10-layer brickwork on local_eagle."""
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    from qiskit_rest_provider.core.target import build_target
    from qiskit_rest_provider.server.devices import default_catalog
    from qiskit_rest_provider.server.emulator.circuits import active_qubits, compact
    from qiskit_rest_provider.server.emulator.stabilizer import sample_stabilizer, to_aer
    from qiskit_rest_provider.server.simulation import emulator_for

    def tree(coupling: Any, width: int) -> tuple[list[int], list[tuple[int, int]]]:
        neighbours: dict[int, set[int]] = {}
        for a, b in coupling.get_edges():  # both directions (ECR is calibrated one way)
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
        chosen, edges, frontier = [0], [], [0]
        while frontier and len(chosen) < width:
            a = frontier.pop(0)
            for b in sorted(neighbours[a]):
                if b not in chosen and len(chosen) < width:
                    chosen.append(b)
                    edges.append((a, b))
                    frontier.append(b)
        return chosen, edges

    def hadamard(qc: QuantumCircuit, q: int) -> None:
        qc.rz(np.pi / 2, q)
        qc.sx(q)
        qc.rz(np.pi / 2, q)

    def ghz(device: Any, width: int) -> QuantumCircuit:
        target = build_target(device.configuration, device.calibration().properties)
        chosen, edges = tree(target.build_coupling_map(), width)
        qc = QuantumCircuit(device.num_qubits, width)
        hadamard(qc, chosen[0])
        for a, b in edges:
            hadamard(qc, b)
            qc.cz(a, b)
            hadamard(qc, b)
        qc.measure(chosen, range(width))
        return qc

    def brickwork(device: Any, width: int, layers: int) -> QuantumCircuit:
        target = build_target(device.configuration, device.calibration().properties)
        chosen, edges = tree(target.build_coupling_map(), width)
        twoq = "ecr" if "ecr" in device.configuration["basis_gates"] else "cz"
        qc = QuantumCircuit(device.num_qubits, width)
        for layer in range(layers):
            for q in chosen:
                qc.sx(q)
                qc.rz(np.pi / 2 * (layer % 4), q)
            for a, b in edges[layer % 2 :: 2]:
                pair = (a, b) if target.instruction_supported(twoq, (a, b)) else (b, a)
                getattr(qc, twoq)(*pair)
        qc.measure(chosen, range(width))
        return qc

    devices = {d.name: d for d in default_catalog()}
    specs = [
        ("local_heron", ghz(devices["local_heron"], 20), 2000, "GHZ-20, 2000 shots"),
        ("local_heron", ghz(devices["local_heron"], 156), 4000, "GHZ-156, 4000 shots"),
    ]
    if not quick:
        specs.append(
            (
                "local_eagle",
                brickwork(devices["local_eagle"], 100, 10),
                1000,
                "100-qubit 10-layer brickwork, 1000 shots",
            )
        )
    cases = []
    for name, circuit, shots, label in specs:
        device = devices[name]
        emulator = emulator_for(device.configuration, device.calibration().properties)
        keep = sorted(active_qubits(circuit, delays_idle=True, measures_idle=True))
        small = compact(circuit, keep)

        def ours(
            small: QuantumCircuit = small,
            keep: list[int] = keep,
            shots: int = shots,
            emulator: Any = emulator,
        ) -> Any:
            prepared = emulator.prepare(small, keep, shots=shots)
            return sample_stabilizer(prepared.circuit, shots, 1)

        aer_circuit = to_aer(emulator.prepare(small, keep, shots=shots).circuit)
        aer = AerSimulator(method="stabilizer")

        def reference(
            aer_circuit: QuantumCircuit = aer_circuit, shots: int = shots, aer: Any = aer
        ) -> Any:
            return aer.run(aer_circuit, shots=shots, memory=True).result()

        a, b = interleaved(ours, reference, 2 if quick else 3)
        cases.append(
            Case(
                "service",
                f"Clifford with calibrated Pauli noise, {label}: the emulator (prepare + Stim) "
                "vs Aer's stabilizer method on the same noisy circuit",
                a,
                b,
                "<= 1.2x Aer's time",
                reference_name="Aer stabilizer",
            )
        )
    return cases


def _wide_mps_case(quick: bool) -> Case:
    """A wide non-Clifford circuit with the device's noise (a state vector would not fit): the
    emulator's matrix-product-state run (prepare + Aer MPS) against Aer's MPS directly on the
    very same noisy circuit."""
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    from qiskit_rest_provider.server.devices import default_catalog
    from qiskit_rest_provider.server.emulator.methods import MPS_MAX_BOND_DIMENSION
    from qiskit_rest_provider.server.simulation import emulator_for

    width, shots = (40, 100) if quick else (40, 1000)
    device = next(d for d in default_catalog() if d.name == "local_heron")
    emulator = emulator_for(device.configuration, device.calibration().properties)
    path = coupling_path(device.configuration["coupling_map"], width)
    circuit = QuantumCircuit(width, width)
    for layer in range(2):
        for q in range(width):
            circuit.rz(0.3 + 0.2 * q, q)
            circuit.sx(q)
        for q in range(layer % 2, width - 1, 2):
            circuit.cz(q, q + 1)
    circuit.measure(range(width), range(width))

    def ours() -> Any:
        prepared = emulator.prepare(circuit, path, shots=shots)
        assert prepared.method == "matrix_product_state"
        return emulator.run([prepared], None, shots, 1)

    noisy = emulator.prepare(circuit, path, shots=shots).circuit
    aer = AerSimulator(
        method="matrix_product_state",
        matrix_product_state_max_bond_dimension=MPS_MAX_BOND_DIMENSION,
    )

    def reference() -> Any:
        return aer.run(noisy, shots=shots, memory=True, seed_simulator=1).result()

    a, b = interleaved(ours, reference, 2 if quick else 3)
    return Case(
        "service",
        f"non-Clifford {width}-qubit 2-layer brickwork with calibrated noise, {shots} shots: "
        "the emulator on its automatic matrix-product-state method vs Aer's MPS on the same "
        "noisy circuit",
        a,
        b,
        "<= 1.2x Aer's time",
        reference_name="Aer MPS",
    )


def _local_mode_case() -> Case:
    """GHZ-12 with 2000 shots on a 156-qubit Heron: submit to result through our service
    (its emulator, with idle noise and ZZ) against qiskit-ibm-runtime's local mode on FakeFez
    (Aer with the fake backend's noise model). Different devices of one family, the same
    work; local mode is what a user of the official client runs offline."""
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import SamplerV2 as OfficialSampler
    from qiskit_ibm_runtime.fake_provider import FakeFez

    from qiskit_rest_provider import SamplerV2
    from qiskit_rest_provider.server import LocalRuntimeServer

    width, shots = 12, 2000
    ghz = QuantumCircuit(width)
    ghz.h(0)
    for q in range(width - 1):
        ghz.cx(q, q + 1)
    ghz.measure_all()
    fake = FakeFez()
    official_isa = generate_preset_pass_manager(1, backend=fake, seed_transpiler=1).run(ghz)
    with warnings.catch_warnings(), LocalRuntimeServer(workers=1) as server:
        warnings.simplefilter("ignore")
        provider = server.provider()
        heron = provider.backend("local_heron")
        isa = generate_preset_pass_manager(1, backend=heron, seed_transpiler=1).run(ghz)

        def ours() -> Any:
            return SamplerV2(heron).run([isa], shots=shots).result(timeout=600)

        def reference() -> Any:
            return OfficialSampler(mode=fake).run([official_isa], shots=shots).result()

        a, b = interleaved(ours, reference, 2, warmup=0)
        provider.close()
    return Case(
        "service",
        f"GHZ-{width}, {shots} shots on a 156-qubit Heron, submit to result: our local service "
        "vs qiskit-ibm-runtime's local mode (FakeFez, Aer with its noise model)",
        a,
        b,
        "faster",
        reference_name="qiskit-ibm-runtime local mode",
    )


def _children_cpu() -> dict[int, float] | None:
    """CPU seconds (user + system) of each live child process of this one, from ``/proc``
    (None where there is no ``/proc``: utilisation is then not reported)."""
    if not os.path.isdir("/proc/self"):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    found: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:  # exited meanwhile
            continue
        # After "pid (comm) ": state, ppid, ... utime and stime are fields 14 and 15.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me:
            found[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _machine_jiffies() -> tuple[int, int] | None:
    """``(busy, total)`` CPU time of the whole machine, every process, from ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def _throughput_cases(quick: bool) -> list[Case]:
    """Throughput across cores (issue 15): a :class:`LocalRuntimeServer` with 1, 2 and 4
    worker processes (quick: 1 and 2), each given the same batch of small sampler jobs (a
    3-qubit noisy circuit on local_falcon, 4000 shots, some tens of ms of simulation each) by
    4 concurrent clients, each with its own provider.

    Each client submits its share of the batch back to back, then waits for its jobs in
    order (polling at most every 0.1 s), so the queue never runs dry and the worker pool is
    what limits the rate; the clock runs from the first submission to the last result. The
    servers run side by side and the batches are interleaved (1, 2, 4 workers, then again),
    so drift and other load on the machine hit every worker count alike.

    Utilisation is CPU time over wall time x cores. The service's share (the goal's figure)
    is that of its worker processes (the simulations, from ``/proc``) plus that of this
    process's other threads (the HTTP service and its dispatcher); the clients' threads,
    which share this process and its cores here, are measured apart (``time.thread_time``)
    and left out of it. The whole machine's share, from ``/proc/stat``, counts every process,
    ours and anything else running: where it is near 100% while the service's is well below,
    the service was starved by other load and its rates understate it.
    """
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    from qiskit_rest_provider import PollPolicy, SamplerV2
    from qiskit_rest_provider.server import LocalRuntimeServer

    counts = (1, 2) if quick else (1, 2, 4)
    jobs, repeat, clients, shots = (16, 1, 4, 4000) if quick else (40, 3, 4, 4000)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    poll = PollPolicy(initial=0.02, factor=1.6, maximum=0.1)

    circuit = QuantumCircuit(3)
    for layer in range(4):
        for q in range(3):
            circuit.ry(0.3 + layer + q, q)
        for q in range(layer % 2, 2, 2):
            circuit.cx(q, q + 1)
    circuit.measure_all()

    rates: dict[int, list[float]] = {n: [] for n in counts}
    wall: dict[int, float] = dict.fromkeys(counts, 0.0)
    worker_cpu: dict[int, float] = dict.fromkeys(counts, 0.0)
    own_cpu: dict[int, float] = dict.fromkeys(counts, 0.0)
    client_cpu: dict[int, float] = dict.fromkeys(counts, 0.0)
    machine: dict[int, list[int]] = {n: [0, 0] for n in counts}
    pids: dict[int, set[int]] = {}
    with warnings.catch_warnings(), contextlib.ExitStack() as stack:
        warnings.simplefilter("ignore")
        samplers: dict[int, list[Any]] = {}
        isa: Any = None
        for n in counts:
            before = set(_children_cpu() or {})
            server = stack.enter_context(LocalRuntimeServer(workers=n))
            backends = [server.provider().backend("local_falcon") for _ in range(clients)]
            if isa is None:
                pm = generate_preset_pass_manager(
                    optimization_level=1, backend=backends[0], seed_transpiler=1
                )
                isa = pm.run(circuit)
            samplers[n] = [SamplerV2(backend) for backend in backends]
            # Warm up: 2 jobs per worker at once start every worker (they start lazily).
            warm = [samplers[n][0].run([isa], shots=shots) for _ in range(2 * n)]
            for job in warm:
                job.result()
            pids[n] = set(_children_cpu() or {}) - before

        def batch(n: int) -> tuple[float, float]:
            """Wall time of the batch on the server with ``n`` workers, and the CPU time
            of the client threads."""
            errors: list[BaseException] = []
            spent: list[float] = []

            def work(sampler: Any) -> None:
                begin = time.thread_time()
                try:
                    submitted = [sampler.run([isa], shots=shots) for _ in range(jobs // clients)]
                    for job in submitted:
                        job.wait_for_final_state(poll=poll)
                        if job.result()[0].data.meas.num_shots != shots:
                            raise AssertionError("a job returned the wrong number of shots")
                except BaseException as exc:  # reported after the run
                    errors.append(exc)
                finally:
                    spent.append(time.thread_time() - begin)

            threads = [threading.Thread(target=work, args=(s,)) for s in samplers[n]]
            return _run_threads(threads, errors), sum(spent)

        for _ in range(repeat):
            for n in counts:
                cpu_before, own_before = _children_cpu() or {}, time.process_time()
                machine_before = _machine_jiffies()
                elapsed, clients_seconds = batch(n)
                cpu_after, own_after = _children_cpu() or {}, time.process_time()
                machine_after = _machine_jiffies()
                rates[n].append(jobs // clients * clients / elapsed)
                wall[n] += elapsed
                worker_cpu[n] += sum(
                    cpu_after.get(pid, 0.0) - cpu_before.get(pid, 0.0) for pid in pids[n]
                )
                own_cpu[n] += own_after - own_before - clients_seconds
                client_cpu[n] += clients_seconds
                if machine_before and machine_after:
                    machine[n][0] += machine_after[0] - machine_before[0]
                    machine[n][1] += machine_after[1] - machine_before[1]

    def share(value: float) -> str:
        return f"{100 * value:.0f}%"

    figures = {n: Figure(min(r), statistics.median(r), len(r)) for n, r in rates.items()}
    cases = []
    for n in counts:
        extra: dict[str, Any] = {"cores": cores, "clients": clients, "jobs": jobs}
        if _children_cpu() is not None and pids[n]:
            workers, own = worker_cpu[n] / wall[n] / cores, own_cpu[n] / wall[n] / cores
            extra["service_cores_busy"] = (
                f"{share(workers + own)} (workers {share(workers)}, "
                f"HTTP and dispatcher {share(own)})"
            )
            extra["clients_cores_busy"] = share(client_cpu[n] / wall[n] / cores)
            extra["worker_cpu_per_job"] = f"{1e3 * worker_cpu[n] / (jobs * repeat):.0f} ms"
        if machine[n][1]:
            extra["machine_busy"] = f"{share(machine[n][0] / machine[n][1])} (all processes)"
        note = " (more workers than cores: no gain expected beyond the cores)" if n > cores else ""
        cases.append(
            Case(
                "service",
                f"throughput across cores: small sampler jobs per second with {n} worker "
                f"process(es) on a {cores}-core machine{note}; {jobs} jobs (3-qubit noisy "
                f"circuit, {shots} shots, local_falcon) from {clients} concurrent clients, "
                "first submission to last result",
                figures[n],
                figures[1] if n > 1 else None,
                f"issue 15: >= 80% of the {cores} cores busy at workers = cores",
                unit="jobs/s",
                reference_name="1 worker",
                higher_is_better=True,
                extra=extra,
            )
        )
    return cases
