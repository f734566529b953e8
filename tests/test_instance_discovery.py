"""Instance discovery (IBM Cloud Global Search and Global Catalog) and mock backends, over real
loopback HTTP: the official client given an API key and no instance finds the account's
instances, lists their plans, uses each instance's backends and picks the least busy one
across them, with nothing but documented options (``url``, ``proxies``, ``verify``); our
client's discovery does the same; a key without instances fails clearly; ``mock_*`` twins
are listed with ``include_mocks`` and run dry-run jobs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.api import NotFoundError
from qiskit_rest_provider.api.auth import IAMAuthenticator
from qiskit_rest_provider.api.discovery import (
    DiscoveredInstance,
    choose_instance,
    list_instances,
    order_instances,
    platform_urls,
)
from qiskit_rest_provider.api.transport import make_session
from qiskit_rest_provider.errors import AccountError, AuthenticationError
from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.cloud import parse_search_query
from qiskit_rest_provider.server.devices import mock_name
from qiskit_rest_provider.server.errors import ServiceError
from qiskit_rest_provider.server.instances import (
    STANDARD_PLANS,
    Instances,
    InstanceSpec,
    Plan,
    instance_crn,
    parse_instances,
)

pytestmark = [pytest.mark.service, pytest.mark.usefixtures("only_official_client_arguments")]

KEY = "discovery-key-with-three-instances"
KEY_NONE = "discovery-key-of-an-account-without-instances"
KEY_PREMIUM = "discovery-key-of-the-premium-instance-only"
GRANT = "urn:ibm:params:oauth:grant-type:apikey"

OPEN = InstanceSpec(
    instance_crn("us-east"), "open-instance", STANDARD_PLANS["open"], ("local_falcon",)
)
PREMIUM = InstanceSpec(
    instance_crn("eu-de"),
    "premium-instance",
    STANDARD_PLANS["premium"],
    ("local_heron", "local_eagle", "local_falcon"),
    tags=("team-a",),
)
EMPTY = InstanceSpec(instance_crn("us-east"), "no-allocation", STANDARD_PLANS["flex"], ())


class Service:
    """The local service with three instances (and the mock twins and the proxy it runs)."""

    def __init__(self) -> None:
        self.server = LocalRuntimeServer(
            api_key=KEY, instances=[OPEN, PREMIUM, EMPTY], workers=0
        ).start()
        self.service = self.server.service
        self.service.add_api_key(KEY_NONE, [])
        self.service.add_api_key(KEY_PREMIUM, [PREMIUM.crn])
        self.catalog = self.service._catalog
        proxy = self.server.cloud_proxy
        assert proxy is not None
        self.proxy = proxy
        self.port = self.server.port

    @property
    def url(self) -> str:
        """The service's URL."""
        return self.server.url

    def stop(self) -> None:
        """Stop the service and its proxy."""
        self.server.stop()

    def token(self, key: str = KEY) -> str:
        """A bearer token for ``key``."""
        answer = requests.post(
            f"{self.url}/identity/token", data={"grant_type": GRANT, "apikey": key}, timeout=10
        )
        return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def local() -> Iterator[Service]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        service = Service()
    try:
        yield service
    finally:
        service.stop()


runtime = pytest.importorskip("qiskit_ibm_runtime")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The official client warns about the account it loads and the instance it picks, and
    urllib3 about the unverified TLS of the proxy's IAM tunnel: expected here."""
    logger = logging.getLogger("qiskit_ibm_runtime")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def official(local: Service, key: str = KEY, **kwargs: Any) -> Any:
    """``QiskitRuntimeService`` with no instance and only documented options: the service's
    URL, its proxy for both schemes, and ``verify=False`` for the proxy's IAM tunnel."""
    proxies = {"urls": {"http": local.proxy.url, "https": local.proxy.url}}
    with _quiet():
        return runtime.QiskitRuntimeService(
            channel="ibm_cloud", token=key, url=local.url, proxies=proxies, verify=False, **kwargs
        )


@pytest.fixture(scope="module")
def theirs(local: Service) -> Any:
    """The official client on the service, with no instance (one for the module: building one
    takes a dozen requests)."""
    return official(local)


