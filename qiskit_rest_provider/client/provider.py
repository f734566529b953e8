"""``QiskitRestProvider``: the entry point, with ``QiskitRuntimeService``'s surface.

The names, parameters and semantics follow qiskit-ibm-runtime 0.51's ``QiskitRuntimeService``
wherever they make sense over REST (``docs/migration.md`` lists every name, generated from the
installed official package by ``tools/migration_table.py``). One provider serves one instance:
an ``instance=`` argument naming another one is refused rather than silently ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..api.accounts import (
    DEFAULT_CHANNEL,
    Account,
    AccountError,
    check_channel,
    load_account,
    normalize_proxies,
    parse_crn,
)
from ..api.accounts import delete_account as _delete_account
from ..api.accounts import save_account as _save_account
from ..api.accounts import saved_accounts as _saved_accounts
from ..api.auth import Authenticator, BearerTokenAuthenticator, IAMAuthenticator
from ..api.client import RuntimeRestClient
from ..api.discovery import DiscoveredInstance, choose_instance, list_instances
from ..api.errors import NotFoundError, QiskitRestError
from ..api.submission import submit_job
from ..api.transport import DEFAULT_API_VERSION, RetryPolicy, Timeouts, Transport, make_session
from ..wire.constants import EXECUTOR_PROGRAM
from ..wire.times import to_utc_iso
from .backend import BackendStatus, RestBackend
from .backend_run import BACKEND_RUN_TAG, BackendRunJob
from .context import ClientContext
from .job import RuntimeJob, wait_for_jobs

__all__ = ["QiskitRestProvider"]


class QiskitRestProvider:
    """Connects to a Qiskit Runtime REST API instance.

    Credentials are resolved in this order: an explicit ``token`` (IBM Cloud API key) or
    ``bearer_token``; a saved account given by ``name``; the ``QISKIT_IBM_*`` environment
    variables; the default saved account (of ``channel``, if given). Without an instance (or
    with ``instance="auto"``) the constructor finds the API key's instances through IBM Cloud's
    Global Search and Global Catalog and uses the preferred one (see ``region``,
    ``plans_preference``, ``tags`` and :mod:`qiskit_rest_provider.api.discovery`); otherwise
    it does no network I/O.

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
        proxies: ``requests``-style proxies (or the official client's ``{"urls": {...}}``),
            used for IAM too.
        verify: TLS verification: ``True`` (default), ``False`` or a CA-bundle path. A CA
            bundle or ``False`` given here wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
            (which apply only when nothing is configured).
        api_version: The ``IBM-API-Version`` header.
        timeouts: Connect/read timeouts for every request.
        retry: Retry policy for idempotent requests.
        region: With no instance: use one in this region (``us-east``, ``eu-de``).
        plans_preference: With no instance: use one on these plans, in this order of
            preference (``["open"]``, ``["premium", "flex"]``...).
        tags: With no instance: use one that carries all these IBM Cloud tags.
        channel: The official client's channel, ``"ibm_quantum_platform"`` (default) or
            ``"ibm_cloud"`` (both reach the same service); without a token or name it picks
            the default saved account of that channel.
    """

    #: Whether this is qiskit-ibm-runtime's local testing mode (never: the local mode here is a
    #: real service, :class:`~qiskit_rest_provider.server.LocalRuntimeServer`, reached by REST).
    is_local: bool = False

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
        proxies: Mapping[str, Any] | None = None,
        verify: bool | str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        channel: str | None = None,
        region: str | None = None,
        plans_preference: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        account = self._resolve_account(
            token,
            None if instance == "auto" else instance,  # "auto": discover, as the official client
            url,
            name,
            filename,
            iam_url,
            bearer_token,
            normalize_proxies(proxies),
            verify,
            check_channel(channel),
        )
        session = make_session(proxies=account.proxies, verify=account.verify)
        auth: Authenticator
        if account.bearer_token:
            auth = BearerTokenAuthenticator(account.bearer_token)
        elif account.token:
            auth = IAMAuthenticator(
                account.token, iam_url=account.resolved_iam_url, session=session
            )
        else:
            raise AccountError("An API key (token) or a bearer token is required.")
        #: Instances found by discovery (None until discovery ran).
        self._discovered: list[DiscoveredInstance] | None = None
        if not account.instance:
            # No instance: find the key's instances as the official client does (IBM Cloud
            # Global Search and Global Catalog) and use the preferred one.
            self._discovered = list_instances(
                session, auth, api_url=account.url, timeouts=timeouts, retry=retry
            )
            chosen = choose_instance(
                self._discovered,
                region=region or account.region,
                plans_preference=plans_preference or account.plans_preference,
                tags=tags or account.tags,
            )
            account = dataclasses.replace(account, instance=chosen.crn)
        self._account = account.validate()
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
        channel: str | None,
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
                    channel=channel,
                )
            except AccountError as exc:
                if env_instance is None:
                    raise
                raise AccountError(f"QISKIT_IBM_INSTANCE: {exc}") from None
        if name is not None:
            # The name wins over the channel, as in the official client.
            account = load_account(name, filename=filename)
        else:
            env = Account.from_env()
            if env is not None and channel is not None:
                env = dataclasses.replace(env, channel=channel)
            account = (
                env if env is not None else load_account(None, filename=filename, channel=channel)
            )
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

    @property
    def channel(self) -> str:
        """The official client's channel of the account (``"ibm_quantum_platform"`` unless
        the account says ``"ibm_cloud"``)."""
        return self._account.channel or DEFAULT_CHANNEL

    def active_account(self) -> dict[str, Any]:
        """The account in use, as the official client shows it (``channel``, ``url``,
        ``instance``, ``verify``, ...) but with its secrets hidden, plus ``name`` and the
        ``api_url`` requests go to."""
        shown = self._account.redacted()
        shown.setdefault("channel", self.channel)
        return shown

    def active_instance(self) -> str:
        """The CRN of the instance in use (the only one: a provider serves one instance)."""
        return str(self._account.instance)

    def instances(self) -> list[dict[str, Any]]:
        """The instances the API key may use, in the official client's shape: dicts with
        ``crn``, ``plan``, ``name``, ``tags`` and ``pricing_type``, found through IBM Cloud's
        Global Search and Global Catalog (once; a provider made without an instance already
        asked them). The provider itself uses :meth:`active_instance`."""
        if self._discovered is None:
            self._discovered = list_instances(
                self._transport.session,
                self._transport.authenticator,
                api_url=self._account.url,
                timeouts=self._transport.timeouts,
                retry=self._transport.retry,
            )
        return [i.to_dict() for i in self._discovered]

    def _check_instance(self, instance: str | None, call: str) -> None:
        """Refuse an ``instance=`` argument that names another instance than the provider's."""
        if instance is None or instance == self._account.instance:
            return
        # A malformed one is refused as everywhere else, never echoing the account's secrets.
        secrets = [s for s in (self._account.token, self._account.bearer_token) if s]
        parse_crn(instance, secrets=secrets)
        raise AccountError(
            f"{call}(instance=...) names another instance than this provider's: a "
            "QiskitRestProvider serves one instance (see active_instance()). Create a "
            "QiskitRestProvider(instance=...) for the other one."
        )

    # Saved accounts (static, as in QiskitRuntimeService) --------------------------------------

    @staticmethod
    def save_account(
        token: str | None = None,
        url: str | None = None,
        instance: str | None = None,
        channel: str | None = None,
        filename: str | os.PathLike[str] | None = None,
        name: str | None = None,
        proxies: Mapping[str, Any] | None = None,
        verify: bool | str | None = None,
        overwrite: bool | None = False,
        set_as_default: bool | None = None,
        private_endpoint: bool | None = False,
        region: str | None = None,
        plans_preference: list[str] | None = None,
        tags: list[str] | None = None,
        *,
        iam_url: str | None = None,
        bearer_token: str | None = None,
    ) -> None:
        """Save an account to disk, as ``QiskitRuntimeService.save_account`` does (same
        parameters, in the same order).

        The accounts file (``~/.qiskit/qiskit-rest-provider.json``, ``$QISKIT_REST_ACCOUNTS_FILE``
        or ``filename``) is written atomically with mode 0600. Saving over an existing name needs
        ``overwrite=True``. ``set_as_default=True`` makes the account the default one (no other
        account stays default); the first account saved becomes the default.

        Args:
            token: IBM Cloud API key.
            url: API URL; the default (None, or IBM Cloud's ``https://cloud.ibm.com`` as the
                official client writes it) derives the host from the instance's region.
            instance: The instance CRN (required: see Raises).
            channel: ``"ibm_quantum_platform"`` (default, or ``$QISKIT_IBM_CHANNEL``) or
                ``"ibm_cloud"``.
            filename: Accounts file to write.
            name: Account name (``"default"`` if omitted).
            proxies: ``requests``-style proxies or the official ``{"urls": {...}}``.
            verify: TLS verification: True (default), False or a CA-bundle path.
            overwrite: Replace an account of the same name.
            set_as_default: Make this the default account.
            private_endpoint: Only False: see Raises.
            region: Instance-selection preference (``us-east``/``eu-de``): validated and
                stored; like the official client, ignored because an instance is given.
            plans_preference: Likewise, a list of plan names.
            tags: Likewise, a list of instance tags.
            iam_url: IAM URL override (ours).
            bearer_token: A ready bearer token instead of an API key (ours).

        Raises:
            AccountError: no ``instance`` (the official client would discover one through IBM
                Cloud's Global Search; this client needs the CRN), ``private_endpoint=True``
                (pass the private endpoint's URL as ``url=``), an invalid channel, CRN, URL,
                region or proxies, or the name exists and ``overwrite`` is not set.
        """
        if private_endpoint:
            raise AccountError(
                "private_endpoint=True is not supported: pass the private endpoint's API URL "
                "as url=... (hosts are derived only for IBM's public endpoints)."
            )
        if instance == "auto":
            instance = None  # discovered when the account is used, as by the official client
        _save_account(
            token=token,
            instance=instance,
            url=url,
            name=name,
            iam_url=iam_url,
            bearer_token=bearer_token,
            proxies=proxies,
            verify=True if verify is None else verify,
            set_as_default=set_as_default,
            overwrite=bool(overwrite),
            filename=filename,
            channel=check_channel(channel) or _channel_from_env(),
            region=region,
            plans_preference=plans_preference,
            tags=tags,
        )

    @staticmethod
    def saved_accounts(
        default: bool | None = None,
        channel: str | None = None,
        filename: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The saved accounts by name, as ``QiskitRuntimeService.saved_accounts`` lists them
        (same parameters), but with secrets hidden. Each entry also says ``is_default``;
        an entry that cannot be loaded is listed with its ``error``.

        Args:
            default: True: only the default account; False: all others.
            channel: Only accounts of this channel (one saved without a channel counts as
                ``"ibm_quantum_platform"``).
            filename: Accounts file to read.
            name: Only the account of this name.
        """
        return _saved_accounts(default=default, name=name, filename=filename, channel=channel)

    @staticmethod
    def delete_account(
        filename: str | os.PathLike[str] | None = None,
        name: str | None = None,
        channel: str | None = None,
    ) -> bool:
        """Delete a saved account, as ``QiskitRuntimeService.delete_account`` does (same
        parameters). True if an account was deleted, False if none matched.

        Args:
            filename: Accounts file to change.
            name: The account's name; without one, the account named ``"default"``.
            channel: Without a name: delete the ``"default"`` account only if it is of this
                channel (ignored when a name is given, as in the official client).
        """
        return _delete_account(name, filename=filename, channel=channel)

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
        instance: str | None = None,
        dynamic_circuits: bool | None = None,
        filters: Callable[[RestBackend], bool] | None = None,
        *,
        use_fractional_gates: bool | None = False,
        calibration_id: str | None = None,
        include_mocks: bool = False,
        simulator: bool | None = None,
        operational: bool | None = None,
        **kwargs: Any,
    ) -> list[RestBackend]:
        """Backends of the instance that match every given criterion (the parameters of
        ``QiskitRuntimeService.backends``, in its order).

        ``GET /v1/backends`` answers ``name``, ``min_num_qubits``, ``simulator`` and
        ``operational`` (``status.name == "online"``) without further requests;
        ``dynamic_circuits`` and ``**kwargs`` fetch the configuration of the remaining
        candidates: a keyword names a configuration field (``open_pulse=False``,
        ``n_qubits=7``) or, failing that, a field of :meth:`RestBackend.status`
        (``status_msg="active"``), compared for equality as Qiskit's ``filter_backends`` does;
        a backend without that field does not match. ``filters`` is a callable applied last.

        Args:
            name: Only the backend of this name.
            min_num_qubits: Only backends with at least this many qubits.
            instance: The provider's own instance CRN, or None (see Raises).
            dynamic_circuits: Whether the backend must (or must not) support dynamic circuits.
            filters: A predicate on the backend.
            use_fractional_gates: Offer fractional gates (``rzz``, ``rx``) in the Targets.
                None, which the official client reads as "fractional gates and control flow",
                is True here: control flow stays in the Target either way.
            calibration_id: Pin the backends to this calibration.
            include_mocks: Include the dry-run (``mock``) backends of the listing.
            simulator: Whether the backend must (or must not) be a simulator.
            operational: Whether the backend must (or must not) be online.
            **kwargs: Configuration or status fields compared for equality.

        Raises:
            AccountError: ``instance`` names another instance than the provider's.
        """
        self._check_instance(instance, "backends")
        devices = self._client.list_backends(include_mocks=include_mocks)
        result: list[RestBackend] = []
        for device in devices:
            dev_name = str(device.get("name", ""))
            if not dev_name or (device.get("class") == "mock" and not include_mocks):
                continue
            if name is not None and dev_name != name:
                continue
            if simulator is not None and bool(device.get("is_simulator")) != simulator:
                continue
            status = device.get("status")
            state = status.get("name") if isinstance(status, Mapping) else status
            if operational is not None and (state == "online") != operational:
                continue
            qubits = device.get("qubits")
            if (
                min_num_qubits is not None
                and isinstance(qubits, int)
                and not isinstance(qubits, bool)
                and qubits < min_num_qubits
            ):
                continue
            backend = self._backend_object(dev_name, device, use_fractional_gates, calibration_id)
            if _matches(backend, qubits, min_num_qubits, dynamic_circuits, kwargs) and (
                filters is None or filters(backend)
            ):
                result.append(backend)
        return result

    def backend(
        self,
        name: str,
        instance: str | None = None,
        use_fractional_gates: bool | None = False,
        calibration_id: str | None = None,
    ) -> RestBackend:
        """A backend by name (the parameters of ``QiskitRuntimeService.backend``).

        Does no I/O, unlike the official client: an unknown name fails on first use with
        :class:`~qiskit_rest_provider.api.errors.NotFoundError`, an unknown ``calibration_id``
        likewise. Use :meth:`get_backend` to check existence immediately.

        Args:
            name: The backend's name.
            instance: The provider's own instance CRN, or None (another one is refused).
            use_fractional_gates: Offer fractional gates (``rzz``, ``rx``) in the Target
                (None: as True, see :meth:`backends`).
            calibration_id: Pin the backend to this calibration.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("backend name must be a non-empty string")
        self._check_instance(instance, "backend")
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
        instance: str | None = None,
        filters: Callable[[RestBackend], bool] | None = None,
        use_fractional_gates: bool | None = False,
        *,
        simulator: bool | None = False,
        **kwargs: Any,
    ) -> RestBackend:
        """The operational backend with the shortest queue (``queue_length`` of the listing)
        among those matching the criteria (the parameters of
        ``QiskitRuntimeService.least_busy``; ties go to the first listed).

        ``simulator=False`` (ours) leaves simulators out; pass None to consider them too.
        ``**kwargs`` are filters as in :meth:`backends` (``operational=True`` is implied).

        Raises:
            QiskitRestError: no operational backend matches.
            AccountError: ``instance`` names another instance than the provider's.
        """
        operational = kwargs.pop("operational", True)
        candidates = self.backends(
            min_num_qubits=min_num_qubits,
            instance=instance,
            filters=filters,
            use_fractional_gates=use_fractional_gates,
            simulator=simulator,
            operational=operational,
            **kwargs,
        )
        if not candidates:
            raise QiskitRestError(
                "least_busy(): no operational backend matches the given criteria; "
                "backends() lists what the instance offers."
            )
        return min(candidates, key=lambda b: _queue_length(b.listing))

    def _backend_object(
        self,
        name: str,
        listing: Mapping[str, Any] | None,
        use_fractional_gates: bool | None,
        calibration_id: str | None,
    ) -> RestBackend:
        # The official client's None means "fractional gates and control flow"; with True our
        # Target keeps control flow too, so None is True.
        use_fractional_gates = True if use_fractional_gates is None else bool(use_fractional_gates)
        key = (name, use_fractional_gates, calibration_id)
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
        if program_id == EXECUTOR_PROGRAM:
            # registers the executor's result reader; without the extra, result() says what
            # to install
            with contextlib.suppress(ImportError):
                from . import executor  # noqa: F401
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
        instance: str | None = None,
        job_tags: Sequence[str] | None = None,
        session_id: str | None = None,
        created_after: _dt.datetime | None = None,
        created_before: _dt.datetime | None = None,
        descending: bool = True,
        include_mocks: bool = False,
        *,
        page_size: int = 50,
    ) -> list[RuntimeJob]:
        """Jobs matching every given filter, newest first unless ``descending=False`` (the
        parameters of ``QiskitRuntimeService.jobs``, in its order).

        A list of at most ``limit`` jobs (``None``: all), fetched in pages of ``page_size``;
        :meth:`iter_jobs` yields the same jobs lazily, page by page. Naive datetimes are local
        time.

        Args:
            limit: The most jobs to return; None for all.
            skip: Jobs to skip first.
            backend_name: Only jobs of this backend.
            pending: True: only queued or running jobs; False: only final ones.
            program_id: Only jobs of this program (``sampler``, ``estimator``).
            instance: The provider's own instance CRN, or None (another one is refused).
            job_tags: Only jobs carrying every one of these tags.
            session_id: Only jobs of this session.
            created_after: Only jobs created at or after this time.
            created_before: Only jobs created at or before this time.
            descending: Newest first (True) or oldest first.
            include_mocks: Include the jobs of mock (dry-run) backends.
            page_size: Jobs per request, 1 to 200 (ours).

        Raises:
            ValueError: a negative ``limit`` or ``skip``, a ``page_size`` out of range, or
                ``job_tags`` that is not a list of strings.
            AccountError: ``instance`` names another instance than the provider's.
        """
        return list(
            self.iter_jobs(
                limit,
                skip,
                backend_name,
                pending,
                program_id,
                instance,
                job_tags,
                session_id,
                created_after,
                created_before,
                descending,
                include_mocks,
                page_size=page_size,
            )
        )

    def iter_jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        instance: str | None = None,
        job_tags: Sequence[str] | None = None,
        session_id: str | None = None,
        created_after: _dt.datetime | None = None,
        created_before: _dt.datetime | None = None,
        descending: bool = True,
        include_mocks: bool = False,
        *,
        page_size: int = 50,
    ) -> Iterator[RuntimeJob]:
        """The jobs of :meth:`jobs` (same parameters), as a lazy iterator: pages of
        ``page_size`` jobs are fetched as it is consumed. The arguments are checked now, before
        the first request."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0 or None")
        if skip < 0:
            raise ValueError("skip must be >= 0")
        if not 1 <= page_size <= 200:
            raise ValueError("page_size must be between 1 and 200")
        if job_tags is not None and (
            isinstance(job_tags, str) or not all(isinstance(t, str) for t in job_tags)
        ):
            raise ValueError("job_tags must be a list of strings, e.g. job_tags=['exp-7']")
        self._check_instance(instance, "jobs")
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
                "include_mocks": include_mocks,
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
        """Usage of the instance (``GET /v1/instances/usage``), as the official client returns
        it: the service's document (``usage_consumed_seconds``, and where the plan has them
        ``usage_limit_seconds``/``usage_allocation_seconds``, ``usage_limit_reached``,
        ``usage_period``), plus ``usage_remaining_seconds`` when the service states a limit or
        an allocation: the limit (else the allocation) minus the consumption, at least 0."""
        document: dict[str, Any] = dict(self._client.usage())
        limit = document.get("usage_limit_seconds")
        if not _is_number(limit):
            limit = document.get("usage_allocation_seconds")
        consumed = document.get("usage_consumed_seconds", 0)
        has_budget = any(
            _is_number(document.get(k)) and document[k]
            for k in ("usage_limit_seconds", "usage_allocation_seconds")
        )
        if has_budget and _is_number(limit) and _is_number(consumed):
            document["usage_remaining_seconds"] = max(limit - consumed, 0)
        return document


class _Missing:
    pass


_MISSING = _Missing()

#: The fields of :class:`BackendStatus` a ``backends(**kwargs)`` filter may name.
_STATUS_FIELDS = frozenset(f.name for f in dataclasses.fields(BackendStatus))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _queue_length(listing: Mapping[str, Any]) -> int:
    value = listing.get("queue_length")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _channel_from_env() -> str:
    """``$QISKIT_IBM_CHANNEL`` (validated) or the default channel, as the official client
    picks the channel of an account saved without one."""
    return (
        check_channel(os.environ.get("QISKIT_IBM_CHANNEL") or None, source="QISKIT_IBM_CHANNEL")
        or DEFAULT_CHANNEL
    )


def _matches(
    backend: RestBackend,
    listed_qubits: object,
    min_num_qubits: int | None,
    dynamic_circuits: bool | None,
    criteria: Mapping[str, Any],
) -> bool:
    """The checks of ``backends()`` that need the backend's configuration (or status)."""
    if (
        min_num_qubits is not None
        and not (isinstance(listed_qubits, int) and not isinstance(listed_qubits, bool))
        and backend.configuration().n_qubits < min_num_qubits
    ):
        return False  # the listing did not say; the configuration does
    if dynamic_circuits is not None and (
        backend.configuration().supports_dynamic_circuits != dynamic_circuits
    ):
        return False
    status: BackendStatus | None = None
    for key, value in criteria.items():
        found = backend.configuration().get(key, _MISSING)
        if found is _MISSING and key in _STATUS_FIELDS:
            status = status or backend.status()
            found = getattr(status, key)
        if found != value:
            return False
    return True
