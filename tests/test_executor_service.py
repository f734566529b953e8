"""The ``executor`` program on the local service, driven by code written for IBM's service:
the official client's ``Executor`` and executor-based primitives, qiskit-mitigation's TREX and
ZNE, and programs encoded in every params schema version the official client can write."""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from typing import Any

import numpy as np
import pytest
import requests
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.executor.admission import MAX_PARAMETER_VALUES

from .service_helpers import auth_headers, mitigated_ghz_correlators

runtime = pytest.importorskip("qiskit_ibm_runtime")
samplomatic = pytest.importorskip("samplomatic")
pytest.importorskip("qiskit_mitigation")

from qiskit_ibm_runtime import Executor, QuantumProgram  # noqa: E402
from qiskit_ibm_runtime.decoders.executor.decoder import ExecutorResultDecoder  # noqa: E402
from qiskit_ibm_runtime.options_models import ExecutorOptions  # noqa: E402
from qiskit_ibm_runtime.quantum_program.params_converters import (  # noqa: E402
    QUANTUM_PROGRAM_PARAMS_CONVERTERS,
)
from samplomatic.transpiler import generate_boxing_pass_manager  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.service, pytest.mark.official]

#: The 7-qubit device: programs that measure every qubit of their circuit stay small.
DEVICE = "local_falcon"


@pytest.fixture()
def backend(official_service: Any) -> Any:
    return official_service.backend(DEVICE)


def _bell_isa(backend: Any, measure: bool = True) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    manager = generate_preset_pass_manager(1, backend=backend, seed_transpiler=1)
    return manager.run(qc)


def _twirled_bell(backend: Any) -> tuple[QuantumCircuit, Any]:
    boxed = generate_boxing_pass_manager(
        enable_gates=True, enable_measures=True, twirling_strategy="active"
    ).run(_bell_isa(backend))
    return samplomatic.build(boxed)


def _correlated(bits: np.ndarray) -> float:
    """The fraction of shots whose two bits agree (a Bell pair: nearly all)."""
    return float(np.mean(bits[..., 0] == bits[..., 1]))


def test_official_executor_runs_circuit_and_samplex_items(backend: Any) -> None:
    template, samplex = _twirled_bell(backend)
    program = QuantumProgram(shots=300, passthrough_data={"tag": "bell", "values": np.arange(3.0)})
    program.append_circuit_item(_bell_isa(backend))
    program.append_samplex_item(template, samplex, shape=(6,))
    job = Executor(backend).run(program)
    result = job.result(timeout=300)

    assert len(result) == 2
    plain = result[0]["meas"]
    assert plain.shape == (300, 2) and plain.dtype == bool
    assert _correlated(plain) > 0.85
    raw = result[1]["meas"]
    flips = result[1]["measurement_flips.meas"]
    assert raw.shape == (6, 300, 2)
    # the measurement twirl's random flips are in the raw bits; undoing them restores the pair
    assert _correlated(raw ^ flips) > 0.85
    # each randomization's raw pair is anti-correlated exactly when its flips differ
    for r in range(6):
        differ = bool(flips[r, 0, 0] != flips[r, 0, 1])
        assert (_correlated(raw[r]) < 0.15) if differ else (_correlated(raw[r]) > 0.85)
    # one chunk per item, each covering all of its elements
    spans = list(result.metadata.chunk_timing)
    assert [[(p.idx_item, p.size) for p in s.parts] for s in spans] == [[(0, 1)], [(1, 6)]]
    assert all(s.start <= s.stop for s in spans)
    assert result.passthrough_data["tag"] == "bell"
    np.testing.assert_array_equal(result.passthrough_data["values"], np.arange(3.0))
    # the job is a job like the others: metrics, logs and its program id
    metrics = job.metrics()
    assert metrics["timestamps"]["finished"] and metrics["circuits_execution_time_ns"] > 0
    assert "job started" in job.logs()
    assert job.status() == "DONE" and job.usage() >= 0
    assert job.primitive_id == "executor"


