"""API keys of the local service: a restart's key replaces the stored one, keys can be revoked,
they are stored salted, failed attempts are throttled per client, and hostile bearer tokens get
a 401 with the API's error body."""

from __future__ import annotations

import hashlib
import http.client
import json
import sqlite3
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from qiskit_rest_provider.server import LocalRuntimeServer
from qiskit_rest_provider.server.service import LocalService, ServiceError

from .serve_process import start_serve

INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/keys:keys::"
OTHER = "crn:v1:bluemix:public:quantum-computing:us-east:a/other:other::"
GRANT = "urn:ibm:params:oauth:grant-type:apikey"


def _token_status(url: str, api_key: str) -> int:
    response = requests.post(
        f"{url}/identity/token", data={"grant_type": GRANT, "apikey": api_key}, timeout=30
    )
    if response.status_code != 200:
        assert response.json()["errors"][0]["message"], response.text
    return response.status_code


@pytest.fixture()
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.slow
@pytest.mark.service
def test_restart_key_replaces_the_stored_key_and_revoke_keys_drops_all(
    tmp_path: Path, quiet: None
) -> None:
    db = tmp_path / "keys.db"
    with LocalRuntimeServer(db=db, api_key="first-key-0123456789", instance=INSTANCE) as first:
        assert _token_status(first.url, "first-key-0123456789") == 200
        first.service.add_api_key("other-key-0123456789", [OTHER], "other-user")
    with sqlite3.connect(db) as conn:
        records = [row[0] for row in conn.execute("SELECT key_hash FROM api_keys")]
    digests = {hashlib.sha256(k.encode()).hexdigest() for k in ("first-key-0123456789",)}
    assert len(records) == 2 and all(r.startswith("scrypt$") for r in records)
    assert not digests & set(records) and b"first-key-0123456789" not in db.read_bytes()

    # Restarted with a new key for the same instance: the old key is refused, the new one and
    # the other instance's key work.
    with LocalRuntimeServer(db=db, api_key="second-key-0123456789", instance=INSTANCE) as second:
        assert _token_status(second.url, "first-key-0123456789") == 400
        assert _token_status(second.url, "second-key-0123456789") == 200
        assert _token_status(second.url, "other-key-0123456789") == 200
        with second.provider() as provider:
            assert provider.backends()

    # revoke_keys: every stored key goes, only the given one remains.
    with LocalRuntimeServer(
        db=db, api_key="third-key-0123456789", instance=INSTANCE, revoke_keys=True
    ) as third:
        assert _token_status(third.url, "other-key-0123456789") == 400
        assert _token_status(third.url, "second-key-0123456789") == 400
        assert _token_status(third.url, "third-key-0123456789") == 200


@pytest.mark.service
def test_revoke_api_keys_invalidates_keys_and_issued_tokens(quiet: None) -> None:
    with LocalRuntimeServer() as server:
        server.service.add_api_key("guest-key-0123456789", [OTHER], "guest")
        assert _token_status(server.url, "guest-key-0123456789") == 200
        own_token = requests.post(
            f"{server.url}/identity/token",
            data={"grant_type": GRANT, "apikey": server.api_key},
            timeout=30,
        ).json()["access_token"]
        provider = server.provider()
        assert provider.backends()  # holds a token issued before the revocation

        assert server.service.revoke_api_keys() == 1
        assert _token_status(server.url, "guest-key-0123456789") == 400
        stale = requests.get(
            f"{server.url}/api/v1/backends",
            headers={"Authorization": f"Bearer {own_token}", "Service-CRN": server.instance},
            timeout=30,
        )
        assert stale.status_code == 401 and stale.json()["errors"][0]["message"]
        assert provider.backends()  # the client exchanges its (still valid) key again
        provider.close()


@pytest.mark.slow
@pytest.mark.service
def test_serve_revoke_keys_option(tmp_path: Path) -> None:
    db = tmp_path / "serve-keys.db"
    LocalService(db=db, api_key="stale-key-0123456789", instance=OTHER).stop()
    proc, info = start_serve(
        "--db",
        str(db),
        "--api-key",
        "fresh-key-0123456789",
        "--instance",
        INSTANCE,
        "--revoke-keys",
    )
    try:
        assert _token_status(info["url"], "stale-key-0123456789") == 400
        assert _token_status(info["url"], "fresh-key-0123456789") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.service
