"""``qiskit_rest_provider.Executor``: quantum programs through the Runtime ``executor`` program.

The encoder is checked against qiskit-ibm-runtime's own decoder of the ``v2.0`` params (what it
reads back is the program that was sent), the result reader against results built with the
official models of every schema version (and against the official client's reader of them), and
the whole path end to end against the local service over loopback: a circuit item and a
twirled samplex item of a Bell circuit, in job mode, in a session and in a batch.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import textwrap
import zlib
from typing import Any

import numpy as np
import pytest
import samplomatic
from ibm_quantum_schemas.common import CompressedTensorModel, TensorModel
from ibm_quantum_schemas.executor import (
    version_0_1,
    version_0_2,
    version_1_0,
    version_1_1,
    version_2_0,
)
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import PauliLindbladMap
from qiskit.transpiler import generate_preset_pass_manager
from samplomatic.quantum_program import QuantumProgram
from samplomatic.quantum_program import QuantumProgramResult as SamplomaticResult
from samplomatic.transpiler import generate_boxing_pass_manager

from qiskit_rest_provider import (
    Batch,
    Executor,
    PubValidationError,
    QiskitRestProvider,
    RestBackend,
    RuntimeJob,
    Session,
)
from qiskit_rest_provider.client.executor import (
    ExecutorItemResult,
    ExecutorOptions,
    ExecutorResult,
    decode_executor_result,
    executor_params,
)
from qiskit_rest_provider.errors import BadRequestError, ResultDecodeError

from .service_helpers import mitigated_ghz_correlators, running_server

pytestmark = [pytest.mark.official]

LIMIT = 1 << 30


# Programs --------------------------------------------------------------------------------------


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def isa(backend: Any, circuit: QuantumCircuit) -> QuantumCircuit:
    manager = generate_preset_pass_manager(optimization_level=1, backend=backend, seed_transpiler=5)
    return manager.run(circuit)


def twirled(circuit: QuantumCircuit, **boxing: Any) -> tuple[QuantumCircuit, Any]:
    """The template and samplex of ``circuit`` with its gates and measurements twirled."""
    manager = generate_boxing_pass_manager(
        enable_gates=True, enable_measures=True, twirling_strategy="active", **boxing
    )
    template, samplex = samplomatic.build(manager.run(circuit))
    return template, samplex


@pytest.fixture(scope="module")
def fez() -> Any:
    from qiskit_ibm_runtime.fake_provider import FakeFez

    return FakeFez()


def noisy_program(backend: Any) -> tuple[QuantumProgram, str, PauliLindbladMap]:
    """A circuit item, a parametric circuit item with a 3 x 2 sweep, and a samplex item with
    injected noise (a Pauli-Lindblad map and a tensor argument) and 4 x 2 randomizations."""
    bell_isa = isa(backend, bell())
    theta = Parameter("theta")
    rotation = QuantumCircuit(1)
    rotation.rx(theta, 0)
    rotation.measure_all()
    template, samplex = twirled(
        bell_isa, inject_noise_targets="gates", inject_noise_strategy="uniform_modification"
    )
    (map_spec,) = [s for s in samplex.inputs().specs if s.name.startswith("pauli_lindblad_maps.")]
    ref = map_spec.name.split(".", 1)[1]
    noise = PauliLindbladMap.from_list([("XX", 0.01), ("ZI", 0.02)])
    program = QuantumProgram(
        shots=64,
        passthrough_data={
            "angles": np.linspace(0, 1, 5),
            "labels": ["a", 1, 2.5, None, True],
            "nested": {"mask": np.array([[True, False], [False, True]]), "n": np.int64(3)},
        },
    )
    program.append_circuit_item(bell_isa)
    program.append_circuit_item(
        isa(backend, rotation), circuit_arguments=np.linspace(0, np.pi, 6).reshape(3, 2, 1)
    )
    program.append_samplex_item(
        template,
        samplex,
        {f"pauli_lindblad_maps.{ref}": noise, f"noise_scales.{ref}": np.array([1.0, 2.0])},
        shape=(4, 2),
    )
    return program, ref, noise


# Encoding, read back by the official client -----------------------------------------------------


def official_decode(params: Any) -> tuple[Any, Any]:
    """What qiskit-ibm-runtime's v2.0 converter reads from the JSON we send."""
    from qiskit_ibm_runtime.quantum_program.params_converters import (
        QUANTUM_PROGRAM_PARAMS_CONVERTERS,
    )

    converter = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"]
    wire = json.dumps(params.model_dump(mode="json"))
    return converter.decoder(converter.model.model_validate_json(wire))


