"""Every code block of README.md and docs/*.md runs, against the local service.

How the blocks run:

* Fenced ``python`` blocks run in page order, in one namespace per page: a block that is a
  fragment continues the blocks before it on the same page. Each page runs in a temporary
  working directory (files such as ``runtime.db`` land there).
* Examples written for IBM Quantum run against a :class:`LocalRuntimeServer`. The test sets
  ``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_INSTANCE``, ``QISKIT_IBM_URL`` and ``QISKIT_IBM_IAM_URL``
  to the local service and ``QISKIT_REST_ACCOUNTS_FILE`` to a temporary file, replaces the
  placeholders the docs show readers (:data:`PLACEHOLDERS`) by the local API key and instance,
  and IBM device names (:data:`DEVICES`) by the local device of the same family.
* The reference pages in :data:`CONTEXT_PAGES` use, as their text says, a ``provider``, a
  ``backend`` and an ISA circuit ``isa`` as built in docs/getting_started.md; the test builds
  exactly those (:data:`CONTEXT`) before the page's first block.
* A page that defines ``test_*`` functions (examples for the pytest plugin) has them called
  after its blocks, with ``local_provider`` connected to the local service, as the plugin's
  fixture would be.
* ``bash`` blocks: each command either runs (``qiskit-rest serve``: started on a free port,
  asked for ``/api/v1/versions``, stopped) or is skipped with the reason in :data:`NOT_RUN`;
  the test asserts that every skipped command has a reason and every reason is still used.
* Other fences (``text`` synopses, ``{eval-rst}``/``{toctree}`` directives) are not code.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import signal
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from qiskit_rest_provider.server import LocalRuntimeServer

from .serve_process import start_serve
from .service_helpers import running_server

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Fence languages that are code and run (or are skipped with a reason), and those that are not.
RUN_LANGUAGES = frozenset({"python", "bash"})
NOT_CODE = frozenset({"text", "{eval-rst}", "{toctree}"})

#: What the docs show readers → what the test uses (``key``: the local API key, ``instance``:
#: the local instance CRN).
PLACEHOLDERS = {
    '"<IBM Cloud API key>"': "key",
    '"<API key>"': "key",
    '"<CRN>"': "instance",
    '"crn:v1:bluemix:public:quantum-computing:us-east:a/<account id>:<instance id>::"': "instance",
}
#: IBM device names in examples → the local device of the same family.
DEVICES = {'"ibm_fez"': '"local_heron"'}

#: Pages whose examples use ``provider``, ``backend`` and ``isa`` as Getting started builds them.
CONTEXT_PAGES = frozenset({"backends.md", "jobs.md", "options.md", "primitives.md", "sessions.md"})
CONTEXT = """
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_rest_provider import QiskitRestProvider

provider = QiskitRestProvider()
backend = provider.backend("local_heron")
bell = QuantumCircuit(2)
bell.h(0)
bell.cx(0, 1)
bell.measure_all()
isa = generate_preset_pass_manager(optimization_level=2, backend=backend).run(bell)
"""

#: Shell commands the docs show that this test does not run (by prefix), and why.
NOT_RUN = {
    "pip install": "installs packages from PyPI: needs the network and changes the environment",
    "python -m pytest": "the whole test suite, which this test is part of",
    "qiskit-rest demo": "tests/test_cli.py::test_demo_runs_the_main_job runs the demo",
    "python -m benchmarks": "minutes of measurements; tests/test_benchmarks_run.py runs --quick",
}

_PLACEHOLDER_LITERAL = re.compile(r"""["']<[^"'<>\n]+>["']""")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the first line of code
    language: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a markdown page, in order (one pass over its lines)."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    language: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        if language is None:
            if line.startswith("```"):
                language, start, body = line[3:].strip(), number + 1, []
        elif line.strip() == "```":
            found.append(Block(page, start, language, "\n".join(body) + "\n"))
            language = None
        else:
            body.append(line)
    assert language is None, f"{page.name}: unterminated code fence at line {start - 1}"
    return found


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]
PYTHON_PAGES = sorted({b.page for b in ALL_BLOCKS if b.language == "python"})


def _commands(block: Block) -> list[str]:
    """A bash block's commands: comments dropped, ``&&`` chains split."""
    out = []
    for line in block.code.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.extend(part.strip() for part in line.split("&&"))
    return out


BASH_COMMANDS = [
    (block, command)
    for block in ALL_BLOCKS
    if block.language == "bash"
    for command in _commands(block)
]


def _reason(command: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if command.startswith(prefix)), None)


def _substituted(code: str, values: dict[str, str]) -> str:
    for shown, key in PLACEHOLDERS.items():
        code = code.replace(shown, repr(values[key]))
    for shown, local in DEVICES.items():
        code = code.replace(shown, local)
    return code


@pytest.fixture(scope="module")
def service() -> Iterator[LocalRuntimeServer]:
    with running_server(workers=1) as server:
        yield server