def test_circuit_item_sweeps_parameters_and_noise_shows(backend: Any) -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("θ")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    isa = generate_preset_pass_manager(1, backend=backend, seed_transpiler=1).run(qc)
    angles = np.array([[0.0], [np.pi / 2], [np.pi]])
    program = QuantumProgram(shots=2000)
    program.append_circuit_item(isa, circuit_arguments=angles)
    result = Executor(backend).run(program).result(timeout=300)
    ones = result[0]["meas"][..., 0].mean(axis=-1)
    assert ones.shape == (3,)
    assert ones[0] < 0.1 and abs(ones[1] - 0.5) < 0.08 and ones[2] > 0.9
    # a calibrated device: not every shot of |1> reads 1
    assert ones[2] < 1.0


@pytest.mark.parametrize("version", sorted(QUANTUM_PROGRAM_PARAMS_CONVERTERS))
def test_every_params_schema_version(
    server: LocalRuntimeServer, backend: Any, version: str
) -> None:
    """The params the official converters write in each version run, and the result comes
    back in the same version, decoded by the official decoder."""
    template, samplex = _twirled_bell(backend)
    program = QuantumProgram(shots=200)
    program.append_circuit_item(_bell_isa(backend))
    program.append_samplex_item(template, samplex, shape=(3,))
    params = QUANTUM_PROGRAM_PARAMS_CONVERTERS[version].encoder(program, ExecutorOptions())
    body = {"program_id": "executor", "backend": DEVICE, "params": params.model_dump(mode="json")}
    text = _run_raw(server, body)
    assert json.loads(text)["schema_version"] == version
    result = ExecutorResultDecoder.decode(text)
    assert result[0]["meas"].shape == (200, 2)
    assert result[1]["meas"].shape == (3, 200, 2)
    assert _correlated(result[1]["meas"] ^ result[1]["measurement_flips.meas"]) > 0.85


def test_scheduler_timing_is_the_emulated_schedule(backend: Any) -> None:
    """Asked for, each item's metadata carry its ALAP schedule in IBM's text format (the
    ``branch,instruction,channel,start,duration,pulse`` lines qiskit-ibm-runtime's
    ``CircuitSchedule`` parses)."""
    program = QuantumProgram(shots=50)
    program.append_circuit_item(_bell_isa(backend))
    executor = Executor(backend)
    executor.options.execution.scheduler_timing = True
    result = executor.run(program).result(timeout=300)
    timing = result[0].metadata.scheduler_timing
    rows = [line.split(",") for line in timing.timing.splitlines()]
    assert rows and all(len(row) == 6 and row[0] == "main" for row in rows)
    finish = max(int(row[3]) + int(row[4]) for row in rows)
    assert timing.circuit_duration == finish > 0
    assert {"measure", "sx"} <= {row[5] for row in rows}
    # the two qubits' measurements end together (ALAP, as IBM schedules)
    ends = {int(row[3]) + int(row[4]) for row in rows if row[5] == "measure"}
    assert ends == {finish}
    # not asked for: absent
    program = QuantumProgram(shots=50)
    program.append_circuit_item(_bell_isa(backend))
    assert Executor(backend).run(program).result(timeout=300)[0].metadata.scheduler_timing is None


def test_kerneled_measurements(backend: Any) -> None:
    program = QuantumProgram(shots=100, meas_level="kerneled")
    program.append_circuit_item(_bell_isa(backend))
    result = Executor(backend).run(program).result(timeout=300)
    points = result[0]["meas"]
    assert points.shape == (100, 2) and np.iscomplexobj(points)
    program = QuantumProgram(shots=100, meas_level="avg_kerneled")
    program.append_circuit_item(_bell_isa(backend))
    result = Executor(backend).run(program).result(timeout=300)
    assert result[0]["meas"].shape == (2,)


def test_executor_jobs_in_a_session_and_a_batch(backend: Any) -> None:
    program = QuantumProgram(shots=100)
    program.append_circuit_item(_bell_isa(backend))
    with runtime.Session(backend=backend) as session:
        job = Executor(session).run(program)
        assert job.session_id == session.session_id
        assert _correlated(job.result(timeout=300)[0]["meas"]) > 0.85
    with runtime.Batch(backend=backend) as batch:
        jobs = [Executor(batch).run(program) for _ in range(2)]
        assert {j.session_id for j in jobs} == {batch.session_id}
        assert all(j.result(timeout=300)[0]["meas"].shape == (100, 2) for j in jobs)


