"""``QiskitRestProvider`` as a drop-in for qiskit-ibm-runtime's ``QiskitRuntimeService``
(issue #13, item 12): the static account methods with the official parameters and semantics,
``instances()``, ``usage()``, the ``backends()``/``least_busy()`` filters, ``backend()`` and
``jobs()`` with the official parameter order, and the generated migration table.

Service tests talk to the real local service over loopback; the queue-ordering and usage
arithmetic tests use a scripted stand-in service on 127.0.0.1 (tests/scripted_server.py), with
qiskit-ibm-runtime's own ``usage()`` as the oracle.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import stat
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit

from qiskit_rest_provider import QiskitRestProvider, SamplerV2
from qiskit_rest_provider.errors import AccountError, QiskitRestError
from qiskit_rest_provider.server import LocalRuntimeServer

from .scripted_server import ScriptedServer
from .service_helpers import running_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "drop-in-secret-api-key-0123456789"
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/abc123:inst-1::"
EU_CRN = "crn:v1:bluemix:public:quantum-computing:eu-de:a/abc123:inst-2::"
OTHER_CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/abc123:someone-else::"
ENV = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_URL", "QISKIT_IBM_IAM_URL")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No account from the environment, and no accounts file but the test's own."""
    for name in (*ENV, "QISKIT_IBM_CHANNEL", "IAM_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QISKIT_REST_ACCOUNTS_FILE", str(tmp_path / "not-this-one.json"))


def _official() -> Any:
    runtime = pytest.importorskip("qiskit_ibm_runtime")
    return runtime.QiskitRuntimeService


# Static account methods ------------------------------------------------------------------------