# The official client ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.official
def test_official_client_lists_every_instance_with_its_plan(local: Service, theirs: Any) -> None:
    service = theirs
    listed = {i["crn"]: i for i in service.instances()}
    # The instance without a backend allocation is left out, as IBM's client leaves it out.
    assert set(listed) == {OPEN.crn, PREMIUM.crn}
    assert listed[OPEN.crn] == {
        "crn": OPEN.crn,
        "plan": "open",
        "name": "open-instance",
        "tags": [],
        "pricing_type": "free",
    }
    assert listed[PREMIUM.crn]["plan"] == "premium"
    assert listed[PREMIUM.crn]["pricing_type"] == "subscription"
    assert listed[PREMIUM.crn]["tags"] == ["team-a"]


@pytest.mark.slow
@pytest.mark.official
def test_official_client_uses_each_instance_s_backends(local: Service, theirs: Any) -> None:
    service = theirs
    with _quiet():
        backends = {b.name: b for b in service.backends()}
        assert set(backends) == {"local_falcon", "local_heron", "local_eagle"}
        # The free plan is preferred: the backend both instances have comes from "open".
        assert backends["local_falcon"]._instance == OPEN.crn
        assert backends["local_heron"]._instance == PREMIUM.crn
        assert {b.name for b in service.backends(instance=OPEN.crn)} == {"local_falcon"}
        # With a plan preference, only that plan's instance is used.
        premium = official(local, plans_preference=["premium"])
        assert {b.name for b in premium.backends()} == {
            "local_heron",
            "local_eagle",
            "local_falcon",
        }
        assert all(b._instance == PREMIUM.crn for b in premium.backends())
        eu = official(local, region="eu-de")
        assert {b._instance for b in eu.backends()} == {PREMIUM.crn}


@pytest.mark.slow
@pytest.mark.official
def test_official_client_runs_a_job_on_the_instance_it_found(local: Service, theirs: Any) -> None:
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    service = theirs
    with _quiet():
        backend = service.backend("local_falcon")
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(bell)
        job = runtime.SamplerV2(mode=backend).run([isa], shots=100)
        counts = job.result()[0].data.meas.get_counts()
    assert sum(counts.values()) == 100
    assert local.service.get_job(OPEN.crn, job.job_id())["instance"] == OPEN.crn


@pytest.mark.slow
@pytest.mark.official
def test_official_least_busy_looks_across_instances(local: Service, theirs: Any) -> None:
    service = theirs
    with _quiet():
        # Only the premium instance has devices this large.
        big = service.least_busy(min_num_qubits=100)
        assert big.name in ("local_heron", "local_eagle")
        assert big._instance == PREMIUM.crn
        # Once it is paused, the other one is chosen: the candidates span both instances.
        device = local.catalog.devices[big.name]
        device.status = "paused"
        try:
            other = service.least_busy(min_num_qubits=100)
        finally:
            device.status = "online"
        assert other.name != big.name and other.name in ("local_heron", "local_eagle")
        assert not service.least_busy().name.startswith("mock_")


@pytest.mark.slow
@pytest.mark.official
def test_official_client_with_a_key_without_instances_fails_clearly(local: Service) -> None:
    with pytest.raises(runtime.exceptions.IBMInputValueError, match="No matching instances"):
        official(local, key=KEY_NONE)
    with pytest.raises(runtime.accounts.InvalidAccountError, match="Unable to retrieve instances"):
        official(local, key="not-a-key-this-service-knows")


@pytest.mark.slow
@pytest.mark.official
def test_official_client_given_an_instance_needs_no_switch(local: Service) -> None:
    # With an instance too, the official client checks it through Global Search.
    service = official(local, key=KEY_PREMIUM, instance=PREMIUM.crn)
    with _quiet():
        assert {b.name for b in service.backends()} == {
            "local_heron",
            "local_eagle",
            "local_falcon",
        }
    with pytest.raises(runtime.exceptions.IBMInputValueError, match="does not have access"):
        official(local, key=KEY_PREMIUM, instance=OPEN.crn)