def test_executor_based_sampler_and_estimator(backend: Any) -> None:
    from qiskit_ibm_runtime.executor_estimator import Estimator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    sampler = Sampler(backend)
    result = sampler.run([_bell_isa(backend)], shots=400).result(timeout=300)
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == 400
    assert counts.get("00", 0) + counts.get("11", 0) > 340

    isa = _bell_isa(backend, measure=False)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZ", "XX", "ZI")]
    estimator = Estimator(backend)
    values = estimator.run([(isa, observables)]).result(timeout=300)[0].data.evs
    assert values[0] > 0.7 and values[1] > 0.7 and abs(values[2]) < 0.2


def test_qiskit_mitigation_trex_and_zne_move_toward_the_ideal(backend: Any) -> None:
    """TREX plus ZNE by gate folding, prepared and post-processed by qiskit-mitigation: the
    mitigated GHZ correlators are closer to their ideal 1 than the unmitigated ones."""
    pytest.importorskip("qiskit_mitigation")
    unmitigated, mitigated = mitigated_ghz_correlators(Executor(backend), backend)

    assert np.all(unmitigated < 0.97)
    assert np.all(np.abs(1 - mitigated) < np.abs(1 - unmitigated))


def test_twirled_programs_on_a_156_qubit_device(official_service: Any) -> None:
    """qiskit-mitigation measures and twirls every qubit of the circuit (all 156 of
    local_heron): each randomization is a Clifford circuit, bound and run on the stabilizer
    method; the GHZ correlators come out as the device's noise makes them."""
    from qiskit_mitigation import MitigationTask

    heron = official_service.backend("local_heron")
    qc = QuantumCircuit(4)
    qc.h(0)
    for i in range(3):
        qc.cx(i, i + 1)
    isa = generate_preset_pass_manager(1, backend=heron, seed_transpiler=1).run(qc)
    observables = [SparsePauliOp(p).apply_layout(isa.layout) for p in ("ZZII", "XXXX", "ZIII")]
    task = MitigationTask()
    program = task.prepare(
        isa, observables, None, num_randomizations=8, shots_per_randomization=128
    )
    assert program.items[0].circuit.num_qubits == 156
    values = task.postprocess(Executor(heron).run(program).result(timeout=600)).data.evs
    assert 0.75 < values[0] < 1 and 0.6 < values[1] < 1 and abs(values[2]) < 0.15


def test_clifford_elements_are_bound_only_when_every_angle_is_a_quarter_turn() -> None:
    from qiskit.circuit import Parameter

    from qiskit_rest_provider.server.devices import default_catalog
    from qiskit_rest_provider.server.executor.run import clifford_elements
    from qiskit_rest_provider.server.simulation import emulator_for

    heron = next(d for d in default_catalog() if d.name == "local_heron")
    theta = Parameter("t")
    qc = QuantumCircuit(156)
    for q in range(0, 150, 2):
        qc.rz(theta, q)
        qc.sx(q)
        qc.cz(q, q + 1)
    qc.measure_all()
    emulator = emulator_for(heron.configuration, heron.calibration().properties)
    quarter = np.array([[np.float32(np.pi / 2)], [np.float32(3 * np.pi)]], dtype=float)
    bound = clifford_elements(qc, quarter, 100, emulator)
    assert bound is not None and len(bound) == 2
    assert bound[0].num_parameters == 0
    assert clifford_elements(qc, np.array([[0.3]]), 100, emulator) is None
    # narrow circuits with shots enough for a density matrix keep their exact noise
    small = QuantumCircuit(2)
    small.rz(theta, 0)
    small.cz(0, 1)
    small.measure_all()
    assert clifford_elements(small, quarter, 1000, emulator) is None


# Refusals ---------------------------------------------------------------------------------------


