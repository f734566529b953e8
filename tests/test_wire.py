"""The protocol vocabulary (``qiskit_rest_provider.wire``): its helpers, and the client and the
local service agreeing on it.

The helpers are checked as properties over wide inputs (hypothesis); the agreement by asking
both halves the same question (does this limit, state or name pass?) and comparing the answers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qiskit_rest_provider.wire.constants import (
    DD_SEQUENCE_TYPES,
    ERROR_MORE_INFO_URL,
    JOB_CANCELLED,
    JOB_FINAL_STATES,
    JOB_PENDING_STATES,
    JOB_QUEUED,
    JOB_STATES,
    MAX_COST_SECONDS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    REASON_MAX_EXECUTION_TIME,
)
from qiskit_rest_provider.wire.error_body import error_body, parse_error_body
from qiskit_rest_provider.wire.jwt import (
    b64url_decode,
    b64url_encode,
    jwt_claims,
    sign_hs256,
    verify_hs256,
)
from qiskit_rest_provider.wire.times import parse_iso, to_utc_iso, utcnow_iso

_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
_AWARE = st.datetimes(
    min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=_OFFSETS
)
_API_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"

# Times ------------------------------------------------------------------------------------------


@given(_AWARE)
def test_api_times_round_trip_to_the_millisecond(value: dt.datetime) -> None:
    text = to_utc_iso(value)
    assert len(text) == 24 and text.endswith("Z")
    parsed = parse_iso(text)
    assert parsed is not None and parsed.utcoffset() == dt.timedelta(0)
    assert value - parsed == dt.timedelta(microseconds=value.microsecond % 1000)


@pytest.mark.slow
@given(_AWARE, _AWARE)
def test_api_time_texts_sort_as_the_times_do(a: dt.datetime, b: dt.datetime) -> None:
    """The service filters jobs by comparing these texts in SQL; years before 1000 included."""
    if to_utc_iso(a) != to_utc_iso(b):
        assert (to_utc_iso(a) < to_utc_iso(b)) == (a < b)


def test_parse_iso_reads_the_api_and_its_variants() -> None:
    utc = dt.timezone.utc
    assert parse_iso("2025-06-01T11:59:58.123Z") == dt.datetime(2025, 6, 1, 11, 59, 58, 123000, utc)
    assert parse_iso(" 2025-06-01T12:00:00z ") == dt.datetime(2025, 6, 1, 12, tzinfo=utc)
    assert parse_iso("2025-06-01T14:00:00+02:00") == dt.datetime(2025, 6, 1, 12, tzinfo=utc)
    assert parse_iso("2025-06-01T12:00:00") == dt.datetime(2025, 6, 1, 12, tzinfo=utc)
    naive = parse_iso("2025-06-01T12:00:00", assume_utc=False)
    assert naive is not None and naive.tzinfo is None
    assert parse_iso(None) is None and parse_iso("") is None
    assert utcnow_iso() <= to_utc_iso(dt.datetime.now(utc))


@given(st.text(max_size=40))
def test_parse_iso_refuses_with_value_error_only(text: str) -> None:
    try:
        parsed = parse_iso(text)
    except ValueError:
        return
    assert parsed is None or parsed.tzinfo is not None


def test_calibration_times_have_whole_seconds() -> None:
    when = dt.datetime(2026, 11, 1, 6, 0, 0, 999999, dt.timezone.utc)
    assert to_utc_iso(when, timespec="seconds") == "2026-11-01T06:00:00Z"


@pytest.fixture(scope="module")
def service() -> Iterator[Any]:
    """A local service (not started: no dispatcher, no workers) holding one queued job,
    ``job-1`` of instance ``crn:a``."""
    from qiskit_rest_provider.server.service import LocalService

    local = LocalService(workers=0)
    local.store.insert_job(
        id="job-1",
        instance="crn:a",
        program="sampler",
        backend="b",
        status=JOB_QUEUED,
        created=utcnow_iso(),
        params="{}",
    )
    try:
        yield local
    finally:
        local.stop()


@pytest.mark.service
@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({"created_after": "0500-01-01T00:00:00Z"}, 1),
        ({"created_after": "0999-12-31T23:59:59Z"}, 1),
        ({"created_after": "1999-01-01T00:00:00Z"}, 1),
        ({"created_before": "0500-01-01T00:00:00Z"}, 0),
        ({"pending": "true"}, 1),
        ({"pending": "false"}, 0),
    ],
)
def test_job_listing_filters(service: Any, query: dict[str, str], count: int) -> None:
    """A ``created_after`` before year 1000 matches every job (its bound once lost a digit of
    the year and compared above every stored time); ``pending`` splits on the shared states."""
    assert service.list_jobs("crn:a", query)["count"] == count


# JWT --------------------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


_CLAIMS = st.dictionaries(
    st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20)), max_size=5
)


@given(_CLAIMS, st.binary(min_size=1, max_size=40))
def test_signed_tokens_verify_and_read(claims: dict[str, Any], secret: bytes) -> None:
    token = sign_hs256(claims, secret)
    assert token.isascii() and token.count(".") == 2
    assert verify_hs256(token, secret) == claims
    assert jwt_claims(token) == claims
    assert verify_hs256(token, secret + b"x") is None


@given(_CLAIMS, st.data())
def test_a_tampered_token_never_verifies(claims: dict[str, Any], data: st.DataObject) -> None:
    secret = b"secret"
    token = sign_hs256(claims, secret)
    i = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != token[i]))
    forged = token[:i] + replacement + token[i + 1 :]
    # The signature covers the header and payload *texts* and is compared as text: any edit
    # counts, even one that base64 would decode to the same bytes.
    assert verify_hs256(forged, secret) is None


@given(st.text(max_size=300))
def test_reading_claims_of_anything_never_raises(token: str) -> None:
    assert isinstance(jwt_claims(token), dict)
    assert verify_hs256(token, b"secret") is None


def test_claims_of_a_deeply_nested_payload_are_empty() -> None:
    payload = b64url_encode(b"[" * 100_000)
    assert jwt_claims(f"e30.{payload}.x") == {}


# Error body -------------------------------------------------------------------------------------


@given(st.one_of(st.text(min_size=1, max_size=20), st.integers()), st.text(max_size=200))
def test_error_bodies_serialise_and_read_back(code: str | int, message: str) -> None:
    body = error_body(code, message)
    text = json.dumps(body, ensure_ascii=False)
    text.encode("utf-8")  # a lone surrogate in the message was escaped
    parsed_code, parsed_message, solution, trace = parse_error_body(text)
    assert parsed_code == code and solution is None and trace == body["trace"]
    assert parsed_message == (body["errors"][0]["message"] or None)
    assert body["errors"][0]["more_info"] == ERROR_MORE_INFO_URL


def test_error_body_keeps_a_given_trace() -> None:
    assert error_body("x", "y", "trace-1")["trace"] == "trace-1"
    assert error_body("x", "y")["trace"] != error_body("x", "y")["trace"]


def test_the_old_import_paths_still_work() -> None:
    from qiskit_rest_provider.api.auth import jwt_claims as old_claims
    from qiskit_rest_provider.api.errors import parse_error_body as old_parse
    from qiskit_rest_provider.core.properties import parse_datetime
    from qiskit_rest_provider.server.store import utcnow_iso as old_now

    assert old_claims is jwt_claims and old_parse is parse_error_body and old_now is utcnow_iso
    assert parse_datetime("2025-06-01T12:00:00Z") == parse_iso("2025-06-01T12:00:00Z")


# The client and the service agree --------------------------------------------------------------


def test_the_client_understands_every_state_the_service_writes() -> None:
    from qiskit.providers import JobStatus

    from qiskit_rest_provider.client.job import job_status_from_document

    for state in JOB_STATES:
        status, _, _ = job_status_from_document({"state": {"status": state}})
        assert status is not JobStatus.INITIALIZING, state
        assert (status in (JobStatus.QUEUED, JobStatus.RUNNING)) == (state in JOB_PENDING_STATES)
        assert (state in JOB_FINAL_STATES) != (state in JOB_PENDING_STATES)
    timed_out = {"status": JOB_CANCELLED, "reason_code": REASON_MAX_EXECUTION_TIME}
    assert job_status_from_document({"state": timed_out})[0] is JobStatus.ERROR


def _client_accepts(**options: Any) -> bool:
    from qiskit_rest_provider.client.primitives import SamplerOptions

    try:
        SamplerOptions().update(**options)
    except (ValueError, TypeError):
        return False
    return True


def _service_accepts(options: dict[str, Any]) -> bool:
    from qiskit_rest_provider.server.validation import validate_options

    try:
        validate_options("sampler", options)
    except ValueError:
        return False
    return True


def _service_accepts_tags(service: Any, tags: list[str]) -> bool:
    from qiskit_rest_provider.server.service import ServiceError

    try:
        service.update_tags("crn:a", "job-1", tags)
    except ServiceError:
        return False
    return True


@pytest.mark.parametrize("sequence", [*DD_SEQUENCE_TYPES, "XZ", "xx", ""])
def test_client_and_service_agree_on_dd_sequences(sequence: str) -> None:
    client = _client_accepts(dynamical_decoupling={"sequence_type": sequence})
    service = _service_accepts({"dynamical_decoupling": {"sequence_type": sequence}})
    assert client == service == (sequence in DD_SEQUENCE_TYPES)


@pytest.mark.parametrize("seconds", [1, MAX_COST_SECONDS, MAX_COST_SECONDS + 1])
def test_client_and_service_agree_on_the_execution_time_limit(seconds: int) -> None:
    client = _client_accepts(max_execution_time=seconds)
    service = _service_accepts({"max_execution_time": seconds})
    assert client == service == (seconds <= MAX_COST_SECONDS)


@pytest.mark.service
@pytest.mark.parametrize(
    "tags",
    [
        ["a"] * MAX_TAGS,
        ["a"] * (MAX_TAGS + 1),
        ["x" * MAX_TAG_LENGTH],
        ["x" * (MAX_TAG_LENGTH + 1)],
    ],
)
def test_client_and_service_agree_on_tag_limits(service: Any, tags: list[str]) -> None:
    client = _client_accepts(environment={"job_tags": tags})
    fits = len(tags) <= MAX_TAGS and all(len(t) <= MAX_TAG_LENGTH for t in tags)
    assert client == _service_accepts_tags(service, tags) == fits


# The typed documents against the local service ------------------------------------------------


def _check_document(document: Any, model: Any, where: str) -> None:
    import typing

    hints = typing.get_type_hints(model)
    required = set(model.__required_keys__)
    assert required <= set(document), (where, sorted(required - set(document)))
    unknown = set(document) - set(hints) - {"class"}  # "class" cannot be a field name
    assert not unknown, (where, sorted(unknown))


@pytest.mark.service
def test_the_local_service_documents_match_the_wire_models(provider: Any) -> None:
    """Every document the service answers has the required keys of its model and no key the
    model does not name (so the models describe the wire, not a wish)."""
    from qiskit import QuantumCircuit

    from qiskit_rest_provider import SamplerV2, Session
    from qiskit_rest_provider.wire import models

    rest = provider.client
    for device in rest.list_backends():
        _check_document(device, models.DeviceEntry, "device")
    _check_document(rest.backend_status("local_falcon"), models.BackendStatusDocument, "status")
    backend = provider.backend("local_falcon")
    circuit = QuantumCircuit(1, 1)
    circuit.measure(0, 0)
    with Session(backend) as session:
        job = SamplerV2(session).run([circuit], shots=10)
        job.result()
        _check_document(rest.get_session(session.session_id), models.SessionDocument, "session")
    for exclude in (True, False):
        document = rest.get_job(job.job_id(), exclude_params=exclude)
        _check_document(document, models.JobDocument, "job")
    page = rest.list_jobs(limit=2)
    _check_document(page, models.JobsPage, "jobs page")
    for document in page["jobs"]:
        _check_document(document, models.JobDocument, "listed job")
    _check_document(rest.job_metrics(job.job_id()), models.JobMetrics, "metrics")
    _check_document(rest.usage(), models.UsageDocument, "usage")
