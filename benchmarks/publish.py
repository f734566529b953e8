"""Publish the benchmark figures into the README and ``docs/performance.md``.

The README's performance claims and the performance page's table are not typed: they are
generated from ``benchmarks/results/latest.json`` (the last full run) between marker comments,

    <!-- bench:NAME -->generated text<!-- /bench:NAME -->

so they cannot drift from the measurements. ``python -m benchmarks`` calls :func:`publish`
after a full run; ``python -m benchmarks.publish`` regenerates both files from the committed
results without measuring anything, and ``--check`` exits with status 1 when a file is out of
date (the test suite checks the same).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LATEST",
    "TARGETS",
    "PublishError",
    "fragments",
    "load",
    "main",
    "publish",
    "render",
    "table",
]

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "results" / "latest.json"
README = ROOT / "README.md"
PERFORMANCE = ROOT / "docs" / "performance.md"

_MARKER = re.compile(
    r"<!-- bench:(?P<name>[a-z_]+) -->(?P<body>.*?)<!-- /bench:(?P=name) -->", re.DOTALL
)


class PublishError(Exception):
    """The results cannot be published (a quick run, a partial run, a missing marker)."""


def load(path: Path = LATEST) -> dict[str, Any]:
    """The results of a full run, as ``python -m benchmarks`` writes them."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PublishError(f"{path} does not exist: run `python -m benchmarks` first") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("cases"), list):
        raise PublishError(f"{path} is not a benchmark report")
    if data.get("meta", {}).get("quick"):
        raise PublishError(f"{path} holds a --quick run; only full runs are published")
    return dict(data)


# Formatting -----------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    """A figure as the table shows it (three significant digits or so)."""
    if value is None:
        return "–"
    if unit == "ms" and value >= 1000:
        return f"{value / 1000:.2f} s"
    precision = 2 if value < 100 else 1 if value < 1000 else 0
    return f"{value:.{precision}f} {unit}"


