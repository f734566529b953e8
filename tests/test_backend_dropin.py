"""``RestBackend`` as code written for ``IBMBackend`` and ``AerSimulator`` expects it (issue 13,
items 9, 10, 12, 13, 14): copies and pickles, ``backend.run()`` options and result headers
compared field by field with ``AerSimulator``, ``parameter_binds``, measurement levels,
``max_circuits`` as IBM reports it, and IBMBackend's public surface -- through the real local
service over loopback."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.primitives import BackendSamplerV2, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers import BitArray, DataBin
from qiskit.providers import BackendV2
from qiskit.result import MeasLevel, MeasReturnType, Result
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import (
    BackendRunJob,
    ISAValidationError,
    PubValidationError,
    QiskitRestProvider,
    RestBackend,
)
from qiskit_rest_provider.api import save_account
from qiskit_rest_provider.client.backend_run import to_qiskit_result
from qiskit_rest_provider.client.context import AccountReference, ClientContext
from qiskit_rest_provider.errors import AccountNotFoundError, ResultDecodeError
from qiskit_rest_provider.server import LocalRuntimeServer

pytestmark = [pytest.mark.service]

ACCOUNTS_ENV = "QISKIT_REST_ACCOUNTS_FILE"
_CREDENTIAL_ENV = (
    "QISKIT_IBM_TOKEN",
    "QISKIT_IBM_INSTANCE",
    "QISKIT_IBM_URL",
    "QISKIT_IBM_IAM_URL",
    "IAM_URL",
)


def isa(backend: RestBackend, circuit: QuantumCircuit) -> QuantumCircuit:
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=7)
    return pm.run(circuit)


def two_registers(metadata: dict[str, Any] | None = None) -> QuantumCircuit:
    """Deterministic: the high register reads 10, the low one 0."""
    qc = QuantumCircuit(
        QuantumRegister(2, "qr"),
        ClassicalRegister(1, "low"),
        ClassicalRegister(2, "high"),
        name="two-registers",
        metadata=metadata,
    )
    qc.x(1)
    qc.measure(0, qc.cregs[0][0])
    qc.measure(1, qc.cregs[1][1])
    return qc


@pytest.fixture()
def falcon(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_falcon")


@pytest.fixture()
def simulator(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_simulator")


@pytest.fixture()
def accounts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty accounts file of this test, and no credential in the environment."""
    path = tmp_path / "accounts.json"
    monkeypatch.setenv(ACCOUNTS_ENV, str(path))
    for name in _CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    return path


# Item 9: copies ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_deep_and_shallow_copies_share_the_connection_not_the_options(
    provider: QiskitRestProvider, falcon: RestBackend
) -> None:
    target = falcon.target  # fetched once, then shared by the copies
    before = provider.transport.stats["requests"]
    options = {"backend": falcon, "shots": 10}  # what qiskit-ibm-runtime's local mode copies
    copied = copy.deepcopy(options)["backend"]
    shallow = copy.copy(falcon)
    assert provider.transport.stats["requests"] == before  # copying makes no request
    for clone in (copied, shallow):
        assert isinstance(clone, RestBackend) and clone is not falcon
        assert clone.context is falcon.context and clone.provider is provider
        assert clone.target is target and clone == falcon and hash(clone) == hash(falcon)
        assert clone.options is not falcon.options
    copied.set_options(shots=123)
    shallow.set_options(memory=True)
    assert falcon.options.shots == 4000 and falcon.options.memory is False
    # A copy runs jobs through the same provider.
    job = copied.run(isa(copied, two_registers()))
    counts = job.result(timeout=60).get_counts()
    assert sum(counts.values()) == 123 and max(counts, key=counts.__getitem__) == "10 0"
    assert provider.backend("local_falcon", use_fractional_gates=True) != falcon


# Item 9: pickles --------------------------------------------------------------------------------


def _secrets(provider: QiskitRestProvider) -> list[str]:
    return [s for s in provider.transport.authenticator.secrets() if s]


