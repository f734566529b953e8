"""Benchmarks: qiskit-rest-provider side by side with the official qiskit-ibm-runtime client.

``python -m benchmarks`` runs every case, writes ``benchmarks/results/latest.json`` and
``latest.md``, and regenerates the figures of the README and ``docs/performance.md`` from them
(:mod:`benchmarks.publish`); ``--quick`` is the small, fast variant CI runs (``quick.json``);
``--only decode,target`` picks groups (``partial.json``). Only a full run is published.

Each case runs our code and the reference on the same input in the same run, interleaved,
several times, and reports min and median, the ratio of the medians (above 1: ours is better)
and peak memory where it matters. Needs the test extras
(``pip install -e ".[test]"``), which bring the official client as the reference.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from . import (
    bench_decode,
    bench_footprint,
    bench_qasm_parse,
    bench_serialize,
    bench_service,
    bench_target,
)
from .harness import Case, markdown
from .publish import PublishError, publish

GROUPS = {
    "footprint": bench_footprint.run,
    "target": bench_target.run,
    "serialize": bench_serialize.run,
    "decode": bench_decode.run,
    "qasm": bench_qasm_parse.run,
    "service": bench_service.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


def _meta(quick: bool) -> dict[str, Any]:
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()} ({platform.processor() or '?'})",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "qiskit": metadata.version("qiskit"),
        "ibm_runtime": metadata.version("qiskit-ibm-runtime"),
        "quick": quick,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small inputs, few repetitions")
    parser.add_argument("--only", help=f"comma-separated groups of: {', '.join(GROUPS)}")
    parser.add_argument("--json", type=Path, help="where to write the JSON report")
    parser.add_argument("--markdown", type=Path, help="where to write the markdown table")
    args = parser.parse_args(argv)
    groups = list(GROUPS) if not args.only else [g.strip() for g in args.only.split(",")]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    cases: list[Case] = []
    for group in groups:
        start = time.perf_counter()
        found = GROUPS[group](args.quick)
        cases.extend(found)
        print(
            f"[{group}: {len(found)} case(s) in {time.perf_counter() - start:.1f} s]",
            file=sys.stderr,
        )
    meta = _meta(args.quick)
    table = markdown(cases, meta)
    print(table)
    full = not args.quick and not args.only
    default = "quick.json" if args.quick else "partial.json" if args.only else "latest.json"
    json_path = args.json or RESULTS / default
    md_path = args.markdown or json_path.with_suffix(".md")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps(
            {"meta": meta, "cases": [{**asdict(c), "ratio": c.ratio} for c in cases]}, indent=2
        )
    )
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(table)
    if full and args.json is None:
        # The README's and docs' figures come from this file, never typed by hand.
        try:
            for path in publish(json_path):
                print(f"[updated {path.name} from {json_path.name}]", file=sys.stderr)
        except PublishError as exc:
            print(f"[not published: {exc}]", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