def test_the_official_decoder_reads_back_the_program_we_send(fez: Any) -> None:
    program, ref, noise = noisy_program(fez)
    options = ExecutorOptions()
    options.execution.init_qubits = False
    options.execution.rep_delay = 250e-6
    options.experimental = {"knob": [1, 2]}
    decoded, decoded_options = official_decode(executor_params(program, options))

    assert decoded.shots == 64 and decoded.meas_level == "classified"
    assert [type(i).__name__ for i in decoded.items] == [
        "CircuitItem",
        "CircuitItem",
        "SamplexItem",
    ]
    assert [i.shape for i in decoded.items] == [(), (3, 2), (4, 2)]
    for sent, received in zip(program.items, decoded.items, strict=True):
        assert received.circuit == sent.circuit
        assert received.chunk_size is None
    np.testing.assert_array_equal(
        decoded.items[1].circuit_arguments, program.items[1].circuit_arguments
    )
    assert decoded.items[1].circuit_arguments.dtype == np.float64
    arguments = decoded.items[2].samplex_arguments
    assert arguments[f"pauli_lindblad_maps.{ref}"] == noise
    np.testing.assert_array_equal(arguments[f"noise_scales.{ref}"], [1.0, 2.0])
    # The samplex is the same sampler of parameters: same interface, same draws for one seed.
    sent_samplex, received_samplex = program.items[2].samplex, decoded.items[2].samplex
    received_samplex.finalize()  # a samplex read from JSON is finalized before it samples
    assert repr(received_samplex.inputs()) == repr(sent_samplex.inputs())
    drawn = [
        samplex.sample(item.samplex_arguments[1], num_randomizations=3, rng=11)  # noise scale 2
        for samplex, item in (
            (sent_samplex, program.items[2]),
            (received_samplex, decoded.items[2]),
        )
    ]
    assert sorted(drawn[0]) == sorted(drawn[1])
    for name in drawn[0]:
        np.testing.assert_array_equal(drawn[0][name], drawn[1][name])

    passthrough = decoded.passthrough_data
    np.testing.assert_array_equal(passthrough["angles"], np.linspace(0, 1, 5))
    assert passthrough["labels"] == ["a", 1, 2.5, None, True]
    np.testing.assert_array_equal(passthrough["nested"]["mask"], [[True, False], [False, True]])
    assert passthrough["nested"]["n"] == 3

    assert decoded_options.execution.init_qubits is False
    assert decoded_options.execution.rep_delay == 250e-6
    assert decoded_options.experimental == {"knob": [1, 2]}


def test_the_params_are_the_official_encoders_but_for_the_serialized_bytes(fez: Any) -> None:
    """Field by field what qiskit-ibm-runtime's encoder sends for the same program and options;
    only the QPY and samplex blobs differ (they embed generated circuit names)."""
    from qiskit_ibm_runtime.options_models import ExecutorOptions as OfficialOptions
    from qiskit_ibm_runtime.quantum_program import QuantumProgram as OfficialProgram
    from qiskit_ibm_runtime.quantum_program.params_converters import (
        QUANTUM_PROGRAM_PARAMS_CONVERTERS,
    )

    program, _, _ = noisy_program(fez)
    official_program = OfficialProgram.from_(program)  # the official subclass is taken as is
    official_options = OfficialOptions()
    official_options.execution.stretch_values = True
    official_options.experimental = {"x": "y"}
    theirs = (
        QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"]
        .encoder(official_program, official_options)
        .model_dump(mode="json")
    )
    ours = executor_params(official_program, ExecutorOptions.coerce(official_options))
    ours = ours.model_dump(mode="json")

    def blank_blobs(params: dict[str, Any]) -> dict[str, Any]:
        quantum_program = params["quantum_program"]
        quantum_program["circuits"]["b64_data"] = "<qpy>"
        for item in quantum_program["items"]:
            if "samplex" in item:
                item["samplex"]["samplex_json"] = "<samplex>"
        return params

    assert blank_blobs(ours) == blank_blobs(theirs)


