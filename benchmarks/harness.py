"""Timing, memory and reporting shared by every benchmark."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Case", "Figure", "interleaved", "markdown", "peak_bytes", "single"]


@dataclass
class Figure:
    """One side of a comparison: minimum and median over ``runs`` (or a single value)."""

    min: float
    median: float
    runs: int

    @classmethod
    def value(cls, value: float) -> Figure:
        return cls(value, value, 1)


@dataclass
class Case:
    group: str
    name: str
    ours: Figure
    reference: Figure | None
    goal: str = ""
    unit: str = "ms"
    reference_name: str = "qiskit-ibm-runtime"
    higher_is_better: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times better we are (> 1: ours wins), from the medians."""
        if self.reference is None or not self.ours.median or not self.reference.median:
            return None
        if self.higher_is_better:
            return self.ours.median / self.reference.median
        return self.reference.median / self.ours.median


def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def single(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> Figure:
    for _ in range(warmup):
        fn()
    times = [_timed(fn) for _ in range(repeat)]
    return Figure(min(times), statistics.median(times), repeat)


def interleaved(
    ours: Callable[[], Any],
    reference: Callable[[], Any],
    repeat: int,
    *,
    reference_repeat: int | None = None,
    warmup: int = 1,
) -> tuple[Figure, Figure]:
    """Run both sides alternately (so drift and noise hit both alike)."""
    for _ in range(warmup):
        ours()
        reference()
    ref_repeat = repeat if reference_repeat is None else reference_repeat
    a: list[float] = []
    b: list[float] = []
    for i in range(max(repeat, ref_repeat)):
        if i < repeat:
            a.append(_timed(ours))
        if i < ref_repeat:
            b.append(_timed(reference))
    return (
        Figure(min(a), statistics.median(a), len(a)),
        Figure(min(b), statistics.median(b), len(b)),
    )


def peak_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak Python-tracked allocation while ``fn`` runs, and its return value."""
    gc.collect()
    tracemalloc.start()
    try:
        value = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, value


def markdown(cases: list[Case], meta: dict[str, Any]) -> str:
    """The results table; the same formatter renders it into ``docs/performance.md``."""
    from .publish import table

    return table({"meta": meta, "cases": [{**asdict(c), "ratio": c.ratio} for c in cases]})