@pytest.mark.slow  # imports qiskit-ibm-runtime
@pytest.mark.official
def test_static_account_methods_take_the_official_parameters_in_order() -> None:
    theirs = _official()
    for name in ("save_account", "saved_accounts", "delete_account"):
        assert isinstance(inspect.getattr_static(QiskitRestProvider, name), staticmethod), name
        official = list(inspect.signature(getattr(theirs, name)).parameters)
        ours = [
            p.name
            for p in inspect.signature(getattr(QiskitRestProvider, name)).parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        assert ours == official, name


def test_save_account_with_every_official_keyword(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "sub" / "accounts.json"
    result = QiskitRestProvider.save_account(
        token=KEY,
        url=None,
        instance=CRN,
        channel="ibm_cloud",
        filename=str(path),
        name="work",
        proxies={"urls": {"https": "http://proxy.example:8080"}},
        verify=False,
        overwrite=False,
        set_as_default=True,
        private_endpoint=False,
        region="us-east",
        plans_preference=["open", "premium"],
        tags=["team-a"],
    )
    assert result is None  # as the official method
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["work"]
    assert stored["token"] == KEY and stored["instance"] == CRN
    assert stored["channel"] == "ibm_cloud" and stored["is_default"] is True
    assert stored["proxies"] == {"https": "http://proxy.example:8080"}  # as requests takes them
    assert stored["region"] == "us-east" and stored["plans_preference"] == ["open", "premium"]
    assert stored["tags"] == ["team-a"] and stored["verify"] is False
    listed = QiskitRestProvider.saved_accounts(filename=path)
    assert set(listed) == {"work"}
    assert listed["work"]["token"] == "<hidden>" and listed["work"]["channel"] == "ibm_cloud"
    assert listed["work"]["api_url"] == "https://quantum.cloud.ibm.com/api"
    assert KEY not in json.dumps(listed) and KEY not in caplog.text


def test_overwrite_and_set_as_default(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    save = QiskitRestProvider.save_account
    save(token=KEY, instance=CRN, name="a", filename=path)
    assert QiskitRestProvider.saved_accounts(filename=path)["a"]["is_default"]  # the first one
    before = path.read_bytes()
    with pytest.raises(AccountError, match="overwrite=True"):
        save(token="other-key", instance=EU_CRN, name="a", filename=path)
    assert path.read_bytes() == before  # nothing written
    save(token="other-key", instance=EU_CRN, name="a", filename=path, overwrite=True)
    assert json.loads(path.read_text())["a"]["instance"] == EU_CRN
    save(token=KEY, instance=CRN, name="b", filename=path, set_as_default=True)
    listed = QiskitRestProvider.saved_accounts(filename=path)
    assert {n for n, a in listed.items() if a["is_default"]} == {"b"}
    assert set(QiskitRestProvider.saved_accounts(default=True, filename=path)) == {"b"}
    assert set(QiskitRestProvider.saved_accounts(default=False, filename=path)) == {"a"}
    assert set(QiskitRestProvider.saved_accounts(filename=path, name="a")) == {"a"}
    # Positional calls in the official order: token, url, instance, channel, filename, name.
    save(KEY, "https://cloud.ibm.com", EU_CRN, "ibm_quantum_platform", path, "c")
    entry = json.loads(path.read_text())["c"]
    assert entry["instance"] == EU_CRN and "url" not in entry  # IBM Cloud's root: derived
    listed = QiskitRestProvider.saved_accounts(filename=path, name="c")
    assert listed["c"]["api_url"] == "https://eu-de.quantum.cloud.ibm.com/api"


def test_channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "accounts.json"
    QiskitRestProvider.save_account(token=KEY, instance=CRN, filename=path)
    QiskitRestProvider.save_account(
        token=KEY, instance=CRN, filename=path, channel="ibm_cloud", name="cloud"
    )
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "ibm_cloud")
    QiskitRestProvider.save_account(token=KEY, instance=CRN, filename=path, name="from-env")
    by_channel = {
        channel: set(QiskitRestProvider.saved_accounts(channel=channel, filename=path))
        for channel in ("ibm_cloud", "ibm_quantum_platform")
    }
    assert by_channel == {"ibm_cloud": {"cloud", "from-env"}, "ibm_quantum_platform": {"default"}}
    with pytest.raises(AccountError, match="LocalRuntimeServer"):
        QiskitRestProvider.save_account(token=KEY, instance=CRN, filename=path, channel="local")
    for bad in ("ibm_quantum", "IBM_CLOUD", 0):
        with pytest.raises(AccountError, match="ibm_quantum_platform"):
            QiskitRestProvider.save_account(
                token=KEY,
                instance=CRN,
                filename=path,
                channel=bad,  # type: ignore[arg-type]
                name="x",
            )
    monkeypatch.setenv("QISKIT_IBM_CHANNEL", "nonsense")
    with pytest.raises(AccountError, match="QISKIT_IBM_CHANNEL"):
        QiskitRestProvider.save_account(token=KEY, instance=CRN, filename=path, name="x")
    with pytest.raises(AccountError, match="channel"):
        QiskitRestProvider.saved_accounts(channel="local", filename=path)
    assert "x" not in QiskitRestProvider.saved_accounts(filename=path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"instance": "my-instance-name"}, "not an IBM Cloud CRN"),
        ({"private_endpoint": True}, "private_endpoint"),
        ({"proxies": {"urls": {}, "username_ntlm": "u", "password_ntlm": "p"}}, "NTLM"),
        ({"proxies": {"urls": {"https": 8080}}}, "proxies"),
        ({"region": "mars"}, "region"),
        ({"plans_preference": "open"}, "plans_preference"),
        ({"tags": [1]}, "tags"),
        ({"token": None}, "API key"),
    ],
)
def test_save_account_refuses_clearly(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    path = tmp_path / "accounts.json"
    call = {"token": KEY, "instance": CRN, "filename": path, **arguments}
    with pytest.raises(AccountError, match=message) as info:
        QiskitRestProvider.save_account(**call)
    assert KEY not in str(info.value)
    assert not path.exists()


def test_delete_account(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    QiskitRestProvider.save_account(token=KEY, instance=CRN, filename=path)  # "default"
    QiskitRestProvider.save_account(token=KEY, instance=CRN, filename=path, name="b")
    assert QiskitRestProvider.delete_account(filename=path, name="missing") is False
    # Without a name: the "default" account, only if it is of the channel asked for.
    assert QiskitRestProvider.delete_account(path, None, "ibm_cloud") is False
    assert "default" in QiskitRestProvider.saved_accounts(filename=path)
    assert QiskitRestProvider.delete_account(filename=path, channel="ibm_quantum_platform")
    assert QiskitRestProvider.delete_account(filename=path, name="b", channel="ibm_cloud")
    assert QiskitRestProvider.saved_accounts(filename=path) == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.service
def test_a_saved_account_connects_by_name_and_by_channel(
    server: LocalRuntimeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "accounts.json"
    for name, channel in (("platform", "ibm_quantum_platform"), ("cloud", "ibm_cloud")):
        QiskitRestProvider.save_account(
            token=server.api_key,
            url=server.url,
            instance=server.instance,
            channel=channel,
            filename=path,
            name=name,
            iam_url=server.iam_url,
        )
    with QiskitRestProvider(name="cloud", filename=path) as provider:
        assert provider.channel == "ibm_cloud"
        assert "local_falcon" in {b.name for b in provider.backends()}
        shown = repr(provider) + json.dumps(provider.active_account())
    # The first saved account is the default; channel= picks that channel's default, else
    # (as the official client) any account of that channel.
    with QiskitRestProvider(filename=path) as provider:
        assert provider.active_account()["name"] == "platform"
    with QiskitRestProvider(channel="ibm_cloud", filename=path) as provider:
        assert provider.active_account()["name"] == "cloud"
        assert provider.backend("local_falcon").num_qubits == 7
    with pytest.raises(AccountError, match="LocalRuntimeServer"):
        QiskitRestProvider(channel="local", filename=path)
    assert server.api_key not in shown + caplog.text
    assert server.api_key in path.read_text()  # the accounts file is where the key lives


# instances(), active_instance(), usage() ------------------------------------------------------


@pytest.mark.service
def test_instances_in_the_official_shape(
    provider: QiskitRestProvider, server: LocalRuntimeServer
) -> None:
    # Found through the service's Global Search and Global Catalog subset, once.
    instances = provider.instances()
    assert instances == [
        {
            "crn": server.instance,
            "plan": "open",
            "name": "local-instance",
            "tags": [],
            "pricing_type": "free",
        }
    ]
    sent = provider.transport.stats["requests"]
    assert provider.instances() == instances
    # The keys the official Account.list_instances() gives each instance (its source is read,
    # not imported: importing qiskit-ibm-runtime takes seconds).
    spec = importlib.util.find_spec("qiskit_ibm_runtime")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("qiskit-ibm-runtime is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    source = (package / "accounts" / "account.py").read_text(encoding="utf-8")
    for key in instances[0]:
        assert f'"{key}":' in source, key
    assert provider.active_instance() == server.instance == instances[0]["crn"]
    assert provider.channel == "ibm_quantum_platform" and provider.is_local is False
    assert provider.transport.stats["requests"] == sent  # asked once, then cached


def _official_usage(document: dict[str, Any]) -> dict[str, Any]:
    """qiskit-ibm-runtime's own ``QiskitRuntimeService.usage`` on ``document``."""
    client = SimpleNamespace(cloud_usage=lambda: dict(document))
    return dict(_official().usage(SimpleNamespace(_active_api_client=client)))


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.official
def test_usage_from_the_real_service_matches_the_official_client() -> None:
    with (
        running_server(workers=1, usage_limit_seconds=90) as server,
        server.provider() as provider,
    ):
        raw = dict(provider.client.usage())
        usage = provider.usage()
    assert usage == _official_usage(raw)
    assert usage["usage_remaining_seconds"] == 90 - usage["usage_consumed_seconds"]


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as stand_in:
        yield stand_in


def _stand_in_provider(stand_in: ScriptedServer) -> QiskitRestProvider:
    return QiskitRestProvider(token=KEY, instance=CRN, url=stand_in.url, iam_url=stand_in.url)


_SECONDS = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=1e9, allow_nan=False),
)


@pytest.mark.slow
@pytest.mark.official
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=st.fixed_dictionaries(
        {},
        optional={
            "usage_consumed_seconds": _SECONDS,
            "usage_limit_seconds": _SECONDS,
            "usage_allocation_seconds": _SECONDS,
            "usage_limit_reached": st.booleans(),
        },
    )
)
def test_usage_remaining_is_computed_as_the_official_client_does(
    scripted: ScriptedServer, document: dict[str, Any]
) -> None:
    body = json.dumps({"instance_id": CRN, "plan_id": "p", **document}).encode()
    scripted.script("GET", "/api/v1/instances/usage", (200, {}, body))
    with _stand_in_provider(scripted) as provider:
        ours = provider.usage()
    assert ours == _official_usage(json.loads(body))
    budget = document.get("usage_limit_seconds") or document.get("usage_allocation_seconds")
    assert ("usage_remaining_seconds" in ours) == bool(budget)


@pytest.mark.parametrize(
    "document",
    [
        {"usage_limit_seconds": "100", "usage_consumed_seconds": 5},
        {"usage_limit_seconds": None, "usage_consumed_seconds": 5},
        {"usage_limit_seconds": True, "usage_consumed_seconds": 5},
        {"usage_allocation_seconds": [100], "usage_consumed_seconds": 5},
        {"usage_limit_seconds": 100, "usage_consumed_seconds": "5"},
    ],
)
def test_usage_survives_a_malformed_document(
    scripted: ScriptedServer, document: dict[str, Any]
) -> None:
    scripted.script("GET", "/api/v1/instances/usage", (200, {}, json.dumps(document).encode()))
    with _stand_in_provider(scripted) as provider:
        usage = provider.usage()
    assert "usage_remaining_seconds" not in usage
    assert {k: usage[k] for k in document} == document  # passed on as received


# backends(), backend(), least_busy() -----------------------------------------------------------


@pytest.mark.slow  # fetches every backend's configuration and status
@pytest.mark.service
def test_backends_filters(provider: QiskitRestProvider, server: LocalRuntimeServer) -> None:
    def names(found: list[Any]) -> set[str]:
        return {b.name for b in found}

    everything = names(provider.backends())
    assert {"local_heron", "local_eagle", "local_falcon", "local_simulator"} <= everything
    assert names(provider.backends("local_falcon")) == {"local_falcon"}
    assert names(provider.backends(None, 127)) == {"local_heron", "local_eagle"}
    assert names(provider.backends(min_num_qubits=127, instance=server.instance)) == {
        "local_heron",
        "local_eagle",
    }
    assert names(provider.backends(dynamic_circuits=False)) == everything - names(
        provider.backends(dynamic_circuits=True)
    )
    assert "local_heron" in names(provider.backends(dynamic_circuits=True))
    assert names(provider.backends(simulator=True)) == {"local_simulator"}
    assert names(provider.backends(operational=True)) == everything
    assert names(provider.backends(operational=False)) == set()
    assert names(provider.backends(filters=lambda b: b.num_qubits == 7)) == {"local_falcon"}
    # **kwargs: configuration fields first, then status fields, as Qiskit's filter_backends.
    assert names(provider.backends(n_qubits=7)) == {"local_falcon"}
    assert names(provider.backends(backend_name="local_eagle")) == {"local_eagle"}
    assert names(provider.backends(status_msg="active", simulator=False)) == everything - {
        "local_simulator"
    }
    assert names(provider.backends(pending_jobs=10**6)) == set()
    assert provider.backends(no_such_field=1) == []
    fractional = provider.backends("local_heron", use_fractional_gates=None)
    assert [b.use_fractional_gates for b in fractional] == [True]
    pinned = provider.backends("local_falcon", calibration_id="cal-1")
    assert [b.calibration_id for b in pinned] == ["cal-1"]


@pytest.mark.service
def test_another_instance_is_refused_not_ignored(
    provider: QiskitRestProvider, server: LocalRuntimeServer
) -> None:
    calls = [
        lambda: provider.backends(instance=OTHER_CRN),
        lambda: provider.backend("local_falcon", OTHER_CRN),
        lambda: provider.least_busy(instance=OTHER_CRN),
        lambda: provider.jobs(instance=OTHER_CRN),
    ]
    for call in calls:
        with pytest.raises(AccountError, match="one instance"):
            call()
    # The API key pasted into the instance: refused without showing it.
    for pasted in (server.api_key, f"crn:v1:bluemix:public:x:us-east:a/x:{server.api_key}!::"):
        with pytest.raises(AccountError) as info:
            provider.backends(instance=pasted)
        assert server.api_key not in str(info.value)


@pytest.mark.slow  # builds a 156-qubit Target twice
@pytest.mark.service
def test_backend_takes_the_official_parameters(
    provider: QiskitRestProvider, server: LocalRuntimeServer
) -> None:
    backend = provider.backend("local_heron", server.instance, None, None)
    assert backend.use_fractional_gates is True and "rzz" in backend.target.operation_names
    plain = provider.backend("local_heron", use_fractional_gates=False)
    assert "rzz" not in plain.target.operation_names
    assert provider.backend("local_falcon", calibration_id="c").calibration_id == "c"


@pytest.mark.service
def test_least_busy_on_the_service(provider: QiskitRestProvider) -> None:
    assert not provider.least_busy().simulator
    assert provider.least_busy(127).name in {"local_heron", "local_eagle"}
    assert provider.least_busy(operational=True, n_qubits=7).name == "local_falcon"
    assert provider.least_busy(filters=lambda b: b.name == "local_eagle").name == "local_eagle"
    assert provider.least_busy(simulator=None, n_qubits=32).name == "local_simulator"
    fractional = provider.least_busy(100, None, lambda b: b.name == "local_heron", None)
    assert fractional.use_fractional_gates
    with pytest.raises(QiskitRestError, match="least_busy"):
        provider.least_busy(min_num_qubits=10**6)


def test_least_busy_picks_the_shortest_queue_from_the_listing_alone() -> None:
    def device(name: str, queue: int, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "status": {"name": "online"},
            "qubits": 10,
            "queue_length": queue,
            **extra,
        }

    listing = {
        "devices": [
            device("busy", 5),
            device("quiet", 2),
            device("offline", 0, status={"name": "offline"}),
            device("small", 1, qubits=3),
            device("mock_quiet", 0, **{"class": "mock"}),
            device("simulator", 0, is_simulator=True),
            device("odd", "junk"),  # type: ignore[arg-type]  # a hostile listing: counts as 0
        ]
    }
    body = json.dumps(listing).encode()
    with ScriptedServer() as stand_in, _stand_in_provider(stand_in) as provider:
        stand_in.script("GET", "/api/v1/backends", *[(200, {}, body)] * 6)
        assert provider.least_busy(min_num_qubits=5).name == "odd"
        assert provider.least_busy(5, filters=lambda b: b.name != "odd").name == "quiet"
        assert provider.least_busy(filters=lambda b: b.name != "odd").name == "small"
        assert provider.least_busy(4, simulator=None, filters=lambda b: b.name != "odd").name == (
            "simulator"
        )
        assert "mock_quiet" not in {b.name for b in provider.backends()}
        assert "mock_quiet" in {b.name for b in provider.backends(include_mocks=True)}
        paths = {r["path"] for r in stand_in.requests}
    # Queue, qubits, status and simulator come from the listing: no configuration was fetched.
    assert paths == {"/identity/token", "/api/v1/backends"}


# jobs(), job(), delete_job() -------------------------------------------------------------------


@pytest.mark.slow  # runs a job
@pytest.mark.service
def test_jobs_with_the_official_parameters(
    provider: QiskitRestProvider, server: LocalRuntimeServer
) -> None:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    backend = provider.backend("local_falcon")
    sampler = SamplerV2(backend)
    sampler.options.environment.job_tags = ["drop-in-jobs"]
    job = sampler.run([circuit], shots=10)
    job.result()
    # Positional, in the official order: limit, skip, backend_name, pending, program_id,
    # instance, job_tags.
    found = provider.jobs(
        10, 0, "local_falcon", False, "sampler", server.instance, ["drop-in-jobs"]
    )
    assert isinstance(found, list) and [j.job_id() for j in found] == [job.job_id()]
    lazy = provider.iter_jobs(limit=None, job_tags=["drop-in-jobs"])
    assert not isinstance(lazy, list) and [j.job_id() for j in lazy] == [job.job_id()]
    assert provider.jobs(job_tags=["drop-in-jobs"], include_mocks=False)
    assert provider.job(job.job_id()).job_id() == job.job_id()
    with pytest.raises(ValueError, match="job_tags"):
        provider.jobs(job_tags="drop-in-jobs")  # type: ignore[arg-type]
    # Jobs on mock (dry-run) backends are listed only with include_mocks, as on IBM.
    mock = provider.backend("mock_falcon")
    assert mock.name in {b.name for b in provider.backends(include_mocks=True)}
    measure = QuantumCircuit(1, 1)
    measure.measure(0, 0)
    sampler = SamplerV2(mock)
    sampler.options.environment.job_tags = ["drop-in-mock"]
    dry = sampler.run([measure], shots=10)
    dry.result()
    assert provider.jobs(job_tags=["drop-in-mock"]) == []
    assert [j.job_id() for j in provider.jobs(job_tags=["drop-in-mock"], include_mocks=True)] == [
        dry.job_id()
    ]
    provider.delete_job(dry.job_id())
    provider.delete_job(job.job_id())
    assert provider.jobs(job_tags=["drop-in-jobs"]) == []


# The migration table ---------------------------------------------------------------------------


def _table_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "migration_table", ROOT / "tools" / "migration_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.official
def test_migration_table_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "migration_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.official
def test_migration_table_has_a_row_for_every_official_name_and_a_reason_where_needed() -> None:
    table = _table_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = [(pair, table.rows_for(pair)) for pair in table.PAIRS]
    text = (ROOT / "docs" / "migration.md").read_text()
    section = text.split(table.START, 1)[1].split(table.END, 1)[0]
    for pair, rows in groups:
        official = table.load(pair.theirs)
        expected = {n for n in dir(official) if not n.startswith("_")}
        assert {r.name for r in rows} == expected, pair
        block = section.split(f"### `{pair.their_name}` →", 1)[1].split("###", 1)[0]
        for row in rows:
            assert f"| `{row.name}" in block, (pair.their_name, row.name)
            if row.status != "same":
                assert row.reason is not None and row.reason.text, (pair.their_name, row.name)
    rows = [row for _, group in groups for row in group]
    assert table.problems_with(rows) == []
    # The checks can fail: a missing reason, a stale one and a reason for no name are caught.
    needing = next(r for r in rows if r.status != "same")
    reasons = dict(table.REASONS)
    del reasons[(needing.cls, needing.name)]
    assert any("has no reason" in p for p in table.problems_with(rows, reasons))
    same_row = next(r for r in rows if r.status == "same")
    reasons[(same_row.cls, same_row.name)] = table.absent("stale")
    assert any("its reason says absent" in p for p in table.problems_with(rows, reasons))
    reasons[("IBMBackend", "no_such_name")] = table.absent("none")
    assert any("no_such_name" in p for p in table.problems_with(rows, reasons))


def test_signature_comparison_catches_what_a_caller_would_hit() -> None:
    table = _table_module()

    def theirs(a: int, b: int = 0, *, c: int = 0, **kw: Any) -> None: ...

    def same(a: int, b: int = 0, extra: int = 0, *, c: int = 0, d: int = 1, **kw: Any) -> None: ...

    def swapped(b: int = 0, a: int = 0, *, c: int = 0, **kw: Any) -> None: ...

    def narrow(a: int, b: int, *, c: int = 0) -> None: ...

    def needy(a: int, b: int = 0, *, c: int = 0, must: int, **kw: Any) -> None: ...

    sig = inspect.signature
    assert table.signature_problems(sig(theirs), sig(same)) == []
    assert table.signature_problems(sig(theirs), sig(swapped)) == [
        "`a` is not positional argument 1",
        "`b` is not positional argument 2",
    ]
    assert table.signature_problems(sig(theirs), sig(narrow)) == [
        "`b` is required",
        "no `**kwargs`",
    ]
    assert table.signature_problems(sig(theirs), sig(needy)) == ["requires `must`"]


@pytest.mark.parametrize("instance", [None, "auto"])
def test_an_account_saved_without_instance_discovers_one(
    tmp_path: Path, server: LocalRuntimeServer, instance: str | None
) -> None:
    """As with the official client: save the key (and URL) alone; the provider finds the key's
    instances through the service's Global Search subset and uses one."""
    path = tmp_path / "accounts.json"
    QiskitRestProvider.save_account(
        token=server.api_key,
        url=server.url,
        instance=instance,
        filename=path,
        name="no-instance",
        plans_preference=["open"],
    )
    saved = QiskitRestProvider.saved_accounts(filename=path)["no-instance"]
    assert not saved.get("instance")
    provider = QiskitRestProvider(name="no-instance", filename=path, iam_url=server.iam_url)
    try:
        assert provider.active_instance() == server.instance
        assert provider.backends()
    finally:
        provider.close()