@pytest.fixture()
def pointed_at_service(
    service: LocalRuntimeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of an IBM Quantum user, pointed at the local service."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", service.api_key)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", service.instance)
    monkeypatch.setenv("QISKIT_IBM_URL", service.url)
    monkeypatch.setenv("QISKIT_IBM_IAM_URL", service.iam_url)
    monkeypatch.setenv("QISKIT_REST_ACCOUNTS_FILE", str(tmp_path / "accounts.json"))
    return {"key": service.api_key, "instance": service.instance}


def test_every_fence_is_known_and_the_pages_have_code() -> None:
    languages = {b.language for b in ALL_BLOCKS}
    assert languages <= RUN_LANGUAGES | NOT_CODE, languages - RUN_LANGUAGES - NOT_CODE
    assert len([b for b in ALL_BLOCKS if b.language == "python"]) >= 15
    names = {p.name for p in PYTHON_PAGES}
    assert {"README.md", "rest_api.md", "getting_started.md", "testing.md"} <= names
    assert names >= CONTEXT_PAGES


def test_substitutions_are_all_used_and_leave_no_placeholder() -> None:
    code = "".join(b.code for b in ALL_BLOCKS if b.language == "python")
    for shown in [*PLACEHOLDERS, *DEVICES]:
        assert shown in code, f"stale substitution {shown}"
    left = _PLACEHOLDER_LITERAL.findall(_substituted(code, {"key": "k", "instance": "i"}))
    assert left == []


def test_context_pages_say_what_they_assume() -> None:
    for name in CONTEXT_PAGES:
        assert "{doc}`getting_started`" in (ROOT / "docs" / name).read_text(), name


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(
    page: Path, service: LocalRuntimeServer, pointed_at_service: dict[str, str]
) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    output = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(output):
        warnings.simplefilter("ignore")
        if page.name in CONTEXT_PAGES:
            exec(compile(CONTEXT, "<getting started context>", "exec"), namespace)
        for block in (b for b in blocks(page) if b.language == "python"):
            # Padded so that a traceback's line numbers are the page's.
            code = "\n" * (block.line - 1) + _substituted(block.code, pointed_at_service)
            exec(compile(code, str(block.page), "exec"), namespace)
        tests = {k: v for k, v in namespace.items() if k.startswith("test_") and callable(v)}
        provider = service.provider()
        try:
            for test in tests.values():
                test(local_provider=provider)
        finally:
            provider.close()
    assert page.name not in ("README.md", "testing.md") or tests, "the plugin example vanished"


def test_bash_commands_are_run_or_have_a_reason() -> None:
    used = {prefix for _, c in BASH_COMMANDS for prefix in NOT_RUN if c.startswith(prefix)}
    assert used == set(NOT_RUN), f"reasons for commands no page shows: {set(NOT_RUN) - used}"
    runnable = [c for _, c in BASH_COMMANDS if _reason(c) is None]
    assert runnable and all(c.startswith("qiskit-rest serve") for c in runnable), runnable


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.parametrize(
    "command",
    sorted({c for _, c in BASH_COMMANDS}),
)
def test_bash_command(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = _reason(command)
    if reason is not None:
        pytest.skip(reason)
    args = shlex.split(command)
    assert args[:2] == ["qiskit-rest", "serve"], command
    rest = args[2:]
    if "--port" in rest:  # the documented port may be taken here: any free one will do
        at = rest.index("--port")
        del rest[at : at + 2]
    monkeypatch.chdir(tmp_path)
    proc, details = start_serve(*rest)
    try:
        assert details["url"].startswith("http://127.0.0.1:")
        assert details["api_key"] and details["instance"].startswith("crn:v1:")
        answer = requests.get(f"{details['url']}/api/v1/versions", timeout=30)
        assert answer.status_code == 200
        if "--db" in rest:
            assert (tmp_path / rest[rest.index("--db") + 1]).exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.service
def test_local_service_page_says_which_routes_answer_without_a_token(
    service: LocalRuntimeServer,
) -> None:
    """docs/local_service.md names the routes that need no token; the service agrees."""
    text = (ROOT / "docs" / "local_service.md").read_text()
    public = ["/api/v1/versions", "/openapi.json"]
    for path in public:
        shown = path.removeprefix("/api")
        assert f"`{shown}`" in text or f"`GET {shown}`" in text, path
        assert requests.get(service.url + path, timeout=30).status_code == 200, path
    # FastAPI's browsable pages are not served (they load scripts from a CDN), as the page says
    for path in ("/docs", "/redoc"):
        assert f"`{path}`" in text
        assert requests.get(service.url + path, timeout=30).status_code == 404, path
    # Everything else under /v1 needs a token, as the page says.
    assert "Every `/v1` call except `GET /v1/versions` needs a valid bearer token" in " ".join(
        text.split()
    )
    for path in ["/api/v1/backends", "/api/v1/jobs", "/api/v1/backends/local_falcon/status"]:
        assert requests.get(service.url + path, timeout=30).status_code == 401, path