def test_pickle_holds_no_secret_and_reconnects_from_the_environment(
    server: LocalRuntimeServer,
    provider: QiskitRestProvider,
    falcon: RestBackend,
    accounts_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    falcon.set_options(shots=77)
    assert falcon.status().operational  # one request, so the IAM access token exists
    secrets = _secrets(provider)
    assert server.api_key in secrets and len(secrets) == 2
    data = pickle.dumps(falcon)
    for secret in secrets:
        assert secret.encode() not in data
    restored = pickle.loads(data)
    assert isinstance(restored, RestBackend) and restored.name == "local_falcon"
    assert restored.context.is_deferred and restored.options.shots == 77
    assert restored.instance == server.instance  # from the reference: nothing connected
    # First network use with no credential in this process: a clear error, nothing cached.
    with pytest.raises(AccountNotFoundError, match=r"QISKIT_IBM_TOKEN.*save a default account"):
        restored.configuration()
    monkeypatch.setenv("QISKIT_IBM_TOKEN", server.api_key)
    job = restored.run(isa(restored, two_registers()))
    counts = job.result(timeout=60).get_counts()
    assert sum(counts.values()) == 77 and max(counts, key=counts.__getitem__) == "10 0"
    assert isinstance(restored.provider, QiskitRestProvider)
    assert restored.provider is not provider and restored.service is restored.provider
    # Backends unpickled from the same account share that connection.
    again = pickle.loads(pickle.dumps(provider.backend("local_simulator")))
    assert again.provider is restored.provider
    # A deep copy of an unpickled backend stays unconnected and copies no credential.
    assert copy.deepcopy(pickle.loads(data)).context.is_deferred


def test_pickle_of_a_bearer_token_account_holds_no_token(
    server: LocalRuntimeServer, provider: QiskitRestProvider, accounts_file: Path
) -> None:
    provider.backend("local_simulator").status()
    token = provider.transport.authenticator.secrets()[1]
    with QiskitRestProvider(bearer_token=token, instance=server.instance, url=server.url) as other:
        backend = other.backend("local_simulator")
        assert backend.status().operational
        data = pickle.dumps(backend)
    assert token.encode() not in data and server.api_key.encode() not in data
    reference = pickle.loads(data).context.account_reference()
    assert reference.saved_name is None and reference.instance == server.instance


def test_pickle_of_a_saved_account_reconnects_by_its_name(
    server: LocalRuntimeServer, accounts_file: Path
) -> None:
    save_account(
        token=server.api_key,
        instance=server.instance,
        url=server.url,
        iam_url=server.iam_url,
        name="lab",
    )
    with QiskitRestProvider(name="lab") as lab:
        data = pickle.dumps(lab.backend("local_simulator"))
    assert server.api_key.encode() not in data
    restored = pickle.loads(data)
    reference = restored.context.account_reference()
    assert isinstance(reference, AccountReference) and reference.saved_name == "lab"
    counts = restored.run(isa(restored, two_registers()), shots=5).result(timeout=60).get_counts()
    assert counts == {"10 0": 5}


def test_backend_without_a_provider_refuses_to_pickle(provider: QiskitRestProvider) -> None:
    bare = ClientContext(provider.client, instance=None, backend_lookup=provider.backend)
    with pytest.raises(TypeError, match="no provider"):
        pickle.dumps(RestBackend("local_simulator", bare))


@pytest.mark.slow
def test_pickled_backend_runs_a_job_in_a_fresh_process(
    server: LocalRuntimeServer, falcon: RestBackend, tmp_path: Path
) -> None:
    path = tmp_path / "backend.pickle"
    path.write_bytes(pickle.dumps(falcon))
    script = textwrap.dedent(
        f"""
        import json, os, pickle, sys, warnings
        warnings.simplefilter("ignore")
        from qiskit import QuantumCircuit
        from qiskit.transpiler import generate_preset_pass_manager
        from qiskit_rest_provider.errors import AccountNotFoundError
        with open({str(path)!r}, "rb") as handle:
            backend = pickle.load(handle)
        try:
            backend.target
            first = "connected without a credential"
        except AccountNotFoundError as exc:
            first = str(exc)
        os.environ["QISKIT_IBM_TOKEN"] = sys.argv[1]
        qc = QuantumCircuit(2, 2)
        qc.x(0)
        qc.measure([0, 1], [0, 1])
        pm = generate_preset_pass_manager(optimization_level=1, backend=backend)
        counts = backend.run(pm.run(qc), shots=40).result(timeout=60).get_counts()
        print(json.dumps({{"first": first, "counts": counts}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_ENV}
    env[ACCOUNTS_ENV] = str(tmp_path / "no-accounts.json")
    done = subprocess.run(
        [sys.executable, "-c", script, server.api_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "QISKIT_IBM_TOKEN" in answer["first"] and server.instance in answer["first"]
    counts = answer["counts"]
    assert sum(counts.values()) == 40 and max(counts, key=counts.__getitem__) == "01"


# Item 10: run options ---------------------------------------------------------------------------


def _execution(job: BackendRunJob) -> dict[str, Any]:
    options = job.inputs["options"]
    return dict(options.get("execution") or {})


def test_each_run_option(provider: QiskitRestProvider, falcon: RestBackend) -> None:
    circuit = isa(falcon, two_registers())
    job = falcon.run(
        circuit,
        shots=64,
        memory=True,
        rep_delay=200e-6,
        init_qubits=False,
        seed_simulator=11,
        job_tags=["mine"],
        meas_level=MeasLevel.CLASSIFIED,
        meas_return=MeasReturnType.SINGLE,
        noise_model=None,  # asks for nothing: accepted
    )
    result = job.result(timeout=60)
    assert result.results[0].shots == 64 and len(result.get_memory(0)) == 64
    assert result.results[0].meas_level == MeasLevel.CLASSIFIED
    assert result.results[0].seed_simulator == 11
    assert job.tags == ["mine"]
    execution = _execution(job)
    assert execution["rep_delay"] == pytest.approx(200e-6) and execution["init_qubits"] is False
    assert "meas_type" not in execution  # classified is the default
    assert job.inputs["options"]["simulator"]["seed_simulator"] == 11
    # Same seed on a noisy device: the same shots.
    noisy = isa(falcon, QuantumCircuit.from_qasm_str(_NOISY))
    first = falcon.run(noisy, shots=200, memory=True, seed_simulator=5).result(timeout=60)
    second = falcon.run(noisy, shots=200, memory=True, seed_simulator=5).result(timeout=60)
    assert first.get_memory(0) == second.get_memory(0)
    # Defaults come from backend.options.
    falcon.set_options(shots=33, memory=True)
    try:
        defaulted = falcon.run(circuit).result(timeout=60)
        assert defaulted.results[0].shots == 33 and len(defaulted.get_memory(0)) == 33
    finally:
        falcon.set_options(shots=4000, memory=False)
    assert falcon.options.meas_level == MeasLevel.CLASSIFIED
    assert falcon.options.meas_return == MeasReturnType.AVERAGE
    assert falcon.options.init_qubits is True and falcon.options.rep_delay is None


_NOISY = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""


def test_run_options_that_cannot_apply_are_named(falcon: RestBackend) -> None:
    circuit = isa(falcon, two_registers())
    with pytest.raises(ValueError, match=r"backend\.run\(noise_model=\.\.\.\) cannot apply.*Aer"):
        falcon.run(circuit, noise_model=object())
    with pytest.raises(ValueError, match=r"backend\.run\(rep_time=\.\.\.\) cannot apply"):
        falcon.run(circuit, rep_time=100)
    with pytest.raises(ValueError, match=r"unknown backend\.run option\(s\) \['colour'\]"):
        falcon.run(circuit, colour="blue")
    with pytest.raises(ValueError, match=r"use_fractional_gates=True\)"):
        falcon.run(circuit, use_fractional_gates=True)
    with pytest.raises(ValueError, match=r"backend\.run\(meas_return='sometimes'\)"):
        falcon.run(circuit, meas_return="sometimes")
    with pytest.raises(ValueError, match=r"backend\.run\(meas_level=0\).*meas_level 1, 2"):
        falcon.run(circuit, meas_level=0)
    with pytest.raises(ValueError, match=r"backend\.run\(\) rep_delay=5\.0 s is outside"):
        falcon.run(circuit, rep_delay=5.0)
    with pytest.raises(ValueError, match=r"backend\.run\(seed_simulator='x'\)"):
        falcon.run(circuit, seed_simulator="x")
    with pytest.raises(PubValidationError, match=r"backend\.run\(\): shots must be a positive"):
        falcon.run(circuit, shots=0)
    with pytest.raises(TypeError, match=r"backend\.run\(\) takes a QuantumCircuit"):
        falcon.run("not a circuit")  # type: ignore[arg-type]


def test_meas_level_1_is_refused_where_the_configuration_does_not_list_it(
    simulator: RestBackend,
) -> None:
    assert 1 not in (simulator.configuration().get("meas_levels") or [2])
    with pytest.raises(ValueError, match=r"backend\.run\(meas_level=1\): local_simulator supports"):
        simulator.run(isa(simulator, two_registers()), meas_level=1)


def test_meas_level_1_asks_for_kerneled_data_where_supported(falcon: RestBackend) -> None:
    assert 1 in falcon.meas_levels  # a configuration field, read as on IBMBackend
    circuit = isa(falcon, two_registers())
    for meas_return, meas_type in (("single", "kerneled"), ("avg", "avg_kerneled")):
        job = falcon.run(circuit, shots=16, meas_level=1, meas_return=meas_return)
        assert _execution(job)["meas_type"] == meas_type
        try:
            result = job.result(timeout=60)
        except ResultDecodeError as exc:  # a service that answers with bits is named as such
            assert "meas_level=1" in str(exc) and "classified bits" in str(exc)
            continue
        experiment = result.results[0]
        assert experiment.meas_level == MeasLevel.KERNELED
        assert experiment.meas_return == meas_return
        memory = result.get_memory(0)
        assert memory.shape == ((16, 3) if meas_return == "single" else (3,))


def test_kerneled_results_become_level_1_experiments() -> None:
    """The conversion itself, on IQ data shaped as IBM's sampler returns it."""
    rng = np.random.default_rng(3)
    single = rng.normal(size=(5, 2)) + 1j * rng.normal(size=(5, 2))
    second = rng.normal(size=(5, 1)) + 1j * rng.normal(size=(5, 1))
    primitive = PrimitiveResult(
        [
            SamplerPubResult(DataBin(low=single, high=second)),
            SamplerPubResult(DataBin(meas=single.mean(axis=0))),
        ]
    )
    result = to_qiskit_result(primitive, job_id="j", backend_name="b", memory=False, shots=[5, 5])
    first, averaged = result.results
    assert (first.meas_level, first.meas_return, first.shots) == (1, "single", 5)
    assert first.header.get("creg_sizes") == [["low", 2], ["high", 1]]
    np.testing.assert_allclose(result.get_memory(0), np.concatenate([single, second], axis=1))
    assert (averaged.meas_level, averaged.meas_return, averaged.shots) == (1, "avg", 5)
    np.testing.assert_allclose(result.get_memory(1), single.mean(axis=0))
    with pytest.raises(ResultDecodeError, match="meas_level=1"):
        bits = BitArray.from_samples(["0", "1"], num_bits=1)
        to_qiskit_result(
            PrimitiveResult([SamplerPubResult(DataBin(c=bits))]),
            job_id="j",
            backend_name="b",
            memory=False,
            meas_level=1,
        )


# Item 10: results as AerSimulator's ---------------------------------------------------------


def _aer_result(circuits: list[QuantumCircuit], **options: Any) -> Result:
    aer = pytest.importorskip("qiskit_aer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aer.AerSimulator().run(circuits, **options).result()


def test_headers_match_aer_field_by_field(simulator: RestBackend) -> None:
    metadata = {"xval": 3.5, "nested": {"qubits": [0, 1]}, "label": "T1"}
    measured = QuantumCircuit(3, name="measure-all", metadata={"xval": 1})
    measured.x(2)
    measured.measure_all()
    circuits = [isa(simulator, two_registers(metadata)), isa(simulator, measured)]
    ours = simulator.run(circuits, shots=50, memory=True).result(timeout=60)
    aer = _aer_result(circuits, shots=50, memory=True)
    assert len(ours.results) == len(aer.results) == 2
    for mine, theirs, circuit in zip(ours.results, aer.results, circuits, strict=True):
        aer_header = theirs.header
        for field, value in aer_header.items():
            assert mine.header[field] == value, field
        assert mine.header["metadata"] is not circuit.metadata  # a copy, not the object
        assert mine.header["clbit_labels"] == [
            [reg.name, j] for reg in circuit.cregs for j in range(reg.size)
        ]
        assert mine.header["qubit_labels"] == [
            [reg.name, j] for reg in circuit.qregs for j in range(reg.size)
        ]
        assert (mine.shots, mine.meas_level, mine.success) == (
            theirs.shots,
            theirs.meas_level,
            theirs.success,
        )
    assert ours.get_counts() == aer.get_counts()
    assert ours.get_memory(1) == aer.get_memory(1)
    assert ours.results[0].header["metadata"]["nested"] == {"qubits": [0, 1]}
    circuits[0].metadata["xval"] = 99  # mutating afterwards changes nothing already submitted
    assert ours.results[0].header["metadata"]["xval"] == 3.5


def test_parameter_binds_make_one_experiment_per_binding_as_aer(simulator: RestBackend) -> None:
    theta, phi = Parameter("theta"), Parameter("phi")
    rotated = QuantumCircuit(1, 1, name="rotated", metadata={"xval": "theta"})
    rotated.rx(theta, 0)
    rotated.measure(0, 0)
    two = QuantumCircuit(2, 2, name="two")
    two.rx(theta, 0)
    two.rx(phi, 1)
    two.measure([0, 1], [0, 1])
    fixed = QuantumCircuit(1, 1, name="fixed")
    fixed.x(0)
    fixed.measure(0, 0)
    circuits = [isa(simulator, c) for c in (rotated, fixed, two)]
    # The ISA circuits keep the Parameter objects, so the bindings name them directly.
    binds = [{theta: [0.0, np.pi, 0.0]}, {}, {theta: [np.pi], phi: [0.0]}]
    ours = simulator.run(circuits, shots=20, parameter_binds=binds).result(timeout=60)
    aer = _aer_result(circuits, shots=20, parameter_binds=binds)
    assert len(ours.results) == len(aer.results) == 5
    assert ours.get_counts() == aer.get_counts()
    assert [r.header["name"] for r in ours.results] == [r.header["name"] for r in aer.results]
    assert [r.header["metadata"] for r in ours.results] == [
        r.header["metadata"] for r in aer.results
    ]
    with pytest.raises(PubValidationError, match=r"1 dict\(s\) for 3 circuit\(s\)"):
        simulator.run(circuits, parameter_binds=[{}])
    with pytest.raises(PubValidationError, match=r"no values for parameter\(s\) \['phi'\]"):
        simulator.run(circuits, parameter_binds=[{theta: [1.0]}, {}, {theta: [1.0]}])
    with pytest.raises(PubValidationError, match="same number of values"):
        simulator.run(circuits[2], parameter_binds=[{theta: [1.0], phi: [1.0, 2.0]}])
    with pytest.raises(PubValidationError, match="give a list of values for theta"):
        simulator.run(circuits[0], parameter_binds=[{theta: 0.5}])
    with pytest.raises(PubValidationError, match=r"\['psi'\] are not parameters"):
        simulator.run(circuits[0], parameter_binds=[{theta: [1.0], Parameter("psi"): [1.0]}])


def test_unbound_parameters_say_to_bind_them_or_pass_parameter_binds(
    simulator: RestBackend,
) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(1, 1, name="sweep")
    circuit.rx(theta, 0)
    circuit.measure(0, 0)
    with pytest.raises(
        PubValidationError,
        match=r"^backend\.run\(\): circuit 0 \('sweep'\) has unbound parameters \[theta\]; "
        r"bind them with circuit\.assign_parameters\(\.\.\.\) or pass parameter_binds=",
    ):
        simulator.run(isa(simulator, circuit))


def test_backend_run_errors_name_the_call_and_the_circuit(falcon: RestBackend) -> None:
    bell = QuantumCircuit(2, 2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    with pytest.raises(ISAValidationError, match=r"^backend\.run\(\): circuit 1: .*Transpile it"):
        falcon.run([isa(falcon, bell), bell])
    with pytest.raises(PubValidationError, match=r"^backend\.run\(\): circuit 0: .*measure_all"):
        falcon.run(isa(falcon, QuantumCircuit(2)))


# Item 14: max_circuits ------------------------------------------------------------------------


def test_max_circuits_is_none_as_on_ibm_backend_but_max_experiments_is_enforced(
    provider: QiskitRestProvider,
) -> None:
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    from qiskit_ibm_runtime.utils.backend_decoder import configuration_from_server_data

    nighthawk = provider.backend("local_nighthawk")
    raw = provider.client.backend_configuration("local_nighthawk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = runtime.IBMBackend(
            configuration_from_server_data(raw), service=None, api_client=None
        )
    limit = nighthawk.configuration().max_experiments
    assert limit == raw["max_experiments"] == theirs.configuration().max_experiments
    assert nighthawk.max_circuits is theirs.max_circuits is None
    # What splitting code sees: qiskit-experiments' BackendData and Qiskit's BackendSamplerV2.
    experiments = pytest.importorskip("qiskit_experiments.framework")
    assert experiments.BackendData(nighthawk).max_circuits is None
    # The pre-flight check still enforces the configuration's limit.
    circuit = isa(nighthawk, two_registers())
    with pytest.raises(
        PubValidationError,
        match=rf"^backend\.run\(\): {limit + 1} circuits exceed the backend's limit of {limit}",
    ):
        nighthawk.run([circuit] * (limit + 1))


def test_backend_sampler_and_ibm_local_mode_run_on_a_rest_backend(
    provider: QiskitRestProvider, simulator: RestBackend
) -> None:
    """Code that wraps any BackendV2: Qiskit's BackendSamplerV2 and qiskit-ibm-runtime's
    SamplerV2 in local mode (which deep-copies its options, the backend included)."""
    circuit = isa(simulator, two_registers({"xval": 2}))
    before = {job.job_id() for job in provider.jobs(limit=None, backend_name="local_simulator")}
    counts = BackendSamplerV2(backend=simulator).run([circuit] * 3, shots=21).result()
    assert [pub.data.high.get_counts() for pub in counts] == [{"10": 21}] * 3
    assert counts[0].metadata["circuit_metadata"] == {"xval": 2}
    after = {job.job_id() for job in provider.jobs(limit=None, backend_name="local_simulator")}
    assert len(after - before) == 1  # max_circuits is None: the three circuits go as one job
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = runtime.SamplerV2(mode=simulator).run([circuit], shots=13).result()
    assert local[0].data.low.get_counts() == {"0": 13}
    assert local[0].metadata["circuit_metadata"] == {"xval": 2}


# Item 12: IBMBackend's surface ------------------------------------------------------------------


def test_ibm_backend_public_names_are_all_there(provider: QiskitRestProvider) -> None:
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    heron = provider.backend("local_heron")
    theirs = {n for n in dir(runtime.IBMBackend) if not n.startswith("_")}
    missing = sorted(n for n in theirs - {"id_warning_issued"} if not hasattr(heron, n))
    assert missing == []
    assert heron.service is provider and heron.provider is provider
    assert heron.instance == provider.instance
    assert heron() is heron and heron.version == 2 and isinstance(heron, BackendV2)
    assert heron.is_mock is False and heron.calibration_id is None
    assert heron.get_translation_stage_plugin() == "default"
    assert heron.target_history() is heron.target
    assert heron.configuration().n_qubits == heron.num_qubits == heron.n_qubits
    assert heron.rep_delay_range == heron.configuration().rep_delay_range
    status = heron.status()
    assert status.to_dict()["backend_name"] == "local_heron" and status.operational
    with pytest.raises(TypeError, match="refresh"):
        heron.properties(refresh="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="datetime"):
        heron.properties(datetime="2025-01-01")  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match="nor has backend 'local_heron'"):
        heron.no_such_field  # noqa: B018


def test_check_faulty_skips_barriers_and_names_the_circuit(provider: QiskitRestProvider) -> None:
    heron = {b.name: b for b in provider.backends()}["local_heron"]
    assert heron.physical_qubits == 156  # from the listing, as IBMBackend's
    props = heron.properties()
    assert props is not None
    a, b = next(qargs for _name, qargs in props.faulty_gates() if len(qargs) == 2)
    circuit = QuantumCircuit(heron.num_qubits, name="uses-faulty")
    circuit.barrier(a, b)  # a barrier on a faulty edge is fine, as on IBMBackend
    heron.check_faulty(circuit)
    circuit.cz(a, b)
    with pytest.raises(ValueError, match=r"circuit 'uses-faulty': cz on qubits .* faulty edge"):
        heron.check_faulty(circuit)
