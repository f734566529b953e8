"""The client against hostile servers and hostile configuration (issue 11, items 11, 12, 13, 16).

Every test talks to real loopback servers (tests/scripted_server.py): a second server on another
port is "another origin" and records whatever reaches it; a server used as the HTTPS proxy
records which hosts the client tried to reach; a trickling server sends one byte at a time; a
TLS server presents a certificate from a CA generated here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from qiskit_rest_provider import QiskitRestProvider
from qiskit_rest_provider.api import (
    AccountError,
    AmbiguousSubmissionError,
    ApiConnectionError,
    ApiTimeoutError,
    IAMAuthenticator,
    RedirectError,
    RetryPolicy,
    RuntimeRestClient,
    Timeouts,
    Transport,
    save_account,
    saved_accounts,
)
from qiskit_rest_provider.api.accounts import KNOWN_REGIONS, Account, parse_crn
from qiskit_rest_provider.api.transport import make_session

from .scripted_server import ScriptedServer, Trickle

API_KEY = "hostile-test-api-key-0123456789"
CRN = "crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def::"
EU_CRN = "crn:v1:bluemix:public:quantum-computing:eu-de:a/abc:def::"
ATTACK_CRN = "crn:v1:bluemix:public:quantum-computing:attacker.example/:a/abc:def::"
IBM_HOSTS = {"quantum.cloud.ibm.com", "eu-de.quantum.cloud.ibm.com", "iam.cloud.ibm.com"}
ENV_VARS = ("QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE", "QISKIT_IBM_URL", "QISKIT_IBM_IAM_URL")


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture()
def other_origin() -> Iterator[ScriptedServer]:
    """A second loopback server: another port, hence another origin. It records everything."""
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture()
def proxy() -> Iterator[ScriptedServer]:
    """A recording HTTPS proxy: it notes each CONNECT target and refuses it."""
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (*ENV_VARS, "IAM_URL", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QISKIT_REST_ACCOUNTS_FILE", str(tmp_path / "accounts.json"))


def make_client(
    srv: ScriptedServer, *, deadline: float = 30.0, read: float = 10.0, max_attempts: int = 1
) -> RuntimeRestClient:
    session = make_session()
    auth = IAMAuthenticator(API_KEY, iam_url=srv.url, session=session)
    transport = Transport(
        f"{srv.url}/api",
        auth,
        service_crn=CRN,
        session=session,
        timeouts=Timeouts(connect=2.0, read=read),
        retry=RetryPolicy(max_attempts=max_attempts, backoff_base=0.01, deadline=deadline),
    )
    return RuntimeRestClient(transport)


def leaked(srv: ScriptedServer) -> list[str]:
    """What of the user's secrets and data reached ``srv``."""
    found = []
    for record in srv.requests:
        text = json.dumps(record["headers"]) + record["body"].decode("latin-1")
        if API_KEY in text:
            found.append("API key")
        if "Bearer" in text:
            found.append("bearer token")
        if "Service-CRN" in record["headers"] or CRN in text:
            found.append("Service-CRN")
        if "program_id" in text:
            found.append("job body")
    return found


# Item 11: the CRN never decides a foreign host ---------------------------------------------------

HOSTILE_CRNS = [
    ATTACK_CRN,
    "crn:v1:bluemix:public:quantum-computing:attacker.example:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:us-east.attacker.example:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:attacker.example#:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:attacker.example?:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:attacker.example@us-east:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:US-EAST:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing::a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def",
    "crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def:job:x",
    "crn:v1:bluemix:public:quantum-computing:us-east:a/abc:def::\r\nX-Evil: 1",
    "crn:v1:bluemix:public:quantum-computing:us-east:a/abc/../x:def::",
    "crn:v2:bluemix:public:quantum-computing:us-east:a/abc:def::",
    "crn:v1:bluemix:public:quantum-computing:" + "a" * 600 + ":a/abc:def::",
    "not-a-crn",
]


def _assert_refused(exc: AccountError) -> None:
    text = str(exc) + repr(exc)
    assert API_KEY not in text
    assert "CRN" in text or "instance" in text