# Mock backends ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.official
def test_official_mocks_are_listed_on_request_and_run_dry_runs(local: Service, theirs: Any) -> None:
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    service = theirs
    with _quiet():
        names = {b.name for b in service.backends(include_mocks=True)}
        assert {"mock_falcon", "mock_heron", "mock_eagle"} <= names
        assert not any(b.name.startswith("mock_") for b in service.backends())
        twin = service.backend("mock_falcon")
        assert twin.is_mock and twin._instance == OPEN.crn
        backend = service.backend("local_falcon")
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure_all()
        isa = generate_preset_pass_manager(optimization_level=1, backend=backend).run(qc)
        job = runtime.SamplerV2(mode=backend).run([isa], shots=50, dry_run=True)
        result = job.result()
    assert job.backend().name == "mock_falcon"
    assert result[0].data.meas.num_shots == 50
    assert local.service.get_job(OPEN.crn, job.job_id())["backend"] == "mock_falcon"
    # Dry runs are listed only on request, as IBM lists them.
    with _quiet():
        assert job.job_id() not in {j.job_id() for j in service.jobs(instance=OPEN.crn)}
        listed = service.jobs(instance=OPEN.crn, include_mocks=True)
    assert job.job_id() in {j.job_id() for j in listed}


def test_mock_twins_are_listed_only_with_include_mocks(local: Service) -> None:
    headers = {"Authorization": f"Bearer {local.token()}", "Service-CRN": PREMIUM.crn}
    plain = requests.get(f"{local.url}/api/v1/backends", headers=headers, timeout=10).json()
    with_mocks = requests.get(
        f"{local.url}/api/v1/backends",
        params={"include_mocks": "true"},
        headers=headers,
        timeout=10,
    ).json()
    assert [d["name"] for d in plain["devices"]] == ["local_heron", "local_eagle", "local_falcon"]
    mocks = {d["name"]: d for d in with_mocks["devices"] if d.get("class") == "mock"}
    assert set(mocks) == {"mock_heron", "mock_eagle", "mock_falcon"}
    assert mocks["mock_heron"]["qubits"] == 156
    # The twin's Target is its device's: the same configuration under the twin's name.
    config = requests.get(
        f"{local.url}/api/v1/backends/mock_heron/configuration", headers=headers, timeout=10
    ).json()
    assert config["backend_name"] == "mock_heron"
    assert config["n_qubits"] == 156
    assert mock_name("ibm_kingston") == "mock_kingston"
    assert local.catalog.twins["mock_heron"] == "local_heron"


# Our client -----------------------------------------------------------------------------------


def _ours(local: Service, key: str = KEY) -> tuple[Any, IAMAuthenticator]:
    session = make_session()
    return session, IAMAuthenticator(key, iam_url=local.url, session=session)


def test_our_discovery_finds_the_instances_and_picks_the_free_one(local: Service) -> None:
    session, auth = _ours(local)
    found = list_instances(session, auth, api_url=f"{local.url}/api")
    assert [i.crn for i in found] == [OPEN.crn, PREMIUM.crn]
    assert [(i.plan, i.pricing_type) for i in found] == [
        ("open", "free"),
        ("premium", "subscription"),
    ]
    assert found[1].to_dict() == {
        "crn": PREMIUM.crn,
        "plan": "premium",
        "name": "premium-instance",
        "tags": ["team-a"],
        "pricing_type": "subscription",
    }
    assert choose_instance(found).crn == OPEN.crn
    assert choose_instance(found, plans_preference=["Premium"]).crn == PREMIUM.crn
    assert choose_instance(found, region="eu-de").crn == PREMIUM.crn
    assert choose_instance(found, tags=["TEAM-A"]).crn == PREMIUM.crn
    with pytest.raises(AccountError, match="No instance matches plans_preference"):
        choose_instance(found, plans_preference=["flex"])

    # The provider on the instance found lists that instance's backends only.
    chosen = choose_instance(found)
    provider = QiskitRestProvider(token=KEY, instance=chosen.crn, url=local.url, iam_url=local.url)
    assert [b.name for b in provider.backends()] == ["local_falcon"]
    premium = QiskitRestProvider(token=KEY, instance=PREMIUM.crn, url=local.url, iam_url=local.url)
    assert [b.name for b in premium.backends()] == ["local_heron", "local_eagle", "local_falcon"]


