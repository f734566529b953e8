"""The ``qiskit-rest`` command line against the local service: every command, JSON output,
clear errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qiskit_rest_provider import QiskitRestProvider, SamplerV2
from qiskit_rest_provider.cli import main
from qiskit_rest_provider.server import LocalRuntimeServer

from .serve_process import start_serve


def connection(server: LocalRuntimeServer, api_key: str | None = None) -> list[str]:
    return [
        "--url",
        server.url,
        "--iam-url",
        server.iam_url,
        "--token",
        api_key or server.api_key,
        "--instance",
        server.instance,
    ]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
@pytest.mark.service
def test_backends_table_and_json(server: LocalRuntimeServer, capsys: Any) -> None:
    code, out, _ = run(capsys, "backends", *connection(server))
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["name", "qubits", "status"]
    assert "local_heron" in out and "156" in out
    code, out, _ = run(capsys, "--json", "backends", *connection(server))
    rows = json.loads(out)
    heron = next(r for r in rows if r["name"] == "local_heron")
    assert heron["qubits"] == 156 and 0 < heron["median_2q_error"] < 0.05
    assert heron["median_readout_error"] > 0
    code, out2, _ = run(capsys, "backends", "--json", *connection(server))  # after the command
    assert json.loads(out2) == rows


@pytest.mark.service
def test_backend_details_and_unknown_backend(server: LocalRuntimeServer, capsys: Any) -> None:
    code, out, _ = run(capsys, "--json", "backend", "local_eagle", *connection(server))
    details = json.loads(out)
    assert code == 0 and details["qubits"] == 127 and "ecr" in details["basis_gates"]
    assert details["calibration_id"] and details["median_t1_us"] > 0
    code, out, err = run(capsys, "backend", "no_such_device", *connection(server))
    assert code == 4 and "no_such_device" in err and out == ""


@pytest.mark.service
def test_wrong_key_is_exit_3_with_a_hint(server: LocalRuntimeServer, capsys: Any) -> None:
    code, _, err = run(capsys, "backends", *connection(server, api_key="wrong-key"))
    assert code == 3
    assert "API key" in err and "wrong-key" not in err


@pytest.mark.slow
@pytest.mark.service
def test_jobs_job_and_cancel(
    server: LocalRuntimeServer, provider: QiskitRestProvider, capsys: Any
) -> None:
    backend = provider.backend("local_falcon")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(qc)
    sampler = SamplerV2(backend)
    sampler.options.environment.job_tags = ["cli-test"]
    done = sampler.run([isa], shots=100)
    done.result(timeout=60)

    code, out, _ = run(capsys, "--json", "jobs", "--tag", "cli-test", *connection(server))
    assert code == 0 and [j["id"] for j in json.loads(out)] == [done.job_id()]
    code, out, _ = run(capsys, "jobs", "--tag", "cli-test", "--finished", *connection(server))
    assert done.job_id() in out and "DONE" in out
    code, out, _ = run(capsys, "jobs", "--tag", "cli-test", "--pending", *connection(server))
    assert "No jobs match." in out

    code, out, _ = run(capsys, "--json", "job", done.job_id(), *connection(server))
    details = json.loads(out)
    assert code == 0 and details["status"] == "DONE"
    assert details["result"][0]["meas"]["num_shots"] == 100
    assert details["timestamps"]["finished"]
    code, out, _ = run(capsys, "job", done.job_id(), *connection(server))
    assert "meas" in out and "status      DONE" in out

    code, _, err = run(capsys, "job", "nosuchjob123", *connection(server))
    assert code == 4 and "nosuchjob123" in err
    code, _, err = run(capsys, "cancel", done.job_id(), *connection(server))
    assert code == 1 and "cannot be cancelled" in err

    blocker = sampler.run([isa] * 40, shots=100_000)
    queued = sampler.run([isa], shots=10)
    code, out, _ = run(capsys, "--json", "cancel", queued.job_id(), *connection(server))
    assert code == 0 and json.loads(out)["status"] == "CANCELLED"
    code, _, err = run(capsys, "job", queued.job_id(), *connection(server))
    assert code == 5
    blocker.cancel()


@pytest.mark.service
def test_account_save_list_delete(
    server: LocalRuntimeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("QISKIT_REST_ACCOUNTS_FILE", str(tmp_path / "accounts.json"))
    for var in ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_URL"):
        monkeypatch.delenv(var, raising=False)
    code, out, _ = run(
        capsys,
        "account",
        "save",
        "--name",
        "local",
        "--token",
        server.api_key,
        "--instance",
        server.instance,
        "--url",
        server.url,
        "--iam-url",
        server.iam_url,
        "--default",
    )
    assert code == 0 and "local" in out
    assert (tmp_path / "accounts.json").stat().st_mode & 0o777 == 0o600
    code, out, _ = run(capsys, "--json", "account", "list")
    listed = json.loads(out)
    assert listed["local"]["token"] == "<hidden>" and server.api_key not in out
    code, out, _ = run(capsys, "backends", "--account", "local")
    assert code == 0 and "local_falcon" in out
    code, out, _ = run(capsys, "backends")  # the default account
    assert code == 0 and "local_falcon" in out
    code, out, _ = run(capsys, "account", "delete", "local")
    assert code == 0
    code, _, err = run(capsys, "backends", "--account", "local")
    assert code == 4 and "local" in err


def test_usage_errors_exit_2(capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.service
def test_demo_runs_the_main_job(capsys: Any) -> None:
    code, out, _ = run(capsys, "--json", "demo", "--qubits", "3", "--shots", "500")
    report = json.loads(out)
    assert code == 0
    assert {b["name"] for b in report["backends"]} >= {"local_heron", "local_simulator"}
    counts = report["sampler"]["top_counts"]
    assert counts.get("000", 0) + counts.get("111", 0) > 400
    assert len(report["estimator"]["evs"]) == 2 and report["timings_s"]["sampler job"] > 0


@pytest.mark.slow
@pytest.mark.service
def test_serve_prints_connection_details_and_serves(tmp_path: Path) -> None:
    proc, info = start_serve("--db", str(tmp_path / "serve.db"))
    try:
        assert info["url"].startswith("http://127.0.0.1:")
        provider = QiskitRestProvider(
            token=info["api_key"],
            instance=info["instance"],
            url=info["url"],
            iam_url=info["iam_url"],
        )
        assert "local_heron" in {b.name for b in provider.backends()}
        provider.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_fault_cut_flags_build_the_fault_config() -> None:
    from qiskit_rest_provider.cli.main import build_parser, fault_config

    parser = build_parser()
    assert fault_config(parser.parse_args(["serve"])) is None
    config = fault_config(
        parser.parse_args(["serve", "--fault-cut-rate", "0.5", "--fault-cut-delay-ms", "300"])
    )
    assert config is not None
    assert config.reset_after_forward_rate == 0.5
    assert config.reset_after_forward_delay == 0.3
    assert config.reset_after_forward_paths == ("/v1/jobs",)
    assert config.reset_after_forward_methods == ("POST",)
    config = fault_config(
        parser.parse_args(
            [
                "serve",
                "--fault-cut-rate",
                "1",
                "--fault-cut-method",
                "DELETE",
                "--fault-cut-path",
                "/x",
            ]
        )
    )
    assert config is not None
    assert config.reset_after_forward_methods == ("DELETE",)
    assert config.reset_after_forward_paths == ("/x",)


def test_account_list_shows_a_broken_saved_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A hand-edited accounts file with a crafted CRN is listed with its problem, never used."""
    path = tmp_path / "accounts.json"
    crn = "crn:v1:bluemix:public:quantum-computing:attacker.example/:a/1:2::"
    path.write_text(json.dumps({"bad": {"token": "secret-key-123", "instance": crn}}))
    path.chmod(0o600)
    monkeypatch.setenv("QISKIT_REST_ACCOUNTS_FILE", str(path))
    code, out, _ = run(capsys, "account", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("bad"))
    assert "region" in row.lower() or "crn" in row.lower()
    assert "secret-key-123" not in out


def test_serve_emulation_switches_reach_the_server_options() -> None:
    from qiskit_rest_provider.cli.main import build_parser, server_options

    parser = build_parser()
    default = server_options(parser.parse_args(["serve"]))
    assert default["emulate_static_zz"] is True and default["emulate_idle_noise"] is True
    off = server_options(parser.parse_args(["serve", "--no-static-zz", "--no-idle-noise"]))
    assert off["emulate_static_zz"] is False and off["emulate_idle_noise"] is False
