"""The benchmark suite runs (quick mode) and reports every case; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.official]


def test_benchmarks_quick_mode_reports_every_case(tmp_path: Path) -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    from benchmarks.__main__ import main

    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    groups = {case["group"] for case in report["cases"]}
    assert groups >= {"footprint", "target", "serialize", "decode", "qasm parse", "end to end"}
    for case in report["cases"]:
        # Differences (import overhead) can be 0 on a loaded machine; nothing is negative.
        assert case["ours"]["median"] >= 0
        if case["reference"] is not None:
            assert case["reference"]["median"] >= 0
            assert case["ratio"] is None or case["ratio"] > 0
    table = out.with_suffix(".md").read_text()
    assert table.count("\n|") == len(report["cases"]) + 2  # header, rule, one row per case