def test_our_discovery_with_a_key_without_instances_fails_clearly(local: Service) -> None:
    session, auth = _ours(local, KEY_NONE)
    found = list_instances(session, auth, api_url=f"{local.url}/api")
    assert found == []
    with pytest.raises(AccountError, match="cannot use any Qiskit Runtime instance"):
        choose_instance(found)
    session, auth = _ours(local, "not-a-key-this-service-knows")
    with pytest.raises(AuthenticationError, match="IAM rejected the API key"):
        list_instances(session, auth, api_url=f"{local.url}/api")


def test_our_provider_without_an_instance_discovers_one(local: Service) -> None:
    provider = QiskitRestProvider(token=KEY, url=local.url, iam_url=local.url)
    assert provider.active_instance() == OPEN.crn
    assert [b.name for b in provider.backends()] == ["local_falcon"]
    assert [i["plan"] for i in provider.instances()] == ["open", "premium"]
    with pytest.raises(NotFoundError):
        provider.get_backend("local_heron")  # the premium instance's device
    premium = QiskitRestProvider(
        token=KEY, url=local.url, iam_url=local.url, plans_preference=["premium"]
    )
    assert premium.active_instance() == PREMIUM.crn
    assert [b.name for b in premium.backends()] == list(PREMIUM.backends or ())
    auto = QiskitRestProvider(token=KEY, instance="auto", url=local.url, iam_url=local.url)
    assert auto.active_instance() == OPEN.crn
    with pytest.raises(AccountError, match="cannot use any Qiskit Runtime instance"):
        QiskitRestProvider(token=KEY_NONE, url=local.url, iam_url=local.url)


def test_order_follows_the_official_preference() -> None:
    def inst(plan: str, pricing: str, region: str = "us-east") -> DiscoveredInstance:
        return DiscoveredInstance(instance_crn(region), plan, plan, pricing)

    paid, trial, free, odd = (
        inst("flex", "paid"),
        inst("trial", "trial"),
        inst("open", "free", "eu-de"),
        inst("lab", "something-new"),
    )
    ordered = order_instances([paid, odd, trial, free])
    assert ordered == [free, trial, paid, odd]
    assert order_instances([paid, free], plans_preference=["flex", "open"]) == [paid, free]
    assert order_instances([paid, free], region="eu-de") == [free]


def test_platform_urls() -> None:
    assert platform_urls(None) == (
        "https://api.global-search-tagging.cloud.ibm.com",
        "https://globalcatalog.cloud.ibm.com/api/v1",
    )
    assert platform_urls("https://eu-de.quantum.cloud.ibm.com/api") == platform_urls(None)
    assert platform_urls("https://quantum.test.cloud.ibm.com/api")[0] == (
        "https://api.global-search-tagging.test.cloud.ibm.com"
    )
    assert platform_urls("http://127.0.0.1:8000/api") == (
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/api/v1",
    )


# Global Search and Global Catalog on the wire ----------------------------------------------


def _search(local: Service, body: Any, token: str | None = None, **params: Any) -> Any:
    return requests.post(
        f"{local.url}/v3/resources/search",
        params=params,
        json=body,
        headers={"Authorization": f"Bearer {token or local.token()}"},
        timeout=10,
    )