def test_chunk_sizes_go_out_as_given_and_none_as_auto(fez: Any) -> None:
    bell_isa = isa(fez, bell())
    program = QuantumProgram(shots=10)
    program.append_circuit_item(bell_isa, chunk_size=3)
    program.append_circuit_item(bell_isa, chunk_size=5)
    sent = executor_params(program).model_dump(mode="json")["quantum_program"]
    assert [item["chunk_size"] for item in sent["items"]] == [3, 5]
    mixed = QuantumProgram(shots=10)
    mixed.append_circuit_item(bell_isa, chunk_size=3)
    mixed.append_circuit_item(bell_isa)
    with pytest.raises(PubValidationError, match="chunk"):
        executor_params(mixed)


def test_programs_that_cannot_be_encoded_are_refused_naming_the_problem(fez: Any) -> None:
    bell_isa = isa(fez, bell())
    with pytest.raises(PubValidationError, match="no items"):
        executor_params(QuantumProgram(shots=10))
    bad_shots = QuantumProgram(shots=0)
    bad_shots.append_circuit_item(bell_isa)
    with pytest.raises(PubValidationError, match="shots"):
        executor_params(bad_shots)
    bad_level = QuantumProgram(shots=10, meas_level="raw")  # type: ignore[arg-type]
    bad_level.append_circuit_item(bell_isa)
    with pytest.raises(PubValidationError, match="meas_level"):
        executor_params(bad_level)
    for passthrough, message in [
        ({"x": object()}, r"passthrough_data\['x'\]: a object"),
        ({1: "x"}, "keys must be strings"),
        ({"y": [np.array(["a"])]}, r"passthrough_data\['y'\]\[0\]: arrays of dtype <U1"),
    ]:
        program = QuantumProgram(shots=10, passthrough_data=passthrough)
        program.append_circuit_item(bell_isa)
        with pytest.raises(PubValidationError, match=message):
            executor_params(program)

    class Stray:
        circuit = bell_isa
        chunk_size = None

    program = QuantumProgram(shots=10)
    program.items.append(Stray())  # type: ignore[arg-type]
    with pytest.raises(PubValidationError, match="item 0: Stray is neither"):
        executor_params(program)

    class NoCircuit(Stray):
        circuit = "OPENQASM 3.0;"  # type: ignore[assignment]

    program = QuantumProgram(shots=10)
    program.append_circuit_item(bell_isa)
    program.items.append(NoCircuit())  # type: ignore[arg-type]
    with pytest.raises(PubValidationError, match="item 1: the item's circuit is a str"):
        executor_params(program)


# Options ---------------------------------------------------------------------------------------


def test_options_come_nested_flat_or_as_the_official_clients() -> None:
    from qiskit_ibm_runtime.options_models import ExecutorOptions as OfficialOptions

    nested = ExecutorOptions.coerce(
        {"execution": {"init_qubits": False}, "environment": {"job_tags": ["a"]}}
    )
    flat = ExecutorOptions.coerce({"init_qubits": False, "job_tags": ["a"]})
    assert nested == flat
    assert nested.execution.init_qubits is False and nested.environment.job_tags == ["a"]

    official = OfficialOptions()
    official.execution.scheduler_timing = True
    official.environment.log_level = "DEBUG"
    official.environment.private = True
    official.max_execution_time = 120
    coerced = ExecutorOptions.coerce(official)
    assert coerced.execution.scheduler_timing is True
    assert coerced.job_fields() == {"log_level": "DEBUG", "private": True, "cost": 120}

    with pytest.raises(ValueError, match="unknown Executor option 'shots'"):
        ExecutorOptions.coerce({"shots": 3})
    with pytest.raises(ValueError, match=r"unknown Executor option execution\.foo"):
        ExecutorOptions.coerce({"execution": {"foo": 1}})
    with pytest.raises(TypeError, match="not int"):
        ExecutorOptions.coerce(3)


