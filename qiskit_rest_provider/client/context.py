"""``ClientContext``: what the backends, jobs and sessions of one provider share.

A provider owns one context; every backend, job and session it makes holds that context instead
of the provider, so none of them needs the provider's internals: the REST client (one method per
endpoint), the instance, a cache of built Targets, and a way to look a backend up by name.

A context can also be *deferred*: made from an :class:`AccountReference` (where a provider's
backends live, without credentials) and connected on first use. Unpickled backends hold one
(see "Copies and pickles" in :mod:`qiskit_rest_provider.client.backend`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qiskit.transpiler import Target

from ..api.client import RuntimeRestClient
from ..core.configuration import BackendConfiguration
from ..core.properties import BackendProperties
from ..core.target import build_target
from ..errors import AccountError, AccountNotFoundError, BackendDataError

if TYPE_CHECKING:  # annotations only: backends hold a context, never the other way round
    from .backend import RestBackend

__all__ = [
    "AccountReference",
    "ClientContext",
    "DeferredContext",
    "TargetCache",
    "check_target_data",
]

#: The ``name`` an account read from the ``QISKIT_IBM_*`` environment variables carries.
_ENV_ACCOUNT_NAME = "env"


def check_target_data(config: BackendConfiguration, props: BackendProperties | None) -> Target:
    """Build a Target, turning any data problem into :class:`BackendDataError`."""
    try:
        return build_target(config, props)
    except BackendDataError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise BackendDataError(f"backend {config.backend_name}: {exc}") from exc


class TargetCache:
    """Built Targets, one per backend, configuration version, calibration and fractional flag
    (building a 156-qubit Target takes tens of milliseconds; backends and ``target_history``
    share them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[tuple[Any, ...], Target] = {}

    def get(
        self,
        name: str,
        config: BackendConfiguration,
        props: BackendProperties | None,
        fractional: bool,
    ) -> Target:
        """The Target of this configuration and calibration, built once."""
        raw_props = props.to_dict() if props is not None else {}
        key = (
            name,
            str(config.get("backend_version")),
            raw_props.get("last_update_date"),
            raw_props.get("calibration_id"),
            fractional,
            len(raw_props.get("qubits") or ()),
        )
        with self._lock:
            cached = self._targets.get(key)
        if cached is not None:
            return cached
        target = check_target_data(config, props)
        with self._lock:
            return self._targets.setdefault(key, target)

    def __len__(self) -> int:
        with self._lock:
            return len(self._targets)


@dataclass(frozen=True)
class AccountReference:
    """Where a provider's backends live, without any credential: what a pickled backend keeps
    so that another process can reconnect with credentials of its own.

    Reconnecting (:meth:`connect`, on a deferred context's first use):

    - an account saved under ``saved_name`` is loaded by that name from the accounts file of the
      unpickling process (``QISKIT_REST_ACCOUNTS_FILE`` or the default file); its instance must
      be ``instance``;
    - otherwise (the original provider got its credentials from arguments or the environment)
      the provider is built for ``instance`` at ``url`` with the API key of the unpickling
      process: ``QISKIT_IBM_TOKEN``, else its default saved account.

    Attributes:
        provider_class: The class of the original provider (pickled by reference, as any class).
        instance: The instance CRN, if the provider had one.
        url: The API URL the provider used (``None``: derived from the instance's region).
        iam_url: The IAM URL override, if any.
        verify: TLS verification as configured (``True``, ``False`` or a CA-bundle path).
        saved_name: The saved account the provider was built from, if any.
    """

    provider_class: Callable[..., Any]
    instance: str | None
    url: str | None
    iam_url: str | None
    verify: bool | str
    saved_name: str | None

    @classmethod
    def of_provider(cls, provider: Any) -> AccountReference:
        """The reference of a provider, from its public ``active_account()`` (secrets hidden;
        only the fields listed on this class are kept).

        Raises:
            TypeError: ``provider`` has no ``active_account()``.
        """
        active = getattr(provider, "active_account", None)
        if not callable(active):
            raise TypeError(
                f"{type(provider).__name__} has no active_account(): cannot tell which account "
                "its backends belong to"
            )
        account: Mapping[str, Any] = active()
        name = account.get("name")
        verify = account.get("verify", True)
        return cls(
            provider_class=type(provider),
            instance=_str_or_none(account.get("instance"))
            or _str_or_none(getattr(provider, "instance", None)),
            url=_str_or_none(account.get("url")),
            iam_url=_str_or_none(account.get("iam_url")),
            verify=verify if isinstance(verify, (bool, str)) else True,
            saved_name=name if isinstance(name, str) and name != _ENV_ACCOUNT_NAME else None,
        )

    def describe(self) -> str:
        """Where the backends live, for messages (never a credential: there is none here)."""
        where = f"instance {self.instance!r}" if self.instance else "no instance"
        at = f" at {self.url}" if self.url else ""
        saved = f" (saved account {self.saved_name!r})" if self.saved_name else ""
        return f"{where}{at}{saved}"

    def connect(self) -> ClientContext:
        """Build a provider for this reference and return its context.

        Raises:
            AccountNotFoundError: no credential is available in this process (the message says
                what to set).
            AccountError: the saved account is invalid or belongs to another instance.
        """
        try:
            if self.saved_name is not None:
                provider = self.provider_class(name=self.saved_name)
                actual = _str_or_none(getattr(provider, "instance", None))
                if self.instance and actual and actual != self.instance:
                    raise AccountError(
                        f"the saved account {self.saved_name!r} of this process is for another "
                        f"instance than the backend's ({self.describe()})"
                    )
            else:
                provider = self.provider_class(
                    instance=self.instance, url=self.url, iam_url=self.iam_url, verify=self.verify
                )
        except AccountNotFoundError as exc:
            raise AccountNotFoundError(
                f"cannot reconnect a backend restored from a pickle (pickles hold no "
                f"credentials) to {self.describe()}: {self._what_to_set()} ({exc})"
            ) from None
        context = getattr(provider, "context", None)
        if not isinstance(context, ClientContext):
            raise TypeError(f"{type(provider).__name__} has no ClientContext (.context)")
        return context

    def _what_to_set(self) -> str:
        if self.saved_name is not None:
            return (
                f"save an account named {self.saved_name!r} in this process's accounts file "
                "(QiskitRestProvider.save_account(..., name=...), or point "
                "QISKIT_REST_ACCOUNTS_FILE at the file that has it)"
            )
        return (
            "set QISKIT_IBM_TOKEN to an API key of that instance, or save a default account "
            "(QiskitRestProvider.save_account(token=..., instance=...))"
        )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


#: Contexts connected from references in this process, so that every backend unpickled from the
#: same account shares one provider (one HTTP session, one token, one Target cache).
_CONNECTED: dict[AccountReference, ClientContext] = {}
_CONNECTED_LOCK = threading.Lock()


def _connected(reference: AccountReference) -> ClientContext:
    with _CONNECTED_LOCK:
        context = _CONNECTED.get(reference)
        if context is None:
            context = reference.connect()  # failures are not cached: the next use retries
            _CONNECTED[reference] = context
        return context


class ClientContext:
    """The shared state of one provider's backends, jobs and sessions.

    Args:
        rest: The REST client every request goes through.
        instance: The instance CRN, if any.
        backend_lookup: Returns the backend object of a name (the provider's cached one); used
            by jobs and sessions rebuilt from the service, which know only a backend's name.
        owner: The object that made this context (the provider), returned by
            ``RestBackend.provider``.
        account: Where the owner's backends live, without credentials (what a pickled backend
            keeps); derived from ``owner.active_account()`` when not given.
    """

    def __init__(
        self,
        rest: RuntimeRestClient,
        *,
        instance: str | None,
        backend_lookup: Callable[[str], RestBackend],
        owner: Any = None,
        account: AccountReference | None = None,
    ) -> None:
        self._rest = rest
        self._instance = instance
        self._targets = TargetCache()
        self._owner = owner
        self._backend_lookup = backend_lookup
        self._account = account

    @staticmethod
    def deferred(account: AccountReference) -> ClientContext:
        """A context that connects through ``account`` on first use (no I/O and no credential
        lookup until then); contexts deferred to equal references share one connection."""
        return DeferredContext(account)

    @property
    def rest(self) -> RuntimeRestClient:
        """The REST client every request goes through."""
        return self._rest

    @property
    def instance(self) -> str | None:
        """The instance CRN, if any."""
        return self._instance

    @instance.setter
    def instance(self, value: str | None) -> None:
        # The provider may learn its instance after it made the context (instance discovery).
        self._instance = value

    @property
    def targets(self) -> TargetCache:
        """The Target cache shared by the provider's backends."""
        return self._targets

    @property
    def owner(self) -> Any:
        """The provider this context belongs to."""
        return self._owner

    @property
    def is_deferred(self) -> bool:
        """Whether this context was made from an :class:`AccountReference` (an unpickled
        backend's) and connects on first use."""
        return False

    def settled(self) -> ClientContext:
        """The connected context this one stands for if it is connected already, else itself
        (no I/O)."""
        return self

    def same_service(self, other: ClientContext) -> bool:
        """Whether ``other`` reaches the same provider connection as this context (no I/O: two
        deferred contexts not connected yet compare by their references)."""
        mine, theirs = self.settled(), other.settled()
        if mine is theirs:
            return True
        return mine.is_deferred and theirs.is_deferred and mine.reference() == theirs.reference()

    def reference(self) -> AccountReference | None:
        """The account reference this context was given or deferred to, if any (no lookup)."""
        return self._account

    def account_reference(self) -> AccountReference:
        """Where this context's backends live, without credentials (what pickles keep).

        Raises:
            TypeError: the context has no provider whose account could be named.
        """
        if self._account is not None:
            return self._account
        if self._owner is None:
            raise TypeError(
                "this backend's context has no provider, so a pickle could not say which "
                "account to reconnect with"
            )
        return AccountReference.of_provider(self._owner)

    def backend(self, name: str) -> RestBackend:
        """The backend object of ``name`` (no request is made)."""
        return self._backend_lookup(name)

    def __repr__(self) -> str:
        return f"<ClientContext(instance=..., targets={len(self.targets)})>"


class DeferredContext(ClientContext):
    """A :class:`ClientContext` that connects through an :class:`AccountReference` on first
    use: every attribute but :meth:`reference` asks the connected context.

    Args:
        account: Where to connect, without credentials.
    """

    def __init__(self, account: AccountReference) -> None:
        # No super().__init__(): a deferred context holds nothing of its own but the reference;
        # the connected context (shared by equal references) holds the rest.
        self._ref = account
        self._account = account

    def connected(self) -> ClientContext:
        """The connected context (connects now if needed; see :meth:`AccountReference.connect`).

        Raises:
            AccountNotFoundError: no credential for the reference in this process.
        """
        return _connected(self._ref)

    @property
    def rest(self) -> RuntimeRestClient:
        """The REST client every request goes through (connects on first use)."""
        return self.connected().rest

    @property
    def instance(self) -> str | None:
        """The instance CRN (from the reference until connected)."""
        settled = self.settled()
        return self._ref.instance if settled is self else settled.instance

    @instance.setter
    def instance(self, value: str | None) -> None:
        self.connected().instance = value

    @property
    def targets(self) -> TargetCache:
        """The Target cache of the connected provider (connects on first use)."""
        return self.connected().targets

    @property
    def owner(self) -> Any:
        """The connected provider (connects on first use)."""
        return self.connected().owner

    @property
    def is_deferred(self) -> bool:
        """Always ``True``."""
        return True

    def settled(self) -> ClientContext:
        """The connected context if this reference was connected already, else itself (no
        I/O)."""
        with _CONNECTED_LOCK:
            return _CONNECTED.get(self._ref, self)

    def account_reference(self) -> AccountReference:
        """The reference this context was made from."""
        return self._ref

    def backend(self, name: str) -> RestBackend:
        """The connected provider's backend object of ``name`` (connects on first use)."""
        return self.connected().backend(name)

    def __repr__(self) -> str:
        if self.settled() is self:
            return f"<DeferredContext({self._ref.describe()}, not connected yet)>"
        return f"<DeferredContext({self._ref.describe()}, connected)>"
