"""One build of the documentation per test run, shared by the tests that check it.

The build takes tens of seconds, so ``tests/test_docs_build.py`` (the build is clean) and
``tests/test_docs_browser.py`` (the built site looks right) use the same one: the first caller
builds into pytest's session temporary directory, later callers get the cached result.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class DocsBuild:
    """The outcome of ``sphinx-build -W --keep-going -b html docs <html>``."""

    html: Path
    returncode: int
    output: str


_lock = threading.Lock()
_build: DocsBuild | None = None


def build_docs(tmp_path_factory: pytest.TempPathFactory) -> DocsBuild:
    """Build the documentation once per session (warnings are errors) and return the result."""
    global _build
    for module in ("sphinx", "myst_nb", "qiskit_sphinx_theme"):
        pytest.importorskip(module)
    with _lock:
        if _build is None:
            html = tmp_path_factory.mktemp("docs") / "html"
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sphinx",
                    "-W",
                    "--keep-going",
                    "-q",
                    "-b",
                    "html",
                    str(DOCS),
                    str(html),
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            _build = DocsBuild(
                html=html, returncode=result.returncode, output=result.stdout + result.stderr
            )
        return _build


def require_built_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the built HTML directory, failing the test (with Sphinx's output) if it failed."""
    build = build_docs(tmp_path_factory)
    assert build.returncode == 0, build.output
    return build.html