def test_options_are_checked_and_placed_where_the_primitives_put_them() -> None:
    options = ExecutorOptions.coerce(
        {
            "job_tags": ["x", "y"],
            "log_level": "INFO",
            "private": True,
            "max_execution_time": 60,
            "image": "runtime:1.2",
            "rep_delay": 1e-4,
            "experimental": {"a": 1},
        }
    )
    options.validate()
    assert options.job_fields() == {
        "log_level": "INFO",
        "tags": ["x", "y"],
        "private": True,
        "cost": 60,
        "runtime": "runtime:1.2",
    }
    assert options.params_options() == {
        "init_qubits": True,
        "rep_delay": 1e-4,
        "scheduler_timing": False,
        "stretch_values": False,
        "experimental": {"a": 1},
    }
    # The environment's max_execution_time applies when the top-level one is unset.
    assert ExecutorOptions.coerce({"environment": {"max_execution_time": 30}}).job_fields() == {
        "log_level": "WARNING",
        "cost": 30,
    }
    for bad, message in [
        ({"log_level": "LOUD"}, "log_level"),
        ({"job_tags": "x"}, "job_tags"),
        ({"init_qubits": 1}, "init_qubits"),
        ({"rep_delay": -1.0}, "rep_delay"),
        ({"max_execution_time": 0}, "max_execution_time"),
        ({"experimental": {"f": object()}}, "experimental"),
    ]:
        with pytest.raises((TypeError, ValueError), match=message):
            ExecutorOptions.coerce(bad).validate()


# Results ---------------------------------------------------------------------------------------

VERSIONS = {
    "v0.1": version_0_1,
    "v0.2": version_0_2,
    "v1.0": version_1_0,
    "v1.1": version_1_1,
    "v2.0": version_2_0,
}
START = dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.timezone.utc)


def result_document(version: str) -> tuple[str, dict[str, np.ndarray]]:
    """A result of schema ``version`` made with the official models, as JSON, and its arrays."""
    module = VERSIONS[version]
    tensor = CompressedTensorModel if version == "v2.0" else TensorModel
    rng = np.random.default_rng(3)
    arrays = {
        "meas": rng.integers(0, 2, (2, 5, 3)).astype(bool),
        "measurement_flips.meas": rng.integers(0, 2, (2, 1, 3)).astype(bool),
        "iq": (rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))).astype(np.complex128),
    }
    newer = version not in ("v0.1", "v0.2")
    part: dict[str, Any] = {"idx_item": 0, "size": 2}
    if newer:
        part.update(permutation=[0], element_range=(0, 2, 1))
    document: dict[str, Any] = {
        "schema_version": version,
        "data": [
            {
                "results": {name: tensor.from_numpy(value) for name, value in arrays.items()},
                "metadata": None
                if version == "v0.1"
                else {
                    "scheduler_timing": {"timing": "main,X,0,10", "circuit_duration": 10},
                    "stretch_values": [
                        {"name": "s", "value": 4, "remainder": 1, "expanded_values": [[0, 4]]}
                    ],
                },
            }
        ],
        "metadata": {
            "chunk_timing": [
                {"start": START, "stop": START + dt.timedelta(seconds=2), "parts": [part]}
            ]
        },
    }
    if version != "v0.1":
        document["passthrough_data"] = {"w": tensor.from_numpy(np.arange(4.0)), "k": [1, "z"]}
    if newer:
        document["semantic_role"] = "custom-role"
    model = module.QuantumProgramResultModel.model_validate(document)
    return model.model_dump_json(), arrays