@pytest.mark.parametrize("crn", HOSTILE_CRNS)
def test_hostile_crn_is_refused_by_every_entry_point(
    crn: str, proxy: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proxies = {"https": proxy.url, "http": proxy.url}
    # 1. constructor arguments
    with pytest.raises(AccountError) as info:
        QiskitRestProvider(token=API_KEY, instance=crn, proxies=proxies)
    _assert_refused(info.value)
    # 2. the environment, with an explicit token and without
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", crn)
    with pytest.raises(AccountError) as info:
        QiskitRestProvider(token=API_KEY, proxies=proxies)
    _assert_refused(info.value)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", API_KEY)
    with pytest.raises(AccountError) as info:
        QiskitRestProvider(proxies=proxies)
    _assert_refused(info.value)
    monkeypatch.delenv("QISKIT_IBM_TOKEN")
    monkeypatch.delenv("QISKIT_IBM_INSTANCE")
    # 3. an accounts file written by someone else (save_account itself refuses the CRN)
    with pytest.raises(AccountError) as info:
        save_account(token=API_KEY, instance=crn)
    _assert_refused(info.value)
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"default": {"token": API_KEY, "instance": crn, "is_default": 1}}))
    with pytest.raises(AccountError) as info:
        QiskitRestProvider(proxies=proxies)
    _assert_refused(info.value)
    with pytest.raises(AccountError):
        QiskitRestProvider(name="default", proxies=proxies)
    listed = saved_accounts()["default"]  # listing shows why, and hides the key
    assert "error" in listed and API_KEY not in json.dumps(listed)
    # 4. Account.validate(), also after the instance was changed on a valid account
    account = Account(token=API_KEY, instance=CRN)
    account.instance = crn
    with pytest.raises(AccountError) as info:
        account.validate()
    _assert_refused(info.value)
    # A saved valid account with the hostile CRN passed as an override.
    save_account(token=API_KEY, instance=CRN, name="good", overwrite=True)
    with pytest.raises(AccountError):
        QiskitRestProvider(name="good", instance=crn, proxies=proxies)
    assert proxy.requests == []  # nothing was sent anywhere


def test_crn_errors_never_echo_the_key() -> None:
    with pytest.raises(AccountError) as info:  # key and CRN swapped by mistake
        QiskitRestProvider(token=CRN, instance=API_KEY)
    assert API_KEY not in str(info.value)
    # The key pasted into a CRN field: a valid-looking (unknown) region, or an invalid field.
    for instance in (
        f"crn:v1:bluemix:public:quantum-computing:{API_KEY}:a/abc:def::",
        f"crn:v1:bluemix:public:quantum-computing:us-east:a/x:{API_KEY}!::",
    ):
        with pytest.raises(AccountError) as info:
            QiskitRestProvider(token=API_KEY, instance=instance)
        assert API_KEY not in str(info.value) and "<hidden>" in str(info.value)


def test_attack_crn_error_names_the_region_field() -> None:
    with pytest.raises(AccountError, match=r"region field 'attacker\.example/' is invalid"):
        parse_crn(ATTACK_CRN)


@pytest.mark.parametrize(
    ("crn", "host"),
    [(CRN, "quantum.cloud.ibm.com"), (EU_CRN, "eu-de.quantum.cloud.ibm.com")],
)
def test_derived_hosts_are_ibm_hosts_on_the_wire(
    crn: str, host: str, proxy: ScriptedServer
) -> None:
    """The requests really leave for IBM's hosts only: the proxy sees every target."""
    proxies = {"https": proxy.url, "http": proxy.url}
    retry = RetryPolicy(max_attempts=1)
    for credentials in ({"bearer_token": "tok"}, {"token": API_KEY}):
        with (
            QiskitRestProvider(instance=crn, proxies=proxies, retry=retry, **credentials) as p,
            pytest.raises(ApiConnectionError),  # the proxy refuses the tunnel
        ):
            p.client.versions()
    targets = [r["path"] for r in proxy.requests]
    assert [r["method"] for r in proxy.requests] == ["CONNECT", "CONNECT"]
    assert targets == [f"{host}:443", "iam.cloud.ibm.com:443"]


