"""The README's claims hold: its figures lie within what the committed benchmark results show,
and what it says about Targets, broken couplers and the noise model is what the code does.

Every number of the README's performance sentence must be a figure of
``benchmarks/results/latest.json`` (the ends of a range: the slowest and the fastest case),
rounded as printed. The figures are recomputed here from the JSON, independently of
:mod:`benchmarks.publish` (which writes them); no benchmark runs in this test.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from benchmarks import publish
from qiskit_rest_provider import ISAValidationError, QiskitRestProvider, SamplerV2
from qiskit_rest_provider.core.configuration import BackendConfiguration
from qiskit_rest_provider.core.properties import BackendProperties
from qiskit_rest_provider.core.target import build_target
from qiskit_rest_provider.server.devices import default_catalog

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
LATEST = ROOT / "benchmarks" / "results" / "latest.json"


def _latest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LATEST.read_text())
    return data


def _marked(name: str) -> str:
    """The text between the README's ``bench:name`` markers, on one line."""
    match = re.search(rf"<!-- bench:{name} -->(.*?)<!-- /bench:{name} -->", README, re.DOTALL)
    assert match, f"no bench:{name} marker"
    return " ".join(match.group(1).split())


def _cases(group: str, contains: str = "") -> list[Mapping[str, Any]]:
    found = [c for c in _latest()["cases"] if c["group"] == group and contains in c["name"]]
    assert found, (group, contains)
    return found


def _ratio(case: Mapping[str, Any]) -> float:
    """How many times faster we are: the reference's median over ours (as the README says)."""
    return float(case["reference"]["median"] / case["ours"]["median"])


def _close(printed: str, value: float) -> bool:
    """``printed`` is ``value`` rounded: within half a unit of its last digit (plus 0.5% for
    the rounding of the figures in the results themselves)."""
    decimals = len(printed.partition(".")[2])
    return abs(float(printed) - value) <= 0.5 * 10.0**-decimals + 0.005 * abs(value)


def _range_claim(printed_low: str, printed_high: str, cases: Sequence[Mapping[str, Any]]) -> None:
    """``low–high x`` over several cases: from the slowest case's ratio to the fastest's."""
    ratios = [_ratio(c) for c in cases]
    assert _close(printed_low, min(ratios)), (printed_low, ratios)
    assert _close(printed_high, max(ratios)), (printed_high, ratios)


def test_committed_results_are_a_full_run() -> None:
    data = _latest()
    assert data["meta"]["quick"] is False
    groups = {c["group"] for c in data["cases"]}
    assert groups >= {"footprint", "target", "serialize", "decode", "qasm parse", "end to end"}


def test_readme_and_performance_page_are_generated_from_the_latest_results() -> None:
    """Regenerating from latest.json changes nothing: no figure was typed or left stale."""
    assert publish.publish(LATEST, check=True) == []
    assert publish.table(_latest()) in (ROOT / "docs" / "performance.md").read_text()


def test_every_number_of_the_performance_sentence_lies_within_the_results() -> None:
    sentence = _marked("fast")
    million = _cases("decode", "1,000,000 shots")[0]
    resubmit = _cases("serialize", "re-submitted")[0]
    bell = _cases("end to end", "Bell sampler job")[0]
    checked: list[str] = []

    match = re.search(r"Results decode ([\d.]+)–([\d.]+)x faster", sentence)
    assert match
    _range_claim(match[1], match[2], _cases("decode"))
    checked += [match[1], match[2]]

    match = re.search(
        r"with (1,000,000) shots: ([\d.]+)x, with (\d+)% of its peak memory", sentence
    )
    assert match
    assert match[1] in million["name"]
    assert _close(match[2], _ratio(million))
    # Peak memory relative to the decoded arrays, ours and the official client's (2 decimals).
    ours, theirs = million["extra"]["peak/arrays"], million["extra"]["official_peak/arrays"]
    assert _close(match[3], 100 * ours / theirs)
    checked += [match[1], match[2], match[3]]

    match = re.search(r"new values: ([\d.]+) ms\)", sentence)
    assert match
    assert _close(match[1], resubmit["ours"]["median"])
    checked.append(match[1])

    match = re.search(r"completes in ([\d.]+) ms", sentence)
    assert match
    assert _close(match[1], bell["ours"]["median"])
    checked.append(match[1])

    match = re.search(r"run, (\d{4})-(\d\d)-(\d\d);", sentence)
    assert match
    assert _latest()["meta"]["date"].startswith(f"{match[1]}-{match[2]}-{match[3]}")
    checked += [match[1], match[2], match[3]]

    # No other number hides in the sentence (OpenQASM 3 is a name, not a figure).
    numbers = re.findall(r"\d[\d,.]*\d|\d", sentence.replace("OpenQASM 3", "OpenQASM"))
    assert sorted(numbers) == sorted(checked)


def test_target_speed_claim_lies_within_the_results() -> None:
    match = re.fullmatch(r"([\d.]+)–([\d.]+)x", _marked("target"))
    assert match
    _range_claim(match[1], match[2], _cases("target"))