@pytest.mark.parametrize("version", list(VERSIONS))
def test_results_of_every_schema_version_read_as_the_official_client_reads_them(
    version: str,
) -> None:
    from qiskit_ibm_runtime.decoders.executor.decoder import ExecutorResultDecoder

    body, arrays = result_document(version)
    ours = decode_executor_result(body.encode(), LIMIT)
    theirs = ExecutorResultDecoder.decode(body)

    assert isinstance(ours, SamplomaticResult) and isinstance(ours, ExecutorResult)
    assert len(ours) == len(theirs) == 1
    item = ours[0]
    assert isinstance(item, ExecutorItemResult)
    assert sorted(item) == sorted(theirs[0]) == sorted(arrays)
    for name, expected in arrays.items():
        np.testing.assert_array_equal(item[name], expected)
        np.testing.assert_array_equal(item[name], theirs[0][name])
        assert item[name].dtype == expected.dtype
    item["meas"] ^= item["measurement_flips.meas"]  # results are writable arrays

    assert ours.metadata.chunk_timing == theirs.metadata.chunk_timing
    (span,) = ours.timing
    assert span.start == START and span.start.tzinfo is not None
    assert ours.timing.duration == 2.0
    assert (span.parts[0].idx_item, span.parts[0].size) == (0, 2)
    if version == "v0.1":
        assert item.metadata.scheduler_timing is None and ours.passthrough_data is None
    else:
        assert vars(item.metadata.scheduler_timing) == vars(theirs[0].metadata.scheduler_timing)
        assert item.metadata.scheduler_timing.circuit_duration == 10
        assert [vars(s) for s in item.metadata.stretch_values] == [
            vars(s) for s in theirs[0].metadata.stretch_values
        ]
        np.testing.assert_array_equal(ours.passthrough_data["w"], np.arange(4.0))
        assert ours.passthrough_data["k"] == [1, "z"]
    assert ours.semantic_role == (None if version in ("v0.1", "v0.2") else "custom-role")


def test_malformed_results_raise_result_decode_errors() -> None:
    body, _ = result_document("v2.0")
    document = json.loads(body)
    cases = [
        (b"not json", "not JSON"),
        (b"[1]", "a list, not an object"),
        (json.dumps({**document, "schema_version": "v9.9"}).encode(), "v9.9"),
        (json.dumps({k: v for k, v in document.items() if k != "data"}).encode(), "data"),
    ]
    broken = json.loads(body)
    broken["data"][0]["results"]["meas"]["shape"] = [2, 5, 4]  # disagrees with its data
    cases.append((json.dumps(broken).encode(), "schema v2.0"))
    deep = '{"schema_version": "v2.0", "passthrough_data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    cases.append((deep.encode(), "nested too deeply"))
    cases.append((b"\xff\xfe", "not JSON"))
    for payload, message in cases:
        with pytest.raises(ResultDecodeError, match=message):
            decode_executor_result(payload, LIMIT)


def test_results_beyond_the_decode_limit_are_refused_before_decoding() -> None:
    body, arrays = result_document("v2.0")
    decoded_bytes = sum(a.size * a.itemsize for a in arrays.values()) + 4 * 8
    assert len(decode_executor_result(body, decoded_bytes)) == 1
    with pytest.raises(ResultDecodeError, match="decode limit"):
        decode_executor_result(body, decoded_bytes - 1)

    # A compressed tensor inflating far beyond the size its shape declares (a zlib bomb).
    bomb = json.loads(body)
    bomb["data"][0]["results"]["meas"]["data"] = base64.b64encode(
        zlib.compress(bytes(50_000_000))
    ).decode()
    with pytest.raises(ResultDecodeError, match="inflates beyond"):
        decode_executor_result(json.dumps(bomb), LIMIT)


