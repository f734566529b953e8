"""The benchmark suite runs (quick mode) and reports every case; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_benchmarks_quick_mode_reports_every_case(tmp_path: Path) -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    from benchmarks.__main__ import main

    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    cases = json.loads(out.read_text())["cases"]
    assert len(cases) == 6
    for case in cases:
        assert case["ours_ms"] > 0 and case["official_ms"] > 0 and case["ratio"] > 0
