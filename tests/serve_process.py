"""Run ``qiskit-rest serve`` in a child process and read the connection details it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def start_serve(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``qiskit-rest --json serve --port 0 ARGS`` and return the process and its JSON
    details (url, api_url, iam_url, api_key, instance). The caller stops the process."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qiskit_rest_provider.cli.main",
            "--json",
            "serve",
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while not (lines and lines[-1].startswith("}")):
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            proc.wait(timeout=30)
            raise AssertionError("qiskit-rest serve exited before printing its details")
        lines.append(line)
    return proc, json.loads("".join(lines))
