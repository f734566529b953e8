"""``QiskitRestProvider``: the entry point, with a ``QiskitRuntimeService``-style surface."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..api.accounts import Account, AccountError, load_account
from ..api.auth import Authenticator, BearerTokenAuthenticator, IAMAuthenticator
from ..api.client import RuntimeRestClient
from ..api.errors import NotFoundError, QiskitRestError
from ..api.submission import submit_job
from ..api.transport import DEFAULT_API_VERSION, RetryPolicy, Timeouts, Transport, make_session
from ..wire.times import to_utc_iso
from .backend import RestBackend
from .backend_run import BACKEND_RUN_TAG, BackendRunJob
from .context import ClientContext
from .job import RuntimeJob, wait_for_jobs

__all__ = ["QiskitRestProvider"]


class QiskitRestProvider:
    """Connects to a Qiskit Runtime REST API instance.

    Credentials are resolved in this order: an explicit ``token`` (IBM Cloud API key) or
    ``bearer_token``; a saved account given by ``name``; the ``QISKIT_IBM_*`` environment
    variables; the default saved account. The constructor does no network I/O.

    Args:
        token: IBM Cloud API key.
        instance: The instance CRN, validated strictly; its region picks the host for the
            known public regions (``us-east``, ``eu-de``).
        url: API URL override (a host root, ``…/api`` or ``…/api/v1``); required for a CRN
            of any other region.
        name: Name of a saved account.
        filename: Accounts file to read saved accounts from.
        iam_url: IAM URL override.
        bearer_token: A ready access token instead of an API key.
        proxies: ``requests``-style proxies, used for IAM too.
        verify: TLS verification: ``True`` (default), ``False`` or a CA-bundle path. A CA
            bundle or ``False`` given here wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
            (which apply only when nothing is configured).
        api_version: The ``IBM-API-Version`` header.
        timeouts: Connect/read timeouts for every request.
        retry: Retry policy for idempotent requests.
    """

    def __init__(
        self,
        token: str | None = None,
        instance: str | None = None,
        url: str | None = None,
        *,
        name: str | None = None,
        filename: str | os.PathLike[str] | None = None,
        iam_url: str | None = None,
        bearer_token: str | None = None,
        proxies: dict[str, str] | None = None,
        verify: bool | str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        account = self._resolve_account(
            token, instance, url, name, filename, iam_url, bearer_token, proxies, verify
        )
        self._account = account.validate()
        session = make_session(proxies=account.proxies, verify=account.verify)
        auth: Authenticator
        if account.bearer_token:
            auth = BearerTokenAuthenticator(account.bearer_token)
        else:
            assert account.token is not None
            auth = IAMAuthenticator(
                account.token, iam_url=account.resolved_iam_url, session=session
            )
        self._transport = Transport(
            account.api_url,
            auth,
            service_crn=account.instance,
            session=session,
            api_version=api_version,
            timeouts=timeouts,
            retry=retry,
        )
        self._client = RuntimeRestClient(self._transport)
        self._context = ClientContext(
            self._client, instance=account.instance, backend_lookup=self.backend, owner=self
        )
        self._lock = threading.Lock()
        self._backend_cache: dict[tuple[str, bool, str | None], RestBackend] = {}

    @staticmethod
    def _resolve_account(
        token: str | None,
        instance: str | None,
        url: str | None,
        name: str | None,
        filename: str | os.PathLike[str] | None,
        iam_url: str | None,
        bearer_token: str | None,
        proxies: dict[str, str] | None,
        verify: bool | str | None,
    ) -> Account:
        if token or bearer_token:
            env_instance = None if instance else os.environ.get("QISKIT_IBM_INSTANCE") or None
            try:
                return Account(
                    instance=instance or env_instance,
                    token=token,
                    bearer_token=bearer_token,
                    url=url,
                    iam_url=iam_url,
                    proxies=proxies,
                    verify=True if verify is None else verify,
                    name=None,
                )
            except AccountError as exc:
                if env_instance is None:
                    raise
                raise AccountError(f"QISKIT_IBM_INSTANCE: {exc}") from None
        if name is not None:
            account = load_account(name, filename=filename)
        else:
            env = Account.from_env()
            account = env if env is not None else load_account(None, filename=filename)
        # Explicit arguments override what was loaded. ``replace`` builds a new Account, so the
        # overrides go through the same validation (CRN, URLs) as every other entry point.
        overrides: dict[str, Any] = {}
        if instance:
            overrides["instance"] = instance
        if url:
            overrides["url"] = url
        if iam_url:
            overrides["iam_url"] = iam_url
        if proxies:
            overrides["proxies"] = proxies
        if verify is not None:
            overrides["verify"] = verify
        return dataclasses.replace(account, **overrides) if overrides else account

    def __repr__(self) -> str:
        return f"<QiskitRestProvider(url={self._account.api_url!r}, instance=...)>"

    # Accessors --------------------------------------------------------------------------------

    @property
    def client(self) -> RuntimeRestClient:
        """The low-level REST client (one method per endpoint)."""
        return self._client

    @property
    def context(self) -> ClientContext:
        """What this provider's backends, jobs and sessions share (REST client, Target cache)."""
        return self._context

    @property
    def transport(self) -> Transport:
        """The HTTP transport (session, retries, timeouts, counters)."""
        return self._transport

    @property
    def instance(self) -> str | None:
        """The instance CRN requests are made for."""
        return self._account.instance

    def active_account(self) -> dict[str, Any]:
        """The account in use, secrets hidden."""
        return self._account.redacted()

    def close(self) -> None:
        """Close the HTTP session."""
        self._transport.close()

    def __enter__(self) -> QiskitRestProvider:
        """Use the provider as a context manager: its HTTP session closes on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Backends ---------------------------------------------------------------------------------

    def backends(
        self,
        name: str | None = None,
        min_num_qubits: int | None = None,
        simulator: bool | None = None,
        operational: bool | None = None,
        dynamic_circuits: bool | None = None,
        filters: Callable[[RestBackend], bool] | None = None,
        *,
        use_fractional_gates: bool = False,
        **kwargs: Any,
    ) -> list[RestBackend]:
        """Backends of the instance that match every given criterion.

        ``GET /v1/backends`` answers ``name``, ``min_num_qubits``, ``simulator`` and
        ``operational``; ``dynamic_circuits`` and ``**kwargs`` (configuration fields compared
        for equality, e.g. ``open_pulse=False``) fetch the configuration of the remaining
        candidates; ``filters`` is a callable applied last.
        """
        devices = self._client.list_backends()
        result: list[RestBackend] = []
        for device in devices:
            dev_name = str(device.get("name", ""))
            if not dev_name or device.get("class") == "mock":
                continue
            if name is not None and dev_name != name:
                continue
            qubits = device.get("qubits")
            if min_num_qubits is not None and (
                not isinstance(qubits, int) or qubits < min_num_qubits
            ):
                continue
            if simulator is not None and bool(device.get("is_simulator")) != simulator:
                continue
            status = device.get("status")
            state = status.get("name") if isinstance(status, Mapping) else status
            if operational is not None and (state == "online") != operational:
                continue
            backend = self._backend_object(dev_name, device, use_fractional_gates, None)
            if dynamic_circuits is not None and (
                backend.configuration().supports_dynamic_circuits != dynamic_circuits
            ):
                continue
            if kwargs:
                config = backend.configuration()
                if any(config.get(k, _MISSING) != v for k, v in kwargs.items()):
                    continue
            if filters is not None and not filters(backend):
                continue
            result.append(backend)
        return result

    def backend(
        self,
        name: str,
        *,
        use_fractional_gates: bool = False,
        calibration_id: str | None = None,
    ) -> RestBackend:
        """A backend by name. Does no I/O; an unknown name fails on first use with
        :class:`~qiskit_rest_provider.api.errors.NotFoundError`. Use :meth:`get_backend` to
        check existence immediately."""
        if not isinstance(name, str) or not name:
            raise ValueError("backend name must be a non-empty string")
        return self._backend_object(name, None, use_fractional_gates, calibration_id)

    def get_backend(self, name: str, **kwargs: Any) -> RestBackend:
        """Like :meth:`backend`, but fetch the configuration now (fails fast on unknown names)."""
        backend = self.backend(name, **kwargs)
        try:
            backend.configuration()
        except NotFoundError:
            raise NotFoundError(f"no backend named {name!r}", status_code=404) from None
        return backend

    def least_busy(
        self,
        min_num_qubits: int | None = None,
        *,
        simulator: bool | None = False,
        filters: Callable[[RestBackend], bool] | None = None,
        **kwargs: Any,
    ) -> RestBackend:
        """The operational backend with the shortest queue among those matching the filters."""
        candidates = self.backends(
            min_num_qubits=min_num_qubits,
            simulator=simulator,
            operational=True,
            filters=filters,
            **kwargs,
        )
        if not candidates:
            raise QiskitRestError("No operational backend matches the given criteria.")
        return min(candidates, key=lambda b: int(b.listing.get("queue_length") or 0))

    def _backend_object(
        self,
        name: str,
        listing: Mapping[str, Any] | None,
        use_fractional_gates: bool,
        calibration_id: str | None,
    ) -> RestBackend:
        key = (name, bool(use_fractional_gates), calibration_id)
        with self._lock:
            backend = self._backend_cache.get(key)
            if backend is None:
                backend = RestBackend(
                    name,
                    self._context,
                    listing=listing,
                    use_fractional_gates=use_fractional_gates,
                    calibration_id=calibration_id,
                )
                self._backend_cache[key] = backend
            elif listing:
                backend.update_listing(listing)
        return backend

    # Jobs -------------------------------------------------------------------------------------

    def job(self, job_id: str) -> RuntimeJob:
        """A job by id, fetched now. Jobs made by ``backend.run()`` come back as
        :class:`~qiskit_rest_provider.client.backend_run.BackendRunJob` (their result is a
        ``qiskit.result.Result``); every other job as :class:`RuntimeJob`."""
        return self._job_from_document(self._client.get_job(job_id, exclude_params=True))

    def _job_from_document(self, document: Mapping[str, Any]) -> RuntimeJob:
        program = document.get("program")
        program_id = str(program.get("id")) if isinstance(program, Mapping) else ""
        tags = document.get("tags") or []
        cls = BackendRunJob if BACKEND_RUN_TAG in tags else RuntimeJob
        return cls(
            str(document["id"]),
            self._context,
            program_id=program_id,
            document=document,
        )

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        job_tags: Sequence[str] | None = None,
        session_id: str | None = None,
        created_after: _dt.datetime | None = None,
        created_before: _dt.datetime | None = None,
        descending: bool = True,
        *,
        page_size: int = 50,
    ) -> Iterator[RuntimeJob]:
        """Jobs matching every given filter, newest first unless ``descending=False``.

        A lazy iterator: pages of ``page_size`` jobs are fetched as it is consumed, until
        ``limit`` jobs (``None``: all) have been yielded. Naive datetimes are local time.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0 or None")
        if skip < 0:
            raise ValueError("skip must be >= 0")
        if not 1 <= page_size <= 200:
            raise ValueError("page_size must be between 1 and 200")
        return self._iter_jobs(
            limit,
            skip,
            page_size,
            {
                "backend": backend_name,
                "pending": pending,
                "program": program_id,
                "tags": list(job_tags or ()),
                "session_id": session_id,
                "created_after": to_utc_iso(created_after) if created_after else None,
                "created_before": to_utc_iso(created_before) if created_before else None,
                "descending": descending,
            },
        )

    def _iter_jobs(
        self, limit: int | None, skip: int, page_size: int, filters: dict[str, Any]
    ) -> Iterator[RuntimeJob]:
        yielded = 0
        offset = skip
        while limit is None or yielded < limit:
            size = page_size if limit is None else min(page_size, limit - yielded)
            page = self._client.list_jobs(limit=size, offset=offset, **filters)
            documents = page.get("jobs") or []
            for document in documents:
                yield self._job_from_document(document)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            offset += len(documents)
            total = page.get("count")
            if not documents or (isinstance(total, int) and offset >= total):
                return

    def delete_job(self, job_id: str) -> None:
        """Delete a job in a final state (its result and inputs go with it)."""
        self._client.delete_job(job_id)

    def run(
        self,
        program_id: str,
        inputs: Mapping[str, Any],
        backend: str | RestBackend,
        *,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
        log_level: str = "WARNING",
        max_execution_time: int | None = None,
    ) -> RuntimeJob:
        """Submit raw ``params`` (already in wire form) to any program.

        ``inputs`` goes unchanged into ``params``; no pre-flight check is made. Use the
        primitives for sampler and estimator work.
        """
        name = backend if isinstance(backend, str) else backend.name
        body: dict[str, Any] = {
            "program_id": program_id,
            "backend": name,
            "params": dict(inputs),
            "log_level": log_level.upper(),
        }
        if session_id:
            body["session_id"] = session_id
        if tags:
            body["tags"] = list(tags)
        if max_execution_time is not None:
            body["cost"] = int(max_execution_time)
        created = submit_job(self._client, body)
        return RuntimeJob(
            str(created["id"]),
            self._context,
            program_id=program_id,
            backend_name=str(created.get("backend") or name),
            session_id=created.get("session_id") or session_id,
            tags=tags,
        )

    @staticmethod
    def wait_for_jobs(
        jobs: Iterable[RuntimeJob],
        timeout: float | None = None,
        *,
        callback: Callable[[RuntimeJob], None] | None = None,
    ) -> list[RuntimeJob]:
        """Wait until every job is final (see
        :func:`~qiskit_rest_provider.client.job.wait_for_jobs`)."""
        return wait_for_jobs(jobs, timeout, callback=callback)

    # Instance ---------------------------------------------------------------------------------

    def usage(self) -> dict[str, Any]:
        """Usage of the instance (``GET /v1/instances/usage``)."""
        return dict(self._client.usage())


class _Missing:
    pass


_MISSING = _Missing()
