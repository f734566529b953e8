"""Several instances in one service (LocalRuntimeServer(instances=...)): the official client and
ours discover them with no instance given, each instance sees only its own backends, and the
default service is one instance as before."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest
import requests

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.api.errors import NotFoundError
from qiskit_rest_provider.errors import AccountError
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.instances import STANDARD_PLANS, InstanceSpec, instance_crn

runtime = pytest.importorskip("qiskit_ibm_runtime")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.service,
    pytest.mark.official,
    pytest.mark.usefixtures("only_official_client_arguments"),
]
KEY = "wired-key"
OPEN = InstanceSpec(instance_crn(), "open-instance", STANDARD_PLANS["open"], ("local_falcon",))
PREMIUM = InstanceSpec(
    instance_crn("eu-de"),
    "premium-instance",
    STANDARD_PLANS["premium"],
    ("local_heron", "local_falcon"),
    120.0,
)


@pytest.fixture(scope="module")
def two_instances() -> Iterator[LocalRuntimeServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = LocalRuntimeServer(api_key=KEY, instances=[OPEN, PREMIUM], workers=0).start()
    s.service.add_api_key("no-instances", [])
    yield s
    s.stop()


def test_official_without_switches(two_instances: LocalRuntimeServer) -> None:
    logging.getLogger("qiskit_ibm_runtime").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svc = runtime.QiskitRuntimeService(**two_instances.official_client_options())
        assert {i["plan"] for i in svc.instances()} == {"open", "premium"}
        assert {b.name for b in svc.backends()} == {"local_falcon", "local_heron"}
        assert svc.least_busy(min_num_qubits=100).name == "local_heron"
        assert {b.name for b in svc.backends(include_mocks=True)} >= {"mock_falcon", "mock_heron"}
        assert svc.backend("local_heron").target is not None  # the premium instance's device
        usage = svc.usage()
    assert "usage_consumed_seconds" in usage


def test_ours_without_instance(two_instances: LocalRuntimeServer) -> None:
    provider = QiskitRestProvider(token=KEY, url=two_instances.url, iam_url=two_instances.iam_url)
    assert provider.active_instance() == OPEN.crn
    assert [b.name for b in provider.backends()] == ["local_falcon"]
    assert [i["plan"] for i in provider.instances()] == ["open", "premium"]
    premium = QiskitRestProvider(
        token=KEY,
        url=two_instances.url,
        iam_url=two_instances.iam_url,
        plans_preference=["premium"],
    )
    assert premium.active_instance() == PREMIUM.crn
    assert [b.name for b in premium.backends()] == ["local_heron", "local_falcon"]
    # Another instance's device is unknown to this one.
    with pytest.raises(NotFoundError):
        provider.get_backend("local_heron")
    with pytest.raises(AccountError, match="cannot use any"):
        QiskitRestProvider(
            token="no-instances", url=two_instances.url, iam_url=two_instances.iam_url
        )
    assert premium.usage().get("usage_limit_seconds") == 120.0


def test_jobs_and_sessions_refuse_another_instance_s_backend(
    two_instances: LocalRuntimeServer,
) -> None:
    token = requests.post(
        f"{two_instances.url}/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": KEY},
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Service-CRN": OPEN.crn}
    job = requests.post(
        f"{two_instances.url}/api/v1/jobs",
        headers=headers,
        json={"program_id": "sampler", "backend": "local_heron", "params": {"pubs": []}},
        timeout=10,
    )
    assert job.status_code == 404, job.text
    session = requests.post(
        f"{two_instances.url}/api/v1/sessions",
        headers=headers,
        json={"mode": "batch", "backend": "local_heron"},
        timeout=10,
    )
    assert session.status_code == 404, session.text
    for path in ("configuration", "properties", "status"):
        assert (
            requests.get(
                f"{two_instances.url}/api/v1/backends/local_heron/{path}",
                headers=headers,
                timeout=10,
            ).status_code
            == 404
        )


def test_default_server_is_one_instance_as_before() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with LocalRuntimeServer(workers=0) as s:
            p = s.provider()
            names = [b.name for b in p.backends()]
            assert "local_heron" in names and not any(n.startswith("mock_") for n in names)
            assert s.instances == [s.instance]
            ours = QiskitRestProvider(token=s.api_key, url=s.url, iam_url=s.iam_url)
            assert ours.active_instance() == s.instance
            assert ours.instances()[0]["plan"] == "open"
