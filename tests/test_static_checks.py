"""The package stays lint-clean (ruff), type-clean (mypy --strict, as configured) and layered.

The layers are import-linter contracts in ``pyproject.toml`` (``[tool.importlinter]``): the
protocol vocabulary (``wire``) uses the standard library only, ``api`` loads no Qiskit or numpy,
the server and the client never import each other. The tests below run the checker, prove that
it fails when a forbidden import is added, and check at run time that the light imports stay
light.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "qiskit_rest_provider"

#: The client modules (not yet a subpackage): the server must not load them.
#: What the Qiskit-free layers must never load.
HEAVY = ("qiskit", "numpy", "qiskit_aer", "fastapi", "starlette", "uvicorn")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _lint_imports(*args: str, cwd: Path, pythonpath: Path | None = None) -> tuple[int, str]:
    """Run import-linter's ``lint-imports`` command; ``(exit code, output)``."""
    env = {**os.environ, "COLUMNS": "500"}  # the report's lines unwrapped
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; "
            "sys.exit(c(prog_name='lint-imports'))",
            "--no-cache",
            "--no-logo",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def test_ruff_lint_and_format() -> None:
    pytest.importorskip("ruff")
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict_on_the_package() -> None:
    pytest.importorskip("mypy")
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_name_has_a_docstring() -> None:
    """interrogate at 100% on the package ([tool.interrogate] in pyproject.toml)."""
    pytest.importorskip("interrogate")
    result = _run("interrogate", "qiskit_rest_provider")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_refuses_private_access_and_overgrown_functions(tmp_path: Path) -> None:
    """The rules that keep modules out of each other's private names (SLF001) and cap function
    size (C901, PLR0912, PLR0915) are on: a sample breaking each is refused."""
    pytest.importorskip("ruff")
    branches = "\n".join(f"    if x == {i}:\n        y += {i}" for i in range(40))
    sample = tmp_path / "qiskit_rest_provider" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(
        "def peek(other: object) -> object:\n    return other._secret\n\n\n"
        f"def grown(x: int) -> int:\n    y = 0\n{branches}\n    return y\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--config",
            str(ROOT / "pyproject.toml"),
            str(sample),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    for rule in ("SLF001", "C901", "PLR0912"):
        assert rule in result.stdout, result.stdout


# Import contracts -----------------------------------------------------------------------------


def test_import_contracts_hold() -> None:
    pytest.importorskip("importlinter")
    code, output = _lint_imports(cwd=ROOT)
    assert code == 0, output
    assert "0 broken" in output, output


def _copy_with_import(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its import contracts with ``line`` added to ``module``."""
    shutil.copytree(
        ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / PACKAGE / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "contract", "violation"),
    [
        ("wire.constants", "import numpy", "wire", "wire.constants -> numpy"),
        ("errors", "import requests", "wire", "{p}.errors -> requests"),
        ("wire.times", "from ..api import errors", "layers", "wire.times -> {p}.api.errors"),
        ("api.client", "import qiskit", "api", "api.client -> qiskit"),
        ("api.client", "from ..core import isa", "layers", "api.client -> {p}.core.isa"),
        ("core.isa", "import requests", "core", "core.isa -> requests"),
        ("server.workers", "from ..client import job", "layers", "workers -> {p}.client.job"),
        ("client.job", "from ..server import store", "layers", "job -> {p}.server.store"),
        ("client.job", "import fastapi", "client", "client.job -> fastapi"),
        ("core.codec.ndarray", "from ...client import provider", "layers", "ndarray -> {p}.cl"),
        ("client.context", "from . import provider", "acyclic", "No cycles are allowed in {p}.cl"),
        ("api.errors", "from . import transport", "acyclic", "No cycles are allowed in {p}.api"),
    ],
)
def test_import_contracts_fail_on_a_forbidden_import(
    tmp_path: Path, module: str, line: str, contract: str, violation: str
) -> None:
    """The checker is wired in: one forbidden import in a copy of the package breaks the
    contract that forbids it (and the copy, not the installed package, is what is checked)."""
    pytest.importorskip("importlinter")
    copy = _copy_with_import(tmp_path, module, line)
    code, output = _lint_imports("--contract", contract, cwd=copy, pythonpath=copy)
    assert code != 0, output
    assert "BROKEN" in output and "1 broken" in output, output
    assert violation.format(p=PACKAGE) in output, output


# What imports load ----------------------------------------------------------------------------


def _loaded_by(statement: str) -> dict[str, list[str]]:
    """Modules loaded by ``statement`` in a fresh interpreter: ``{"new": [...], "stdlib":
    [...]}`` (``new`` excludes what the bare interpreter had already loaded)."""
    code = textwrap.dedent(
        f"""
        import json, sys
        before = set(sys.modules)
        {statement}
        print(json.dumps({{"new": sorted(set(sys.modules) - before),
                           "stdlib": sorted(sys.stdlib_module_names)}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def _tops(modules: list[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    "statement",
    [
        f"import {PACKAGE}",
        f"import {PACKAGE}.api",
        f"import {PACKAGE}.wire",
        f"import {PACKAGE}.wire.constants, {PACKAGE}.wire.error_body",
        f"import {PACKAGE}.wire.jwt, {PACKAGE}.wire.times, {PACKAGE}.wire.options",
        f"from {PACKAGE}.api import RuntimeRestClient, IAMAuthenticator",
        f"import {PACKAGE}.api.submission",
        f"import {PACKAGE}.errors",
    ],
)
def test_light_imports_load_no_qiskit_or_numpy(statement: str) -> None:
    loaded = _loaded_by(statement)["new"]
    assert not _tops(loaded) & set(HEAVY), sorted(m for m in loaded if m.split(".")[0] in HEAVY)


def test_the_wire_package_loads_only_the_standard_library() -> None:
    loaded = _loaded_by(
        f"import {PACKAGE}.wire.constants, {PACKAGE}.wire.error_body, "
        f"{PACKAGE}.wire.jwt, {PACKAGE}.wire.times, {PACKAGE}.wire.options"
    )
    stdlib = set(loaded["stdlib"])
    foreign = [
        name
        for name in loaded["new"]
        if name.split(".")[0] not in stdlib
        and name not in (PACKAGE, f"{PACKAGE}._moved")  # the root and its stdlib-only hook
        and not name.startswith(f"{PACKAGE}.wire")
    ]
    assert not foreign, foreign


def test_the_wire_package_imports_only_the_standard_library_statically() -> None:
    """Every import statement in ``wire`` (function-level and TYPE_CHECKING ones included)
    names the standard library or ``wire`` itself: the contract's list of forbidden packages
    cannot miss a new dependency."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)
    wire = graph.find_descendants(f"{PACKAGE}.wire") | {f"{PACKAGE}.wire"}
    outside = {
        (module, imported)
        for module in wire
        for imported in graph.find_modules_directly_imported_by(module)
        if imported not in wire and imported.split(".")[0] not in sys.stdlib_module_names
    }
    assert not outside, sorted(outside)


def test_the_server_workers_load_no_client_module() -> None:
    loaded = _loaded_by(f"import {PACKAGE}.server.workers")["new"]
    client = [
        name for name in loaded if name.startswith((f"{PACKAGE}.client", f"{PACKAGE}.testing"))
    ]
    assert not client, client
    assert not _tops(loaded) & set(HEAVY), sorted(_tops(loaded) & set(HEAVY))


def test_the_package_root_exports_every_public_name_lazily() -> None:
    """``from qiskit_rest_provider import X`` works for every name of ``__all__`` (loading it on
    first use), ``dir()`` lists them, and an unknown name is an ``AttributeError``."""
    statement = textwrap.dedent(
        f"""
        import sys
        import {PACKAGE} as root
        assert "qiskit" not in sys.modules, "the root imported qiskit eagerly"
        values = {{name: getattr(root, name) for name in root.__all__}}
        assert all(value is not None for value in values.values())
        assert set(root.__all__) <= set(dir(root))
        from {PACKAGE} import QiskitRestProvider, SamplerV2, EstimatorV2, Session, Batch
        from {PACKAGE}.client.provider import QiskitRestProvider as defined
        assert QiskitRestProvider is defined
        try:
            root.NoSuchName
        except AttributeError:
            pass
        else:
            raise AssertionError("unknown names must raise AttributeError")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", statement], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