def test_search_pages_with_a_signed_cursor(local: Service) -> None:
    token = local.token()
    body = {"query": "service_name:quantum-computing", "fields": ["crn", "name"]}
    first = _search(local, body, token, limit=2).json()
    assert [i["name"] for i in first["items"]] == ["open-instance", "premium-instance"]
    assert first["items"][0] == {"crn": OPEN.crn, "name": "open-instance"}
    second = _search(local, {"search_cursor": first["search_cursor"]}, token, limit=2).json()
    assert [i["name"] for i in second["items"]] == ["no-allocation"]
    assert second["items"][0]["crn"] == EMPTY.crn
    assert "search_cursor" not in second
    # The instance without an allocation has empty extensions (clients skip it).
    docs = _search(local, {"query": "name:no-allocation", "fields": ["doc"]}, token).json()
    assert docs["items"][0]["doc"]["extensions"] == {}
    # A key sees only its own instances; a key without any sees none.
    premium = _search(local, {"query": "*"}, local.token(KEY_PREMIUM)).json()
    assert [i["crn"] for i in premium["items"]] == [PREMIUM.crn]
    assert _search(local, {"query": "*"}, local.token(KEY_NONE)).json()["items"] == []
    tampered = first["search_cursor"].replace(".", "x.", 1)
    assert _search(local, {"search_cursor": tampered}, token).status_code == 400


def test_search_queries(local: Service) -> None:
    token = local.token()

    def names(query: str) -> list[str]:
        answer = _search(local, {"query": query, "fields": ["name"]}, token, limit=100)
        assert answer.status_code == 200, answer.text
        return [i["name"] for i in answer.json()["items"]]

    assert names("region:eu-de") == ["premium-instance"]
    assert names('name:"open-instance" AND service_name:quantum-computing') == ["open-instance"]
    assert names("tags:TEAM-A") == ["premium-instance"]
    assert names("name:pre*") == ["premium-instance"]
    assert names("service_name:other") == []
    for bad in ("name:a OR name:b", "name:a name:b", "(name:a)", "nosuch:x", "name:a*b", "AND"):
        answer = _search(local, {"query": bad}, token)
        assert answer.status_code == 400, bad
        assert answer.json()["errors"][0]["message"]
    assert _search(local, {"query": "*"}, token, limit=0).status_code == 400
    assert _search(local, {"query": "*"}, token, limit="²").status_code == 400
    assert _search(local, [], token).status_code == 400
    unauthenticated = requests.post(f"{local.url}/v3/resources/search", json={}, timeout=10)
    assert unauthenticated.status_code == 401


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_the_query_parser_answers_any_text_with_a_query_or_a_400(text: str) -> None:
    try:
        query = parse_search_query(text)
    except ServiceError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert len(query.terms) <= 32


def test_the_query_parser_is_linear() -> None:
    # Queries are refused beyond 2,048 characters; the scanner's patterns stay linear far
    # beyond that: near-misses of a megabyte each are one left-to-right pass (a backtracking
    # blow-up would not finish within the test runner's timeout).
    from qiskit_rest_provider.server import cloud

    mega = 1_000_000
    assert cloud._TERM.match("a" * mega) is None
    assert cloud._TERM.match('name:"' + "a" * mega) is None
    assert cloud._TERM.match("name:" + "a" * mega) is not None
    assert cloud._AND.match("AND" * mega) is None
    with pytest.raises(ServiceError, match="longer than"):
        parse_search_query("name:a AND " * 200)
    near_misses = ("name:a AND " * 180 + "x", 'name:"' + "a" * 2000, "name:" + "a*" * 1000)
    for text in near_misses:
        with pytest.raises(ServiceError):
            parse_search_query(text)