def _run_raw(server: LocalRuntimeServer, body: dict[str, Any]) -> str:
    """Submit ``body`` over plain HTTP and return the result text once the job completes."""
    headers = auth_headers(server)
    created = requests.post(f"{server.url}/api/v1/jobs", json=body, headers=headers, timeout=60)
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    for _ in range(600):
        state = requests.get(f"{server.url}/api/v1/jobs/{job_id}", headers=headers, timeout=30)
        status = state.json()["state"]["status"]
        if status in ("Completed", "Failed", "Cancelled"):
            break
        time.sleep(0.2)
    assert status == "Completed", state.text
    return requests.get(
        f"{server.url}/api/v1/jobs/{job_id}/results", headers=headers, timeout=60
    ).text


def _refusal(server: LocalRuntimeServer, params: Any, backend: str = DEVICE) -> dict[str, Any]:
    body = {"program_id": "executor", "backend": backend, "params": params}
    answer = requests.post(
        f"{server.url}/api/v1/jobs", json=body, headers=auth_headers(server), timeout=120
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["message"]
    return dict(error)


@pytest.fixture()
def valid_params(backend: Any) -> dict[str, Any]:
    template, samplex = _twirled_bell(backend)
    program = QuantumProgram(shots=100)
    program.append_circuit_item(_bell_isa(backend))
    program.append_samplex_item(template, samplex, shape=(2,))
    params = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder(program, ExecutorOptions())
    return dict(params.model_dump(mode="json"))


def _zlib_b64(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode()


def test_refusals_name_the_problem(server: LocalRuntimeServer, valid_params: Any) -> None:
    params = json.loads(json.dumps(valid_params))
    params["schema_version"] = "v9.9"
    assert "schema_version" in _refusal(server, params)["message"]

    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["meas_level"] = "both"
    assert "both" in _refusal(server, params)["message"]

    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["shots"] = 10**9
    assert "max_shots" in _refusal(server, params)["message"]

    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["items"][1]["shape"] = [100_000, 100_000]
    assert "item 1" in _refusal(server, params)["message"]

    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["items"][1]["samplex"]["samplex_json"] = '{"ssv":"4","x":1}'
    assert "item 1" in _refusal(server, params)["message"]

    params = json.loads(json.dumps(valid_params))
    arguments = np.zeros((2, 5))  # the circuit has no parameters
    params["quantum_program"]["items"][0]["circuit_arguments"] = {
        "data": _zlib_b64(arguments.tobytes()),
        "shape": [2, 5],
        "dtype": "f64",
    }
    assert "parameters" in _refusal(server, params)["message"]


def test_item_sizes_are_bounded_at_submission(
    server: LocalRuntimeServer, backend: Any, valid_params: Any
) -> None:
    """An item's elements, its parameter values and its shape's axes are bounded before the
    job is queued (a tiny body may declare a huge shape: nothing it implies is allocated)."""
    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["shots"] = 1
    params["quantum_program"]["items"][1]["shape"] = [2_000_000]
    assert "at most 1,000,000" in _refusal(server, params)["message"]
    # a wide twirled template: within the elements' limit, beyond the parameter values'
    wide = QuantumCircuit(7)
    for layer in range(4):
        for q in range(layer % 2, 6, 2):
            wide.cx(q, q + 1)
    wide.measure_all()
    isa = generate_preset_pass_manager(1, backend=backend, seed_transpiler=1).run(wide)
    boxed = generate_boxing_pass_manager(
        enable_gates=True, enable_measures=True, twirling_strategy="active"
    ).run(isa)
    template, samplex = samplomatic.build(boxed)
    elements = MAX_PARAMETER_VALUES // template.num_parameters + 1
    assert elements <= 1_000_000
    program = QuantumProgram(shots=1)
    program.append_samplex_item(template, samplex, shape=(elements,))
    encoded = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder(program, ExecutorOptions())
    assert "parameter values" in _refusal(server, encoded.model_dump(mode="json"))["message"]
    params["quantum_program"]["items"][1]["shape"] = [0, 2**62, 2**62]
    assert "axes of at most" in _refusal(server, params)["message"]
    params["quantum_program"]["items"][1]["shape"] = [1] * 40
    message = _refusal(server, params)["message"]
    assert "more than 32 axes" in message and len(message) < 300
    params = json.loads(json.dumps(valid_params))
    params["options"]["experimental"] = {"seed_simulator": -5}
    assert "seed_simulator" in _refusal(server, params)["message"]


def test_circuit_item_shapes_extend_their_arguments(
    server: LocalRuntimeServer, backend: Any
) -> None:
    """An item's declared shape may add axes to its arguments': they repeat the values."""
    from qiskit.circuit import Parameter

    theta = Parameter("t")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    isa = generate_preset_pass_manager(1, backend=backend, seed_transpiler=1).run(qc)
    program = QuantumProgram(shots=400)
    program.append_circuit_item(isa, circuit_arguments=np.array([np.pi]))
    params = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder(program, ExecutorOptions())
    body = params.model_dump(mode="json")
    body["quantum_program"]["items"][0]["shape"] = [3]
    text = _run_raw(server, {"program_id": "executor", "backend": DEVICE, "params": body})
    bits = ExecutorResultDecoder.decode(text)[0]["meas"]
    assert bits.shape == (3, 400, 1)
    assert np.all(bits.mean(axis=(1, 2)) > 0.85)


def test_circuits_outside_the_target_are_refused(server: LocalRuntimeServer, backend: Any) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    program = QuantumProgram(shots=100)
    program.append_circuit_item(qc)  # not transpiled: h and cx are not the device's gates
    params = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder(program, ExecutorOptions())
    message = _refusal(server, params.model_dump(mode="json"))["message"]
    assert "item 0" in message and ("h" in message or "cx" in message)


def test_compression_bombs_are_refused_before_inflating(
    server: LocalRuntimeServer, valid_params: Any
) -> None:
    """A small body that declares (or inflates to) a large allocation is refused with 400;
    the service stays up."""
    # declares 8 GB of parameter values
    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["items"][0]["circuit_arguments"] = {
        "data": _zlib_b64(b""),
        "shape": [10**9, 1],
        "dtype": "f64",
    }
    assert "bytes" in _refusal(server, params)["message"]
    # declares 8 bytes but inflates to 1 GiB
    params = json.loads(json.dumps(valid_params))
    bomb = zlib.compressobj(9)
    stream = b"".join(bomb.compress(b"\0" * (1 << 24)) for _ in range(64)) + bomb.flush()
    assert len(stream) < 2 * 1024 * 1024
    params["quantum_program"]["items"][0]["circuit_arguments"] = {
        "data": base64.b64encode(stream).decode(),
        "shape": [1, 1],
        "dtype": "f64",
    }
    assert "inflate" in _refusal(server, params)["message"]
    # circuits that inflate to 1 GiB
    params = json.loads(json.dumps(valid_params))
    params["quantum_program"]["circuits"]["b64_data"] = base64.b64encode(stream).decode()
    assert "inflate" in _refusal(server, params)["message"]
    assert requests.get(f"{server.url}/api/v1/versions", timeout=10).status_code == 200


def test_a_qpy_header_declaring_huge_registers_is_refused(
    server: LocalRuntimeServer, valid_params: Any
) -> None:
    """QPY's loader allocates what a circuit header declares; the service decodes QPY in a
    memory-capped worker, so a forged header is a 400 (and the service keeps answering)."""
    from qiskit.qpy import formats

    params = json.loads(json.dumps(valid_params))
    raw = bytearray(
        zlib.decompress(base64.b64decode(params["quantum_program"]["circuits"]["b64_data"]))
    )
    # the first program's header follows the file header and its type key
    header_at = formats.FILE_HEADER_V10_SIZE + 1
    fields = formats.CIRCUIT_HEADER_V12._make(
        struct.unpack_from(formats.CIRCUIT_HEADER_V12_PACK, raw, header_at)
    )
    forged = fields._replace(num_qubits=2**32 - 1)
    struct.pack_into(formats.CIRCUIT_HEADER_V12_PACK, raw, header_at, *forged)
    params["quantum_program"]["circuits"]["b64_data"] = base64.b64encode(
        zlib.compress(bytes(raw))
    ).decode()
    message = _refusal(server, params)["message"]
    assert "memory" in message or "does not load" in message or "decode" in message
    assert requests.get(f"{server.url}/api/v1/versions", timeout=10).status_code == 200