def _ratio(value: float) -> str:
    """A speed-up in prose: 2.2, 9.3, 10, 29."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _ms(value: float) -> str:
    """A time in milliseconds in prose: 0.59 ms, 4.5 ms, 40 ms."""
    text = f"{value:.2f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{text} ms"


def table(data: Mapping[str, Any]) -> str:
    """The markdown table of a report (also written as ``latest.md``)."""
    meta = data["meta"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs), Python "
        f"{meta['python']}, qiskit {meta['qiskit']}, qiskit-ibm-runtime {meta['ibm_runtime']}"
        f"{' (quick mode)' if meta.get('quick') else ''}.",
        "",
        "| group | case | ours (median / min) | reference (median / min) | ratio | goal | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in data["cases"]:
        unit = c["unit"]
        ours = f"{fmt(c['ours']['median'], unit)} / {fmt(c['ours']['min'], unit)}"
        ref = c["reference"]
        if ref is not None:
            reference = (
                f"{fmt(ref['median'], unit)} / {fmt(ref['min'], unit)} ({c['reference_name']})"
            )
        else:
            reference = "–"
        ratio = f"{c['ratio']:.2f}x" if c.get("ratio") is not None else "–"
        notes = ", ".join(f"{k}={v}" for k, v in c.get("extra", {}).items())
        lines.append(
            f"| {c['group']} | {c['name']} | {ours} | {reference} | {ratio} | {c['goal']} "
            f"| {notes} |"
        )
    return "\n".join(lines) + "\n"


# What the README says -------------------------------------------------------------------------


def _cases(data: Mapping[str, Any], group: str, contains: str = "") -> list[dict[str, Any]]:
    found = [c for c in data["cases"] if c["group"] == group and contains in c["name"]]
    if not found:
        raise PublishError(
            f"the results have no {group!r} case{f' named like {contains!r}' if contains else ''}"
            " (a partial run?): run the full `python -m benchmarks`"
        )
    return found


def _ratios(cases: Sequence[Mapping[str, Any]]) -> list[float]:
    values = [c["ratio"] for c in cases if c.get("ratio") is not None]
    if len(values) != len(cases):
        raise PublishError(f"case {cases[0]['name']!r}: no ratio in the results")
    return values


def _fast(data: Mapping[str, Any]) -> str:
    decode = _ratios(_cases(data, "decode"))
    million = _cases(data, "decode", "1,000,000 shots")[0]
    peak = million["extra"]["peak/arrays"] / million["extra"]["official_peak/arrays"]
    resubmit = _cases(data, "serialize", "re-submitted")[0]
    bell = _cases(data, "end to end", "Bell sampler job")[0]
    return (
        f"Results decode {_ratio(min(decode))}–{_ratio(max(decode))}x faster than the official "
        f"client (sampler results with 1,000,000 shots: {_ratio(million['ratio'])}x, with "
        f"{100 * peak:.0f}% of its peak memory), circuits are sent as OpenQASM 3 (re-submitting "
        f"a VQE ansatz with new values: {_ms(resubmit['ours']['median'])}), and a Bell job on "
        f"the local service completes in {_ms(bell['ours']['median'])} (medians of the last "
        f"full benchmark run, {data['meta']['date'][:10]}; see `docs/performance.md`)."
    )


def _target(data: Mapping[str, Any]) -> str:
    ratios = _ratios(_cases(data, "target"))
    return f"{_ratio(min(ratios))}–{_ratio(max(ratios))}x"


def fragments(data: Mapping[str, Any]) -> dict[str, str]:
    """The text of every README marker, from a report."""
    return {"fast": _fast(data), "target": _target(data)}


def _wrapped(text: str) -> str:
    """A generated sentence inside a README bullet: on its own lines, indented as the bullet."""
    body = textwrap.fill(text, width=99, initial_indent="  ", subsequent_indent="  ")
    return f"\n{body}\n  "


#: File → how each of its markers is rendered from a report.
TARGETS: dict[Path, dict[str, Callable[[Mapping[str, Any]], str]]] = {
    README: {
        "fast": lambda data: _wrapped(_fast(data)),
        "target": _target,
    },
    PERFORMANCE: {"table": lambda data: "\n\n" + table(data) + "\n"},
}


def render(
    text: str, renderers: Mapping[str, Callable[[Mapping[str, Any]], str]], data: Any
) -> str:
    """``text`` with every marker's content regenerated; each renderer's marker must exist."""
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in renderers:
            raise PublishError(f"unknown marker bench:{name}")
        seen.add(name)
        return f"<!-- bench:{name} -->{renderers[name](data)}<!-- /bench:{name} -->"

    out = _MARKER.sub(replace, text)
    missing = set(renderers) - seen
    if missing:
        raise PublishError(f"marker(s) missing: {', '.join(sorted(missing))}")
    return out


def publish(
    results: Path = LATEST,
    *,
    check: bool = False,
    targets: Mapping[Path, Mapping[str, Callable[[Mapping[str, Any]], str]]] | None = None,
) -> list[Path]:
    """Regenerate the marked parts of the README and the performance page from ``results``.

    Returns the files that were (with ``check``: that would be) changed.
    """
    data = load(results)
    updates = {}
    # Everything is rendered before anything is written: an error leaves every file as it was.
    for path, renderers in (TARGETS if targets is None else targets).items():
        text = path.read_text()
        new = render(text, renderers, data)
        if new != text:
            updates[path] = new
    if not check:
        for path, new in updates.items():
            path.write_text(new)
    return list(updates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish", description=__doc__)
    parser.add_argument("--results", type=Path, default=LATEST, help="the report to publish")
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    try:
        changed = publish(args.results, check=args.check)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        verb = "out of date" if args.check else "updated"
        print(f"{path.relative_to(ROOT)}: {verb}", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