def test_unknown_region_needs_an_explicit_url(server: ScriptedServer) -> None:
    crn = "crn:v1:bluemix:public:quantum-computing:jp-tok:a/abc:def::"
    with pytest.raises(AccountError, match=r"url="):
        QiskitRestProvider(bearer_token="tok", instance=crn)
    staging = "crn:v1:staging:public:quantum-computing:us-east:a/abc:def::"
    with pytest.raises(AccountError, match=r"url="):
        QiskitRestProvider(bearer_token="tok", instance=staging)
    with QiskitRestProvider(bearer_token="tok", instance=crn, url=server.url) as provider:
        provider.client.versions()
    sent = [r for r in server.requests if r["path"] == "/api/v1/versions"]
    assert sent and sent[0]["headers"]["Service-CRN"] == crn


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("abcdeust-:/.@#?%AZ09 \r\n\x00é"),
        max_size=40,
    ),
    st.sampled_from(["region", "whole", "cname"]),
)
def test_any_crn_yields_an_ibm_host_or_a_refusal(text: str, where: str) -> None:
    crn = {
        "region": f"crn:v1:bluemix:public:quantum-computing:{text}:a/abc:def::",
        "cname": f"crn:v1:{text}:public:quantum-computing:us-east:a/abc:def::",
        "whole": text,
    }[where]
    try:
        account = Account(bearer_token="tok", instance=crn).validate()
    except AccountError:
        return
    assert account.api_url in set(KNOWN_REGIONS.values())


# Item 12: redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_iam_token_request_never_follows_a_redirect(
    status: int, server: ScriptedServer, other_origin: ScriptedServer
) -> None:
    server.script(
        "POST", "/identity/token", (status, {"Location": f"{other_origin.url}/identity/token"}, b"")
    )
    auth = IAMAuthenticator(API_KEY, iam_url=server.url, session=make_session())
    with pytest.raises(RedirectError) as info:
        auth.token()
    assert info.value.status_code == status and API_KEY not in str(info.value)
    assert other_origin.requests == []
    # Not even within the origin: the form (API key included) is sent exactly once.
    server.script("POST", "/identity/token", (307, {"Location": "/identity/token2"}, b""))
    with pytest.raises(RedirectError):
        auth.token()
    assert (
        server.calls("POST", "/identity/token") == 2
        and server.calls("POST", "/identity/token2") == 0
    )


@pytest.mark.parametrize("status", [302, 307, 308])
def test_api_get_redirect_to_another_origin_is_refused(
    status: int, server: ScriptedServer, other_origin: ScriptedServer
) -> None:
    client = make_client(server)
    server.script(
        "GET", "/api/v1/jobs/j1", (status, {"Location": f"{other_origin.url}/api/v1/jobs/j1"}, b"")
    )
    with pytest.raises(RedirectError) as info:
        client.get_job("j1")
    assert info.value.status_code == status
    assert str(other_origin.port) in str(info.value)  # it says where the redirect pointed
    assert other_origin.requests == [] and leaked(other_origin) == []


@pytest.mark.parametrize(
    "location",
    [
        "//127.0.0.1:{port}/api/v1/jobs/j1",  # scheme-relative, another port
        "http://localhost:{self_port}/api/v1/jobs/j1",  # same machine, another host name
        "https://127.0.0.1:{self_port}/api/v1/jobs/j1",  # another scheme
    ],
)
def test_other_origins_are_origins_by_scheme_host_and_port(
    location: str, server: ScriptedServer, other_origin: ScriptedServer
) -> None:
    client = make_client(server)
    target = location.format(port=other_origin.port, self_port=server.port)
    server.script("GET", "/api/v1/jobs/j1", (302, {"Location": target}, b""))
    with pytest.raises(RedirectError):
        client.get_job("j1")
    assert other_origin.requests == [] and server.calls("GET", "/api/v1/jobs/j1") == 1