def test_unsalted_keys_of_earlier_versions_are_dropped(tmp_path: Path, quiet: None) -> None:
    db = tmp_path / "legacy.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE api_keys (key_hash TEXT PRIMARY KEY, instances TEXT NOT NULL, "
            "user_id TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO api_keys VALUES (?,?,?)",
            (hashlib.sha256(b"legacy-key-0123456789").hexdigest(), json.dumps([OTHER]), "old"),
        )
    with LocalRuntimeServer(db=db, instance=INSTANCE) as server:
        assert _token_status(server.url, "legacy-key-0123456789") == 400
        assert _token_status(server.url, server.api_key) == 200
    with sqlite3.connect(db) as conn:
        records = [row[0] for row in conn.execute("SELECT key_hash FROM api_keys")]
    assert len(records) == 1 and records[0].startswith("scrypt$")


def _post_token_from(source: str, port: int, api_key: str) -> tuple[int, dict[str, str], Any]:
    """POST /identity/token from a chosen loopback source address."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        body = urllib.parse.urlencode({"grant_type": GRANT, "apikey": api_key})
        conn.request(
            "POST",
            "/identity/token",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.service
def test_failed_key_attempts_are_throttled_per_client(quiet: None) -> None:
    with LocalRuntimeServer() as server:
        statuses: list[int] = []
        retry_after: list[int] = []
        with requests.Session() as session:
            for i in range(400):
                response = session.post(
                    f"{server.url}/identity/token",
                    data={"grant_type": GRANT, "apikey": f"wrong-key-{i}"},
                    timeout=30,
                )
                statuses.append(response.status_code)
                assert response.json()["errors"][0]["message"]
                if response.status_code == 429:
                    retry_after.append(int(response.headers["Retry-After"]))
            # A throttled client is refused even with the right key, until the window passes.
            right = session.post(
                f"{server.url}/identity/token",
                data={"grant_type": GRANT, "apikey": server.api_key},
                timeout=30,
            )
        assert statuses[:10] == [400] * 10 and statuses[10:] == [429] * 390
        assert all(1 <= s <= 60 for s in retry_after)
        assert right.status_code == 429 and 1 <= int(right.headers["Retry-After"]) <= 60

        # Another client is not affected: its right key works, its wrong keys count for it.
        status, _headers, body = _post_token_from("127.0.0.2", server.port, server.api_key)
        assert status == 200 and body["access_token"]
        status, _headers, body = _post_token_from("127.0.0.2", server.port, "wrong-key")
        assert status == 400 and body["errors"][0]["code"]


def test_hostile_api_keys_are_refused_without_an_error() -> None:
    service = LocalService()
    try:
        for key in ("", "\ud800", "x" * 5000, "key\x00with-nul"):
            with pytest.raises(ServiceError) as info:
                service.issue_token(key, client="hostile")
            assert info.value.status == 400
    finally:
        service.stop()


def _backends_with(server: LocalRuntimeServer, authorization: bytes) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1/backends",
        headers={"Authorization": authorization, "Service-CRN": server.instance},
        timeout=30,
    )


@pytest.mark.service
def test_non_ascii_bearer_tokens_are_401(server: LocalRuntimeServer) -> None:
    for token in ("é.é.é", "a.b.ç", "ключ.ключ.ключ", "\u00ff" * 40, "a.b.c\u00e9"):
        response = _backends_with(server, f"Bearer {token}".encode())
        assert response.status_code == 401, (token, response.text)
        assert response.json()["errors"][0]["message"]
    # latin-1 bytes as a header value, as a raw HTTP client sends them
    response = _backends_with(server, "Bearer a.b.\u00e9".encode("latin-1"))
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "unauthorized"


@pytest.mark.service
@settings(max_examples=60, database=None)
@given(
    token=st.text(
        st.characters(min_codepoint=33, max_codepoint=0x2FFF, blacklist_characters="\x7f"),
        max_size=80,
    )
)
def test_any_bearer_token_is_a_4xx_with_an_error_body(
    server: LocalRuntimeServer, token: str
) -> None:
    response = _backends_with(server, f"Bearer {token}".encode())
    assert response.status_code == 401, (token, response.text)
    assert response.json()["errors"][0]["message"]
