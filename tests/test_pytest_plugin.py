"""The pytest plugin gives users a running local service and a provider."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.service]

pytest_plugins = ["pytester"]

EXAMPLE = """
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_rest_provider import SamplerV2


def test_bell_offline(local_provider):
    backend = local_provider.backend("local_falcon")
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(bell)
    counts = SamplerV2(backend).run([isa], shots=1000).result()[0].data.meas.get_counts()
    assert counts.get("00", 0) + counts.get("11", 0) > 850


def test_server_details(local_runtime_server):
    assert local_runtime_server.url.startswith("http://127.0.0.1:")
"""


def test_plugin_fixtures_run_a_users_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_code=EXAMPLE)
    # No -p: the pytest11 entry point installed with the package loads the plugin.
    result = pytester.runpytest_subprocess("-q", "--qiskit-rest-workers=1")
    result.assert_outcomes(passed=2)