@pytest.mark.parametrize("status", [302, 307, 308])
def test_post_redirects_are_never_followed(
    status: int, server: ScriptedServer, other_origin: ScriptedServer
) -> None:
    client = make_client(server)
    for target in (f"{other_origin.url}/api/v1/jobs", "/api/v1/jobs-again"):
        server.script("POST", "/api/v1/jobs", (status, {"Location": target}, b""))
        with pytest.raises(RedirectError) as info:
            client.create_job({"program_id": "sampler", "backend": "b", "params": {}})
        assert info.value.status_code == status
    assert server.calls("POST", "/api/v1/jobs") == 2
    assert server.calls("POST", "/api/v1/jobs-again") == 0
    assert other_origin.requests == []
    # PATCH and DELETE neither.
    server.script("PATCH", "/api/v1/sessions/s1", (307, {"Location": "/api/v1/sessions/s2"}, b""))
    with pytest.raises(RedirectError):
        client.close_session("s1")
    server.script("DELETE", "/api/v1/jobs/j1", (308, {"Location": "/api/v1/jobs/j2"}, b""))
    with pytest.raises(RedirectError):
        client.delete_job("j1")
    assert (
        server.calls("PATCH", "/api/v1/sessions/s2")
        == server.calls("DELETE", "/api/v1/jobs/j2")
        == 0
    )


def test_same_origin_get_redirects_are_followed_with_credentials(server: ScriptedServer) -> None:
    client = make_client(server)
    server.script("GET", "/api/v1/jobs/j1", (302, {"Location": "/api/v1/jobs/j2?x=1"}, b""))
    server.script(
        "GET", "/api/v1/jobs/j2", (307, {"Location": f"{server.url}/api/v1/jobs/j3"}, b"")
    )
    server.script("GET", "/api/v1/jobs/j3", (200, {}, b'{"id": "j3"}'))
    assert client.get_job("j1") == {"id": "j3"}
    hops = [r for r in server.requests if r["path"].startswith("/api/v1/jobs/")]
    assert [r["path"] for r in hops] == ["/api/v1/jobs/j1", "/api/v1/jobs/j2", "/api/v1/jobs/j3"]
    for hop in hops:
        assert hop["headers"]["Service-CRN"] == CRN
        assert hop["headers"]["Authorization"].startswith("Bearer ")
    assert hops[1]["query"] == "x=1"


def test_a_redirect_chain_that_leaves_the_origin_is_refused(
    server: ScriptedServer, other_origin: ScriptedServer
) -> None:
    client = make_client(server)
    server.script("GET", "/api/v1/jobs/j1", (302, {"Location": "/api/v1/jobs/j2"}, b""))
    server.script(
        "GET", "/api/v1/jobs/j2", (307, {"Location": f"{other_origin.url}/api/v1/jobs/j2"}, b"")
    )
    with pytest.raises(RedirectError) as info:
        client.get_job("j1")
    assert info.value.status_code == 307 and other_origin.requests == []


def test_redirect_loops_are_bounded(server: ScriptedServer) -> None:
    client = make_client(server)
    server.script("GET", "/api/v1/jobs/j1", *[(302, {"Location": "/api/v1/jobs/j1"}, b"")] * 10)
    with pytest.raises(RedirectError, match="more than 5 redirects"):
        client.get_job("j1")
    assert server.calls("GET", "/api/v1/jobs/j1") == 6


def test_the_session_itself_never_carries_credentials_across_origins(
    server: ScriptedServer, other_origin: ScriptedServer
) -> None:
    """Code that uses ``provider.transport.session`` directly is protected too."""
    session = make_session()
    secret_headers = {"Authorization": "Bearer secret-token", "Service-CRN": CRN}
    server.script("GET", "/a", (302, {"Location": f"{other_origin.url}/a"}, b""))
    response = session.get(f"{server.url}/a", headers=secret_headers, timeout=5)
    assert response.status_code == 302  # handed back, not followed
    server.script("POST", "/b", (307, {"Location": "/c"}, b""))
    response = session.post(f"{server.url}/b", headers=secret_headers, data=b"x", timeout=5)
    assert response.status_code == 307 and server.calls("POST", "/c") == 0
    server.script("GET", "/d", (302, {"Location": "/e"}, b""))
    assert session.get(f"{server.url}/d", headers=secret_headers, timeout=5).json() == {"ok": True}
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer secret-token"
    assert other_origin.requests == []


