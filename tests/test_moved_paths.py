"""The module paths that moved in the layered layout keep working for one release: each old
path is the very module at its new place, and importing it warns with the new path."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from qiskit_rest_provider import _moved
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.testing import FaultConfig, FaultyRuntimeServer

PACKAGE = "qiskit_rest_provider"

#: Every documented old path (docs/api.md before the move, README, tutorials), and a
#: submodule of a moved package.
OLD_PATHS = [
    "exceptions",
    "codec",
    "codec.results",
    "codec.qasm3",
    "codec.pubs",
    "codec.ndarray",
    "codec.qasm3.reader",
    "configuration",
    "properties",
    "target",
    "rzz",
    "isa",
    "execution_span",
    "provider",
    "backend",
    "backend_run",
    "job",
    "session",
    "submission",
    "primitives",
    "primitives.estimator",
    "primitives.options",
    "primitives.circuit_cache",
    "pytest_plugin",
    "server.faults",
]


@pytest.mark.slow
@pytest.mark.parametrize("old", OLD_PATHS)
def test_an_old_path_is_the_new_module_and_warns(old: str) -> None:
    new = _moved.new_name(f"{PACKAGE}.{old}")
    assert new is not None and new != f"{PACKAGE}.{old}"
    # A fresh interpreter: the first import of the old path is the one that warns.
    code = textwrap.dedent(
        f"""
        import importlib, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = importlib.import_module("{PACKAGE}.{old}")
        new = importlib.import_module("{new}")
        assert old is new, (old, new)
        assert new.__spec__.name == "{new}", new.__spec__.name
        messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
        assert any("{new}" in m and "0.3" in m for m in messages), messages
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_from_imports_of_documented_names_keep_working() -> None:
    code = textwrap.dedent(
        f"""
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        from {PACKAGE}.codec.results import decode_result
        from {PACKAGE}.codec.qasm3 import dumps_isa, loads_isa
        from {PACKAGE}.isa import find_isa_problem
        from {PACKAGE}.exceptions import ResultDecodeError, QiskitRestError
        from {PACKAGE}.primitives.estimator import map_observables
        from {PACKAGE}.submission import submit_job
        from {PACKAGE}.backend import BackendStatus
        from {PACKAGE}.server.faults import FaultConfig
        from {PACKAGE} import errors, RestBackend
        from {PACKAGE}.core.codec.results import decode_result as new_decode
        assert decode_result is new_decode
        assert ResultDecodeError is errors.ResultDecodeError
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unmoved_and_unknown_names_are_not_intercepted() -> None:
    assert _moved.new_name(f"{PACKAGE}.server.workers") is None
    assert _moved.new_name(f"{PACKAGE}.jobs") is None  # a prefix match needs a dot
    assert _moved.new_name("qiskit.providers") is None
    with pytest.raises(ModuleNotFoundError):
        __import__(f"{PACKAGE}.no_such_module")


def test_local_runtime_server_with_faults_is_deprecated_and_builds_the_kit_server() -> None:
    config = FaultConfig.uniform(0.1, seed=1)
    with pytest.warns(DeprecationWarning, match="FaultyRuntimeServer"):
        server = LocalRuntimeServer(faults=config, workers=1)
    assert isinstance(server, FaultyRuntimeServer) and server.faults is config
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = LocalRuntimeServer(workers=1)  # no warning without faults
    assert type(plain) is LocalRuntimeServer