def test_catalog_entries_describe_the_plans(local: Service) -> None:
    headers = {"Authorization": f"Bearer {local.token()}"}
    plan = STANDARD_PLANS["premium"]
    entry = requests.get(f"{local.url}/api/v1/{plan.plan_id}", headers=headers, timeout=10).json()
    assert entry["overview_ui"]["en"]["display_name"] == "Premium"
    assert entry["metadata"]["pricing"]["type"] == "subscription"
    missing = requests.get(f"{local.url}/api/v1/no-such-plan", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()["errors"][0]["message"]
    anonymous = requests.get(f"{local.url}/api/v1/{plan.plan_id}", timeout=10)
    assert anonymous.status_code == 401
    # The Runtime API's own routes keep their paths.
    assert requests.get(f"{local.url}/api/v1/versions", timeout=10).status_code == 200


# The proxy and absolute-form requests ------------------------------------------------------


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_absolute_form_requests_are_served_by_path(local: Service) -> None:
    request = (
        b"GET http://quantum.example.invalid/api/v1/versions HTTP/1.1\r\n"
        b"Host: quantum.example.invalid\r\nConnection: close\r\n\r\n"
    )
    for port in (local.port, local.proxy.port):
        answer = _raw(port, request)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b'"versions"' in answer
    connect = (
        b"CONNECT iam.cloud.ibm.com:443 HTTP/1.1\r\nHost: iam.cloud.ibm.com:443\r\n"
        b"Connection: close\r\n\r\n"
    )
    refused = _raw(local.port, connect)
    assert refused.startswith(b"HTTP/1.1 405") and b"proxy" in refused


def test_the_proxy_tunnels_to_iam_only(local: Service) -> None:
    for target in (b"example.com:443", b"iam.cloud.ibm.com:80", b"quantum.cloud.ibm.com:443"):
        answer = _raw(local.proxy.port, b"CONNECT " + target + b" HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403"), target
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["errors"][0]["message"]
    assert _raw(local.proxy.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    assert _raw(local.proxy.port, big).startswith(b"HTTP/1.1 431")
    # The IAM tunnel ends in the proxy, with TLS, and leads to the local IAM.
    with socket.create_connection(("127.0.0.1", local.proxy.port), timeout=10) as sock:
        sock.sendall(b"CONNECT iam.cloud.ibm.com:443 HTTP/1.1\r\nHost: iam.cloud.ibm.com\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock, server_hostname="iam.cloud.ibm.com") as tls:
            form = f"grant_type={GRANT}&apikey={KEY}".encode()
            tls.sendall(
                b"POST /identity/token HTTP/1.1\r\nHost: iam.cloud.ibm.com\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
                + f"Content-Length: {len(form)}\r\n\r\n".encode()
                + form
            )
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b"access_token" in answer
    assert local.proxy.counts["tunnelled"] >= 1


# The instances model ------------------------------------------------------------------------


def test_instances_file_entries() -> None:
    specs = parse_instances(
        [
            {"name": "a", "plan": "open", "backends": ["local_falcon"]},
            {"name": "b", "plan": "Premium", "region": "eu-de", "tags": ["x"]},
            {
                "name": "c",
                "plan": {"id": "lab-plan", "name": "Lab", "pricing_type": "paid"},
                "crn": "crn:v1:bluemix:public:quantum-computing:us-east:a/acct:lab-1::",
                "usage_limit_seconds": 600,
            },
        ]
    )
    assert [s.plan.name for s in specs] == ["Open", "Premium", "Lab"]
    assert specs[0].backends == ("local_falcon",) and specs[1].backends is None
    assert specs[1].region == "eu-de" and specs[2].usage_limit_seconds == 600
    instances = Instances(specs)
    assert instances.allows(specs[0].crn, "local_falcon")
    assert not instances.allows(specs[0].crn, "local_heron")
    assert instances.allows("crn:v1:bluemix:public:quantum-computing:us-east:a/x:y::", "any")
    assert instances.spec("crn:v1:bluemix:public:quantum-computing:us-east:a/x:y::").name == "y"
    for bad, message in [
        ([], "non-empty"),
        ([{"plan": "gold"}], "unknown plan"),
        ([{"plan": {"id": "p", "name": "P", "pricing_type": "cheap"}}], "pricing type"),
        ([{"crn": "crn:v1:bluemix:public:other:us-east:a/x:y::"}], "not of the form"),
        ([{"backends": "local_falcon"}], "list of backend names"),
        ([{"colour": "red"}], "unknown fields"),
        ([{"usage_limit_seconds": -1}], "usage_limit_seconds"),
        ([{"crn": OPEN.crn}, {"crn": OPEN.crn}], "configured twice"),
        (
            [
                {"plan": {"id": "p", "name": "P", "pricing_type": "paid"}},
                {"plan": {"id": "p", "name": "Q", "pricing_type": "paid"}},
            ],
            "two different plans",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_instances(bad)
    with pytest.raises(ValueError, match="unknown backends"):
        Instances(specs).check_backends(["local_heron"])
    assert Plan("x", "X", "free") == Plan("x", "X", "free")