# Item 13: the deadline bounds the whole request --------------------------------------------------

# The slow server sends 1 byte every 0.2 s, each well within the 1 s read timeout: the whole
# body would take 24 s. The observable is causal, not a stopwatch: the client gave up (with the
# package's timeout error) before the server got through half of the body; without the
# deadline the request would complete successfully.
BODY = json.dumps({"id": "slow", "padding": "x" * 100}).encode()
TOKEN_BODY = json.dumps({"access_token": "a" * 100, "expires_in": 3600}).encode()


@pytest.mark.slow
def test_a_trickled_body_cannot_hold_a_request_past_its_deadline(server: ScriptedServer) -> None:
    trickle = Trickle(BODY, interval=0.2)
    server.script("GET", "/api/v1/jobs/slow", (200, {"Content-Type": "application/json"}, trickle))
    client = make_client(server, deadline=1.0, read=1.0)
    with pytest.raises(ApiTimeoutError, match="deadline of 1 s"):
        client.get_job("slow")
    assert trickle.body_sent < len(BODY) // 2
    # The session is still healthy afterwards.
    server.script("GET", "/api/v1/jobs/ok", (200, {}, b'{"id": "ok"}'))
    assert client.get_job("ok") == {"id": "ok"}


@pytest.mark.slow
def test_a_plain_requests_session_gets_the_deadline_too(server: ScriptedServer) -> None:
    """A caller's own ``requests.Session`` is adopted: deadline adapters are mounted on it."""
    trickle = Trickle(BODY, interval=0.2)
    server.script("GET", "/api/v1/jobs/slow", (200, {}, trickle))
    transport = Transport(
        f"{server.url}/api",
        IAMAuthenticator(API_KEY, iam_url=server.url, session=requests.Session()),
        service_crn=CRN,
        session=requests.Session(),
        timeouts=Timeouts(connect=2.0, read=1.0),
        retry=RetryPolicy(max_attempts=1, deadline=1.0),
    )
    with pytest.raises(ApiTimeoutError):
        RuntimeRestClient(transport).get_job("slow")
    assert trickle.body_sent < len(BODY) // 2


@pytest.mark.slow
def test_trickled_headers_cannot_hold_a_request_past_its_deadline(server: ScriptedServer) -> None:
    trickle = Trickle(BODY, interval=0.2, head=True)
    server.script("GET", "/api/v1/jobs/slow", (200, {"X-Pad": "y" * 100}, trickle))
    client = make_client(server, deadline=1.0, read=1.0)
    with pytest.raises(ApiTimeoutError):
        client.get_job("slow")
    assert trickle.body_sent == 0 and trickle.sent < 60  # the head alone is 150 bytes


@pytest.mark.slow
def test_a_trickled_iam_answer_cannot_hold_the_token_request(server: ScriptedServer) -> None:
    trickle = Trickle(TOKEN_BODY, interval=0.2)
    server.script("POST", "/identity/token", (200, {}, trickle))
    auth = IAMAuthenticator(
        API_KEY, iam_url=server.url, session=make_session(), timeout=(1.0, 1.0), deadline=1.0
    )
    with pytest.raises(ApiTimeoutError) as info:
        auth.token()
    assert trickle.body_sent < len(TOKEN_BODY) // 2 and API_KEY not in str(info.value)


@pytest.mark.slow
def test_the_api_deadline_also_bounds_the_token_request(server: ScriptedServer) -> None:
    trickle = Trickle(TOKEN_BODY, interval=0.2)
    server.script("POST", "/identity/token", (200, {}, trickle))
    client = make_client(server, deadline=1.0, read=1.0)  # the IAM's own deadline is 60 s
    with pytest.raises(ApiTimeoutError):
        client.get_job("j1")
    assert trickle.body_sent < len(TOKEN_BODY) // 2
    assert server.calls("GET", "/api/v1/jobs/j1") == 0


