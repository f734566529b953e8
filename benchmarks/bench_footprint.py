"""Import time and installed footprint."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata

from .harness import Case, Figure

__all__ = ["run"]


def _import_seconds(code: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        # Bytecode caching on, as for a user; the lazy package root makes a bare import free, so
        # the import that counts is the first name a user takes from it.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return times


def _closure(name: str) -> set[str]:
    """Distributions ``name`` needs at run time (no extras), by normalised name."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if current in seen:
            continue
        try:
            dist = metadata.distribution(current)
        except metadata.PackageNotFoundError:
            continue
        seen.add(current)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            match = re.match(r"\s*([A-Za-z0-9_.\-]+)", req)
            if match:
                todo.append(match.group(1))
    return seen


def _size_mb(names: set[str]) -> float:
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            total += file.size or 0
    return total / 1e6


def run(quick: bool) -> list[Case]:
    repeat = 3 if quick else 7
    base: list[float] = []
    ours: list[float] = []
    ref: list[float] = []
    ours_code = "import qiskit; from qiskit_rest_provider import QiskitRestProvider"
    ref_code = "import qiskit; from qiskit_ibm_runtime import QiskitRuntimeService"
    for _ in range(repeat):  # interleaved
        base += _import_seconds("import qiskit", 1)
        ours += _import_seconds(ours_code, 1)
        ref += _import_seconds(ref_code, 1)
    qiskit_s = statistics.median(base)
    ours_over = [max(t - qiskit_s, 0.0) for t in ours]
    ref_over = [max(t - qiskit_s, 0.0) for t in ref]
    cases = [
        Case(
            "footprint",
            "import overhead over `import qiskit`",
            Figure(min(ours_over) * 1e3, statistics.median(ours_over) * 1e3, repeat),
            Figure(min(ref_over) * 1e3, statistics.median(ref_over) * 1e3, repeat),
            "<= 150 ms (official: 1.1-1.5 s)",
            extra={"import_qiskit_ms": round(qiskit_s * 1e3)},
        )
    ]
    qiskit_deps = _closure("qiskit")
    ours_deps = _closure("qiskit-rest-provider") - qiskit_deps
    ref_deps = _closure("qiskit-ibm-runtime") - qiskit_deps
    cases.append(
        Case(
            "footprint",
            "installed size beyond qiskit's own dependencies",
            Figure.value(_size_mb(ours_deps)),
            Figure.value(_size_mb(ref_deps)),
            "smaller",
            unit="MB",
            extra={"our_extra_distributions": len(ours_deps), "official": len(ref_deps)},
        )
    )
    return cases