def test_publish_rewrites_stale_figures_and_refuses_quick_or_partial_runs(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README.replace(_marked("target"), "99–100x", 1))
    targets = {readme: publish.TARGETS[publish.README]}
    assert publish.publish(LATEST, check=True, targets=targets) == [readme]
    assert publish.publish(LATEST, targets=targets) == [readme]
    assert readme.read_text() == README

    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps({**_latest(), "meta": {**_latest()["meta"], "quick": True}}))
    with pytest.raises(publish.PublishError, match="quick"):
        publish.publish(quick, targets=targets)
    partial = tmp_path / "partial.json"
    data = _latest()
    partial.write_text(
        json.dumps({**data, "cases": [c for c in data["cases"] if c["group"] != "decode"]})
    )
    with pytest.raises(publish.PublishError, match="decode"):
        publish.publish(partial, targets=targets)
    unmarked = tmp_path / "unmarked.md"
    shutil.copy(ROOT / "docs" / "migration.md", unmarked)
    with pytest.raises(publish.PublishError, match="missing"):
        publish.publish(LATEST, targets={unmarked: publish.TARGETS[publish.PERFORMANCE]})
    assert readme.read_text() == README  # nothing written when a target fails


def test_target_claim_counts_match_the_conformance_test() -> None:
    conformance = pytest.importorskip("tests.test_target_conformance")
    text = " ".join(README.split())
    assert f"all {len(conformance.SNAPSHOTS)} of its device snapshots" in text
    words = {10: "ten"}
    assert f"the {words[len(conformance.LEGACY_EULER)]} legacy devices" in text
    assert "use_fractional_gates=False" in text and "`u2` and `u3`" in text


def _latest_target(name: str) -> tuple[Any, BackendProperties]:
    device = next(d for d in default_catalog() if d.name == name)
    props = device.calibrations[-1].properties
    config = BackendConfiguration(device.configuration).without_fractional_gates()
    return build_target(config, props), BackendProperties(props)


def test_broken_couplers_are_faulty_and_never_disconnect_a_device() -> None:
    for device in default_catalog():
        if device.simulator:
            continue
        config = BackendConfiguration(device.configuration).without_fractional_gates()
        twoq = next(g for g in ("cz", "ecr", "cx") if g in config.basis_gates)
        for calibration in device.calibrations:
            props = BackendProperties(calibration.properties)
            broken = {q for name, q in props.faulty_gates() if name == twoq}
            assert broken == {
                q for q, values in props.gates[twoq].items() if values["gate_error"][0] >= 1
            }
            target = build_target(config, calibration.properties)
            assert broken.isdisjoint(target[twoq])
            assert target.build_coupling_map().is_connected(), calibration.calibration_id


@pytest.mark.service
def test_every_optimization_level_avoids_the_broken_couplers(
    provider: QiskitRestProvider,
) -> None:
    backend = provider.backend("local_heron")
    props = backend.properties()
    assert props is not None
    broken = {frozenset(q) for name, q in props.faulty_gates() if name == "cz"}
    assert broken, "the latest local_heron calibration has broken couplers"
    ghz = QuantumCircuit(14)
    ghz.h(0)
    for i in range(13):
        ghz.cx(i, i + 1)
    ghz.measure_all()
    for level in range(4):
        pm = generate_preset_pass_manager(
            optimization_level=level, backend=backend, seed_transpiler=11
        )
        isa = pm.run(ghz)
        used = {
            frozenset(isa.find_bit(q).index for q in inst.qubits)
            for inst in isa.data
            if inst.operation.name == "cz"
        }
        assert used and used.isdisjoint(broken), level
    # A circuit placed on a broken coupler by hand is refused before anything is sent.
    a, b = sorted(next(iter(broken)))
    bad = QuantumCircuit(backend.num_qubits, 2)
    bad.cz(a, b)
    bad.measure([a, b], [0, 1])
    with pytest.raises(ISAValidationError, match="cz"):
        SamplerV2(backend).run([bad], shots=10)


@pytest.mark.slow
@pytest.mark.service
def test_idle_time_decays_with_the_calibrated_t1(provider: QiskitRestProvider) -> None:
    """docs/local_service.md ("Device noise"): every delay and idle window relaxes with the
    qubit's T1 and T2. After one T1 a qubit prepared in |1> keeps about 37% of it."""
    backend = provider.backend("local_heron")
    target = backend.target
    qubit = 0
    t1 = target.qubit_properties[qubit].t1
    assert t1 is not None and target.dt is not None
    wait = int(t1 / target.dt)
    circuits = []
    for delay in (0, wait):
        qc = QuantumCircuit(backend.num_qubits, 1)
        qc.x(qubit)
        if delay:
            qc.delay(delay, qubit)
        qc.measure(qubit, 0)
        circuits.append(qc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = SamplerV2(backend).run(circuits, shots=4000).result()
    ones = [pub.data.c.get_counts().get("1", 0) / 4000 for pub in result]
    assert ones[0] > 0.9
    # exp(-1) of the excited population survives, read through the readout error (~1%): shot
    # noise is under 0.01, so 0.05 is > 5 sigma
    assert abs(ones[1] - np.exp(-1) * ones[0]) < 0.05