@pytest.mark.slow
def test_a_trickled_answer_to_a_post_is_an_ambiguous_submission(server: ScriptedServer) -> None:
    trickle = Trickle(b'{"id": "job-1", "backend": "b", "pad": "' + b"z" * 100 + b'"}', 0.2)
    server.script("POST", "/api/v1/jobs", (200, {}, trickle))
    client = make_client(server, deadline=1.0, read=1.0)
    with pytest.raises(AmbiguousSubmissionError, match="deadline"):
        client.transport.request("POST", "/v1/jobs", json={"program_id": "sampler"})
    assert server.calls("POST", "/api/v1/jobs") == 1 and trickle.body_sent < 70


@pytest.mark.slow
def test_one_request_past_its_deadline_does_not_disturb_others(server: ScriptedServer) -> None:
    """The watchdog cuts only the late request's connection, never a pooled one in use."""
    trickle = Trickle(BODY, interval=0.2)
    server.script("GET", "/api/v1/jobs/slow", (200, {}, trickle))
    client = make_client(server, deadline=1.0, read=1.0)
    client.transport.authenticator.token()  # type: ignore[attr-defined]
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            client.get_job("slow")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    answers = 0
    while thread.is_alive():
        server.script("GET", "/api/v1/jobs/fast", (200, {}, b'{"id": "fast"}'))
        assert client.get_job("fast") == {"id": "fast"}
        answers += 1
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], ApiTimeoutError)
    assert trickle.body_sent < len(BODY) // 2 and answers > 1


# Item 16: the configured CA bundle wins over the environment ------------------------------------


def _ca_and_leaf(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA certificate, and a server certificate for 127.0.0.1 signed by it, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp / f"{name}-ca.pem", tmp / f"{name}.pem", tmp / f"{name}.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("pki")
    ca, cert, key = _ca_and_leaf(tmp, "server")
    other_ca, _, _ = _ca_and_leaf(tmp, "other")
    return {"ca": ca, "cert": cert, "key": key, "other_ca": other_ca}


@pytest.fixture()
def tls_server(pki: dict[str, Path]) -> Iterator[ScriptedServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    with ScriptedServer(tls=context) as srv:
        yield srv


def _provider(srv: ScriptedServer, verify: Any = None) -> QiskitRestProvider:
    return QiskitRestProvider(
        token=API_KEY,
        instance=CRN,
        url=srv.url,
        iam_url=srv.url,
        verify=verify,
        retry=RetryPolicy(max_attempts=1),
    )


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_configured_ca_bundle_wins_over_a_bogus_environment_bundle(
    variable: str,
    tls_server: ScriptedServer,
    pki: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "no-such-bundle.pem"))
    with _provider(tls_server, verify=str(pki["ca"])) as provider:
        provider.client.versions()  # a verified TLS handshake with the configured CA, twice
    assert [r["path"] for r in tls_server.requests] == ["/identity/token", "/api/v1/versions"]
    # The session used directly honours it as well.
    assert make_session(verify=str(pki["ca"])).get(tls_server.url + "/x", timeout=5).ok


def test_configured_ca_bundle_wins_over_a_working_environment_bundle(
    tls_server: ScriptedServer, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment names the CA that would work; the configured one must still be used,
    and it does not trust the server."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    with (
        _provider(tls_server, verify=str(pki["other_ca"])) as provider,
        pytest.raises(ApiConnectionError),
    ):
        provider.client.versions()
    assert tls_server.requests == []  # nothing was sent over an unverified connection


def test_verify_false_wins_over_the_environment(
    tls_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    with warnings.catch_warnings(), _provider(tls_server, verify=False) as provider:
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning
        provider.client.versions()
    assert tls_server.calls("GET", "/api/v1/versions") == 1


def test_environment_bundle_applies_when_nothing_is_configured(
    tls_server: ScriptedServer, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with _provider(tls_server) as provider, pytest.raises(ApiConnectionError):
        provider.client.versions()  # the system CAs do not know the test CA
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    with _provider(tls_server) as provider:
        provider.client.versions()
    assert tls_server.calls("GET", "/api/v1/versions") == 1