@pytest.mark.slow
def test_the_package_loads_samplomatic_only_for_the_executor() -> None:
    """``import qiskit_rest_provider`` and the primitives load neither samplomatic nor the
    schemas; a job of the executor program says where its reader is until it is loaded, and
    importing ``Executor`` registers it."""
    script = textwrap.dedent(
        """
        import sys
        import qiskit_rest_provider
        from qiskit_rest_provider import RuntimeJob, SamplerV2, EstimatorV2, Session
        from qiskit_rest_provider.client.context import ClientContext
        from qiskit_rest_provider.errors import ResultDecodeError
        heavy = [m for m in ("samplomatic", "ibm_quantum_schemas") if m in sys.modules]
        assert not heavy, heavy
        context = ClientContext(None, instance=None, backend_lookup=lambda name: None)
        job = RuntimeJob("j1", context, program_id="executor")
        try:
            job._decode(b"{}")
        except ResultDecodeError as exc:
            assert "import qiskit_rest_provider.client.executor" in str(exc), exc
        else:
            raise AssertionError("decoded without a reader")
        from qiskit_rest_provider import Executor
        assert "samplomatic" in sys.modules
        try:
            job._decode(b"{}")
        except ResultDecodeError as exc:
            assert "schema_version None" in str(exc), exc
        else:
            raise AssertionError("an empty object read as a result")
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# End to end against the local service ------------------------------------------------------------


@pytest.fixture()
def heron(provider: QiskitRestProvider) -> RestBackend:
    return provider.backend("local_heron")


def bell_program(backend: RestBackend, randomizations: int) -> QuantumProgram:
    """The Bell circuit as a circuit item and, twirled, as a samplex item."""
    bell_isa = isa(backend, bell())
    template, samplex = twirled(bell_isa)
    program = QuantumProgram(
        shots=400, passthrough_data={"tag": "bell", "angles": np.arange(3.0), "more": [None]}
    )
    program.append_circuit_item(bell_isa)
    program.append_samplex_item(template, samplex, shape=(randomizations,))
    return program


def check_bell_result(result: Any, randomizations: int) -> None:
    assert isinstance(result, SamplomaticResult) and isinstance(result, ExecutorResult)
    assert len(result) == 2
    plain, twirl = result[0], result[1]
    assert plain["meas"].shape == (400, 2) and plain["meas"].dtype == bool
    assert twirl["meas"].shape == (randomizations, 400, 2)
    flips = twirl["measurement_flips.meas"]
    assert flips.shape == (randomizations, 1, 2) and flips.dtype == bool
    if randomizations >= 12:  # all 2 x 12 flips 0 by chance: p = 2**-24
        assert flips.any(), "active measurement twirling flips some bits"
    for bits in (plain["meas"], twirl["meas"] ^ flips):
        correlated = np.mean(bits[..., 0] == bits[..., 1])
        assert correlated > 0.85, correlated  # mostly 00 and 11 on the noisy device
        assert 0.3 < np.mean(bits[..., 0]) < 0.7
    # Undoing the flips matters: the raw twirled bits are not the Bell correlations.
    raw = twirl["meas"]
    flipped_one = flips[..., 0] != flips[..., 1]
    if flipped_one.any():
        anti = raw[np.broadcast_to(flipped_one, raw.shape[:-1])]
        assert np.mean(anti[:, 0] != anti[:, 1]) > 0.85
    assert result.passthrough_data["tag"] == "bell"
    np.testing.assert_array_equal(result.passthrough_data["angles"], np.arange(3.0))
    assert result.passthrough_data["more"] == [None]


@pytest.mark.service
@pytest.mark.slow
def test_a_program_runs_in_job_mode(provider: QiskitRestProvider, heron: RestBackend) -> None:
    executor = Executor(heron, options={"job_tags": ["executor-test"], "log_level": "INFO"})
    job = executor.run(bell_program(heron, randomizations=16))
    assert isinstance(job, RuntimeJob) and job.program_id == "executor"
    assert job.session_id is None
    check_bell_result(job.result(timeout=180), randomizations=16)
    assert job.tags == ["executor-test"]
    document = provider.client.get_job(job.job_id())
    assert document["program"]["id"] == "executor"
    assert document["backend"] == "local_heron"
    # A job fetched again from the service reads its result the same way.
    check_bell_result(provider.job(job.job_id()).result(timeout=60), randomizations=16)


@pytest.mark.service
@pytest.mark.slow
@pytest.mark.parametrize("mode_class", [Session, Batch])
def test_a_program_runs_in_a_session_and_in_a_batch(
    heron: RestBackend, mode_class: type[Session]
) -> None:
    with mode_class(heron) as mode:
        executor = Executor(mode)
        assert executor.mode is mode and executor.backend is heron
        job = executor.run(bell_program(heron, randomizations=3))
        result = job.result(timeout=180)
        assert job.session_id is not None and job.session_id == mode.session_id
        check_bell_result(result, randomizations=3)
        # Inside the block, Executor() takes the session, as the primitives do.
        assert Executor().mode is mode


@pytest.mark.service
@pytest.mark.slow
def test_a_parametric_sweep_has_one_result_per_parameter_set(heron: RestBackend) -> None:
    theta = Parameter("theta")
    rotation = QuantumCircuit(1)
    rotation.rx(theta, 0)
    rotation.measure_all()
    program = QuantumProgram(shots=300)
    angles = np.array([[0.0], [np.pi], [np.pi / 2], [0.0]]).reshape(2, 2, 1)
    program.append_circuit_item(isa(heron, rotation), circuit_arguments=angles)
    result = Executor(heron).run(program).result(timeout=180)
    ones = result[0]["meas"][..., 0].mean(axis=-1)
    assert ones.shape == (2, 2)
    assert ones[0, 0] < 0.15 and ones[0, 1] > 0.85 and 0.3 < ones[1, 0] < 0.7
    assert ones[1, 1] < 0.15


@pytest.mark.service
def test_a_circuit_outside_the_targets_isa_is_refused_with_the_services_400(
    heron: RestBackend,
) -> None:
    program = QuantumProgram(shots=100)
    program.append_circuit_item(bell())  # h and cx are not the device's basis gates
    with pytest.raises(BadRequestError) as caught:
        Executor(heron).run(program)
    assert caught.value.status_code == 400
    assert "item 0" in caught.value.message and "h" in caught.value.message

    too_many = QuantumProgram(shots=heron.max_shots + 1)
    too_many.append_circuit_item(isa(heron, bell()))
    with pytest.raises(PubValidationError, match="max_shots"):
        Executor(heron).run(too_many)  # checked before anything is sent


@pytest.mark.service
def test_executor_modes_are_checked(heron: RestBackend) -> None:
    with pytest.raises(ValueError, match="needs mode="):
        Executor()
    with pytest.raises(TypeError, match="not str"):
        Executor("local_heron")  # type: ignore[arg-type]
    program = QuantumProgram(shots=10)
    program.append_circuit_item(isa(heron, bell()))
    with Batch(heron) as batch, pytest.raises(ValueError, match="dry_run"):
        Executor(batch).run(program, dry_run=True)
    with pytest.raises(ValueError, match="rep_delay_range"):
        Executor(heron, options={"rep_delay": 10.0}).run(program)


@pytest.mark.service
@pytest.mark.slow
def test_a_dry_run_goes_to_the_mock_twin_with_the_jobs_options() -> None:
    with running_server(mock_backends=True) as server:
        provider = server.provider()
        try:
            heron = provider.backend("local_heron")
            program = QuantumProgram(shots=50)
            program.append_circuit_item(isa(heron, bell()))
            options = {"private": True, "max_execution_time": 90, "job_tags": ["dry"]}
            job = Executor(heron, options=options).run(program, dry_run=True)
            assert job.backend_name == "mock_heron"
            assert job.result(timeout=120)[0]["meas"].shape == (50, 2)
            document = provider.client.get_job(job.job_id())
            assert document["backend"] == "mock_heron" and document["private"] is True
            assert document["cost"] == 90 and job.tags == ["dry"]
        finally:
            provider.close()


@pytest.mark.service
@pytest.mark.slow
def test_qiskit_mitigation_runs_through_our_executor(provider: QiskitRestProvider) -> None:
    """qiskit-mitigation's tasks take our Executor's results as they take the official one's:
    TREX plus ZNE by gate folding bring noisy GHZ correlators closer to their ideal 1."""
    pytest.importorskip("qiskit_mitigation")
    falcon = provider.backend("local_falcon")
    unmitigated, mitigated = mitigated_ghz_correlators(Executor(falcon), falcon)
    assert np.all(unmitigated < 0.97)
    assert np.all(np.abs(1 - mitigated) < np.abs(1 - unmitigated))
