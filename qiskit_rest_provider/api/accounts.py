"""Saved accounts, environment variables, and how an instance CRN picks the API host.

Accounts are stored in a JSON file (default ``~/.qiskit/qiskit-rest-provider.json``) created
with mode 0600. Semantics follow ``QiskitRuntimeService``: accounts have names, one may be the
default, and saving over an existing name needs ``overwrite=True``.

Environment variables: ``QISKIT_IBM_TOKEN`` (API key), ``QISKIT_IBM_INSTANCE`` (CRN),
``QISKIT_IBM_URL`` (API URL override) and ``QISKIT_IBM_IAM_URL`` (IAM URL; ``IAM_URL`` is also
read, as the official client does).

An account may carry the official client's ``channel`` (``ibm_quantum_platform`` or
``ibm_cloud``: two names of the same service) and its instance-selection preferences
(``region``, ``plans_preference``, ``tags``); the official client ignores those preferences when
an instance is given, and here an instance is always given, so they are stored and listed only.
``proxies`` may be given as ``requests`` takes them (``{"https": "http://proxy:8080"}``) or as
the official client takes them (``{"urls": {...}}``).

The instance CRN decides where the user's credentials are sent, so it is validated strictly in
every entry point (constructor arguments, environment variables, the accounts file): it must have
the exact form ``crn:v1:<cname>:<ctype>:<service>:<region>:<scope>:<service-instance>::`` with
each field drawn from a small character set, and the API host is only ever *derived* for the
known public regions (:data:`KNOWN_REGIONS`), from a fixed table of IBM hosts. Any other region
needs an explicit ``url=``.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from ..errors import AccountError, AccountNotFoundError
from .auth import DEFAULT_IAM_URL

__all__ = [
    "CHANNELS",
    "DEFAULT_ACCOUNT_NAME",
    "DEFAULT_CHANNEL",
    "KNOWN_REGIONS",
    "Account",
    "AccountError",
    "AccountNotFoundError",
    "Crn",
    "accounts_file",
    "api_url_for_instance",
    "check_channel",
    "crn_region",
    "delete_account",
    "normalize_api_url",
    "normalize_iam_url",
    "normalize_proxies",
    "parse_crn",
    "save_account",
    "saved_accounts",
]

DEFAULT_ACCOUNT_NAME = "default"
_ENV_FILE = "QISKIT_REST_ACCOUNTS_FILE"

#: The official client's channels that reach IBM's Qiskit Runtime service (the same service:
#: ``ibm_cloud`` is the legacy name), and the one an account without a channel belongs to.
CHANNELS = ("ibm_quantum_platform", "ibm_cloud")
DEFAULT_CHANNEL = "ibm_quantum_platform"
#: The official client's default ``url``: IBM Cloud itself, from which it derives the API host
#: of the instance's region exactly as :func:`api_url_for_instance` does.
_IBM_CLOUD_ROOT = "https://cloud.ibm.com"

#: The public regions whose API host the client derives from a CRN, and that host. Nothing else
#: is ever derived: the host comes from this table, never from text inside the CRN.
KNOWN_REGIONS: Mapping[str, str] = MappingProxyType(
    {
        "us-east": "https://quantum.cloud.ibm.com/api",
        "eu-de": "https://eu-de.quantum.cloud.ibm.com/api",
    }
)
#: CRNs whose host may be derived: IBM Cloud's public catalogue (``bluemix``/``public``).
_DERIVABLE_CNAME = "bluemix"
_DERIVABLE_CTYPE = "public"

_MAX_CRN_LENGTH = 512
_SHOWN_FIELD_LENGTH = 40
# One pattern per CRN field. Every character class excludes ':' '/' and whitespace (and so CR/LF:
# the CRN is sent as a header value), and no pattern nests quantifiers: matching is linear.
_CRN_FIELDS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("cname", re.compile(r"[a-z][a-z0-9-]*"), "lower-case letters, digits and '-'"),
    ("ctype", re.compile(r"[a-z][a-z0-9-]*"), "lower-case letters, digits and '-'"),
    ("service", re.compile(r"[a-z][a-z0-9-]*"), "lower-case letters, digits and '-'"),
    ("region", re.compile(r"[a-z0-9-]+"), "lower-case letters, digits and '-'"),
    ("scope", re.compile(r"[a-z]/[A-Za-z0-9_.-]+"), "like a/<account-id>"),
    ("service-instance", re.compile(r"[A-Za-z0-9_.-]+"), "letters, digits, '_', '.' and '-'"),
)
_CRN_FORM = "crn:v1:<cname>:<ctype>:<service>:<region>:<scope>:<service-instance>::"


def accounts_file(filename: str | os.PathLike[str] | None = None) -> Path:
    """The accounts file: ``filename``, else ``$QISKIT_REST_ACCOUNTS_FILE``, else the default."""
    if filename is not None:
        return Path(filename).expanduser()
    env = os.environ.get(_ENV_FILE)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".qiskit" / "qiskit-rest-provider.json"


class Crn(NamedTuple):
    """The fields of a validated instance CRN."""

    cname: str
    ctype: str
    service: str
    region: str
    scope: str
    service_instance: str


def _shown(value: str, secrets: Iterable[str] = ()) -> str:
    """A field for an error message: quoted, and truncated so hostile input stays short. A value
    that contains a secret, or a sizeable piece of one (a key pasted into the wrong argument),
    is not shown at all."""
    for secret in secrets:
        if secret and (secret in value or (len(value) >= 8 and value in secret)):
            return "<hidden>"
    if len(value) > _SHOWN_FIELD_LENGTH:
        value = value[:_SHOWN_FIELD_LENGTH] + "..."
    return repr(value)


def parse_crn(crn: object, *, secrets: Iterable[str] = ()) -> Crn:
    """Validate an instance CRN and return its fields.

    The accepted form is exactly ``crn:v1:<cname>:<ctype>:<service>:<region>:<scope>:<instance>::``
    (ten colon-separated fields, the last two empty). Error messages name the offending field and
    show at most its first few characters; the CRN as a whole is never echoed (a user who put the
    API key in the instance argument must not see it printed back).

    ``secrets`` (the account's key and token) are never shown, even in part.

    Raises:
        AccountError: ``crn`` is not a CRN of that form.
    """
    if not isinstance(crn, str):
        raise AccountError(f"The instance must be a CRN string ({_CRN_FORM}).")
    if len(crn) > _MAX_CRN_LENGTH:
        raise AccountError(f"The instance CRN is longer than {_MAX_CRN_LENGTH} characters.")
    if not crn.startswith("crn:v1:"):
        raise AccountError(f"The instance is not an IBM Cloud CRN: expected {_CRN_FORM}")
    parts = crn.split(":")
    if len(parts) != 10:
        raise AccountError(
            f"The instance CRN has {len(parts)} colon-separated fields, expected 10: {_CRN_FORM}"
        )
    if parts[8] or parts[9]:
        raise AccountError(
            f"The instance CRN must end with '::' (no resource type or resource): {_CRN_FORM}"
        )
    values = parts[2:8]
    for (name, pattern, allowed), value in zip(_CRN_FIELDS, values, strict=True):
        if not pattern.fullmatch(value):
            raise AccountError(
                f"The instance CRN's {name} field {_shown(value, secrets)} is invalid: "
                f"it must consist of {allowed} ({_CRN_FORM})."
            )
    return Crn(*values)


def crn_region(crn: str) -> str | None:
    """The region of a valid instance CRN (its 6th colon-separated field), or None."""
    try:
        return parse_crn(crn).region
    except AccountError:
        return None


def api_url_for_instance(instance: str | None, *, secrets: Iterable[str] = ()) -> str:
    """API base URL for an instance: ``us-east`` → ``https://quantum.cloud.ibm.com/api``,
    ``eu-de`` → ``https://eu-de.quantum.cloud.ibm.com/api`` (see :data:`KNOWN_REGIONS`).

    Without an instance this is the default (``us-east``) host.

    Raises:
        AccountError: the CRN is invalid, or its region (or catalogue) is not one whose host is
            known; pass an explicit ``url=`` for those.
    """
    if instance is None:
        return KNOWN_REGIONS["us-east"]
    crn = parse_crn(instance, secrets=secrets)
    url = KNOWN_REGIONS.get(crn.region)
    if url is None or crn.cname != _DERIVABLE_CNAME or crn.ctype != _DERIVABLE_CTYPE:
        known = ", ".join(sorted(KNOWN_REGIONS))
        raise AccountError(
            f"No API host is known for the instance CRN's region {_shown(crn.region, secrets)} "
            f"(catalogue {_shown(crn.cname, secrets)}:{_shown(crn.ctype, secrets)}): hosts are "
            f"derived only for the public regions {known}. Pass the API URL explicitly (url=...)."
        )
    return url


def normalize_api_url(url: str) -> str:
    """Accept a host root, an ``…/api`` base or an ``…/api/v1`` URL; return the ``…/api`` base.

    URLs whose path is anything else (e.g. an ``/experimental/api`` prefix) are kept as given,
    minus a trailing ``/v1``.
    """
    if not isinstance(url, str):
        raise AccountError("The URL must be a string such as https://host[/path]")
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced '[' in the host
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AccountError(f"Invalid URL {_shown(url)}: expected http(s)://host[/path]")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    if not path:
        path = "/api"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def normalize_iam_url(url: str) -> str:
    """Check an IAM base URL (``http(s)://host[/path]``) and drop a trailing slash."""
    if not isinstance(url, str):
        raise AccountError("The IAM URL must be a string such as https://iam.cloud.ibm.com")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise AccountError(f"Invalid IAM URL {_shown(url)}: expected http(s)://host[/path]")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def check_channel(channel: object, *, source: str = "channel") -> str | None:
    """Validate one of the official client's channel names (None passes through).

    Raises:
        AccountError: anything but ``ibm_quantum_platform`` or ``ibm_cloud``; ``local`` (the
            official client's local testing mode) is pointed at the local service instead.
    """
    if channel is None:
        return None
    if isinstance(channel, str) and channel in CHANNELS:
        return channel
    if channel == "local":
        raise AccountError(
            f"{source}='local' is qiskit-ibm-runtime's local testing mode; here the local mode is "
            "a real local service: start LocalRuntimeServer() (or `qiskit-rest serve`) and use "
            "its provider(), or pass its url= with channel='ibm_quantum_platform'."
        )
    shown = _shown(channel) if isinstance(channel, str) else type(channel).__name__
    raise AccountError(
        f"Invalid {source} {shown}: expected one of {', '.join(repr(c) for c in CHANNELS)}."
    )


def normalize_proxies(proxies: object) -> dict[str, str] | None:
    """Proxies as ``requests`` takes them, from either form users write.

    Accepts ``requests``-style ``{"https": "http://proxy:8080", ...}`` or the official client's
    ``{"urls": {...}}``. The official client's NTLM credentials (``username_ntlm``,
    ``password_ntlm``) need a package this client does not depend on: they are refused, and so
    is anything else.

    Raises:
        AccountError: ``proxies`` is neither form, or asks for NTLM authentication.
    """
    if proxies is None:
        return None
    if not isinstance(proxies, Mapping):
        raise AccountError("proxies must be a mapping such as {'https': 'http://proxy:8080'}")
    if "urls" in proxies or "username_ntlm" in proxies or "password_ntlm" in proxies:
        if proxies.get("username_ntlm") or proxies.get("password_ntlm"):
            raise AccountError(
                "NTLM proxy authentication (username_ntlm/password_ntlm) is not supported: put "
                "the proxy's credentials in its URL (http://user:password@proxy:8080) instead."
            )
        extra = sorted(set(proxies) - {"urls", "username_ntlm", "password_ntlm"})
        if extra:
            raise AccountError(f"Unknown proxies key(s) {extra}: expected 'urls'.")
        proxies = proxies.get("urls") or {}
        if not isinstance(proxies, Mapping):
            raise AccountError("proxies['urls'] must map protocols to proxy URLs")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in proxies.items()):
        raise AccountError("proxies must be a mapping such as {'https': 'http://proxy:8080'}")
    return dict(proxies) or None


def _string_list(value: object, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise AccountError(f"{name} must be a list of strings, e.g. ['open']")
    if not all(isinstance(v, str) and v for v in value):
        raise AccountError(f"{name} must be a list of non-empty strings")
    return list(value)


@dataclass
class Account:
    """Everything needed to reach one Runtime instance.

    ``token`` is the IBM Cloud API key (exchanged at IAM); alternatively ``bearer_token`` is a
    ready access token used as is. Neither appears in ``repr()``.

    ``channel``, ``region``, ``plans_preference`` and ``tags`` are the official client's (see
    the module's docstring); ``url`` set to IBM Cloud's root (``https://cloud.ibm.com``, the
    official client's default) means "derive the host from the instance", as there.
    """

    instance: str | None = None
    token: str | None = field(default=None, repr=False)
    url: str | None = None
    iam_url: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    proxies: dict[str, str] | None = None
    verify: bool | str = True
    name: str | None = None
    channel: str | None = None
    region: str | None = None
    plans_preference: list[str] | None = None
    tags: list[str] | None = None

    def __post_init__(self) -> None:
        for name in ("instance", "token", "url", "iam_url", "bearer_token", "name"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise AccountError(f"{name} must be a string, got {type(value).__name__}")
        if not isinstance(self.verify, (bool, str)):
            raise AccountError("verify must be True, False or the path of a CA bundle")
        self.proxies = normalize_proxies(self.proxies)
        self.channel = check_channel(self.channel)
        if self.region is not None and self.region not in KNOWN_REGIONS:
            shown = _shown(self.region) if isinstance(self.region, str) else "a non-string"
            raise AccountError(
                f"Invalid region {shown}: expected one of {', '.join(sorted(KNOWN_REGIONS))}."
            )
        self.plans_preference = _string_list(self.plans_preference, "plans_preference")
        self.tags = _string_list(self.tags, "tags")
        if self.instance == "":
            self.instance = None
        if self.instance is not None:
            parse_crn(self.instance, secrets=self._secrets())
        if self.url is not None and self.url.strip().rstrip("/").lower() == _IBM_CLOUD_ROOT:
            self.url = None
        if self.url is not None:
            self.url = normalize_api_url(self.url)
        if self.iam_url is not None:
            self.iam_url = normalize_iam_url(self.iam_url)

    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.bearer_token) if isinstance(s, str) and s)

    def validate(self, *, require_instance: bool = True) -> Account:
        """Raise :class:`AccountError` unless the account can authenticate, names a valid
        instance CRN and has an API host: an explicit ``url``, or one derived from a known
        region. Re-checks every field, so an account whose attributes were changed after it was
        built is validated too.

        Args:
            require_instance: With ``False``, an account without an instance is valid (its
                instance is discovered when a provider uses it; see
                :mod:`qiskit_rest_provider.api.discovery`).
        """
        replace(self)  # runs __post_init__'s checks on the current field values
        if not (self.token or self.bearer_token):
            raise AccountError("An API key (token) or a bearer token is required.")
        if not self.instance:
            if not require_instance:
                return self
            raise AccountError(
                "An instance CRN is required (crn:v1:bluemix:public:quantum-computing:...)."
            )
        if self.url is None:
            api_url_for_instance(self.instance, secrets=self._secrets())
        return self

    @property
    def api_url(self) -> str:
        """The API base URL, the explicit ``url`` if given, else derived from the CRN region.

        Raises:
            AccountError: there is no ``url`` and the CRN's region is not a known one.
        """
        if self.url is not None:
            return self.url
        return api_url_for_instance(self.instance, secrets=self._secrets())

    @property
    def resolved_iam_url(self) -> str:
        """The IAM base URL to use, ``iam_url`` if set, else IBM Cloud's public IAM
        (``https://iam.cloud.ibm.com``)."""
        return self.iam_url or DEFAULT_IAM_URL

    def to_saved(self) -> dict[str, Any]:
        """The account as an entry of the accounts file: every field that is set except
        ``name`` (the entry's key in the file).

        Secrets (``token``, ``bearer_token``) are included in clear: this is what gets written
        to disk. Use :meth:`redacted` for anything shown to a user.
        """
        data = {k: v for k, v in asdict(self).items() if v is not None and k != "name"}
        return data

    def redacted(self) -> dict[str, Any]:
        """A dict of the account for display, with secrets hidden."""
        data = self.to_saved()
        for key in ("token", "bearer_token"):
            if key in data:
                data[key] = "<hidden>"
        data["name"] = self.name
        try:
            data["api_url"] = self.api_url
        except AccountError:
            data["api_url"] = None  # an unknown region without url=: nothing to show
        return data

    @classmethod
    def from_saved(cls, name: str, data: Mapping[str, Any]) -> Account:
        """Rebuild an account from its entry in the accounts file.

        Keys that are not account fields (such as ``is_default``) are ignored, and every field
        is validated as in the constructor.

        Args:
            name: The entry's key in the file; it becomes the account's ``name``.
            data: The entry, as read from the JSON file.

        Raises:
            ~qiskit_rest_provider.errors.AccountError: ``data`` is not a JSON object, or a field is
                invalid.
        """
        known = {f.name for f in fields(cls)}
        if not isinstance(data, Mapping):
            raise AccountError(f"The saved account {name!r} is not a JSON object")
        return cls(name=name, **{k: v for k, v in data.items() if k in known and k != "name"})

    @classmethod
    def from_env(cls) -> Account | None:
        """An account from the environment variables, or None if ``QISKIT_IBM_TOKEN`` is unset."""
        token = os.environ.get("QISKIT_IBM_TOKEN")
        if not token:
            return None
        try:
            return cls(
                token=token,
                instance=os.environ.get("QISKIT_IBM_INSTANCE") or None,
                url=os.environ.get("QISKIT_IBM_URL") or None,
                iam_url=os.environ.get("QISKIT_IBM_IAM_URL") or os.environ.get("IAM_URL") or None,
                name="env",
            )
        except AccountError as exc:
            raise AccountError(f"The QISKIT_IBM_* environment variables: {exc}") from None


# The accounts file ----------------------------------------------------------------------------


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise AccountError(f"Cannot read the accounts file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise AccountError(f"The accounts file {path} does not hold a JSON object")
    return data


def _write(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".accounts-", dir=path.parent)
    try:
        os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def save_account(
    token: str | None = None,
    instance: str | None = None,
    url: str | None = None,
    *,
    name: str | None = None,
    iam_url: str | None = None,
    bearer_token: str | None = None,
    proxies: Mapping[str, Any] | None = None,
    verify: bool | str = True,
    set_as_default: bool | None = None,
    overwrite: bool = False,
    filename: str | os.PathLike[str] | None = None,
    channel: str | None = None,
    region: str | None = None,
    plans_preference: list[str] | None = None,
    tags: list[str] | None = None,
) -> Account:
    """Save an account to disk (file mode 0600).

    Args:
        token: IBM Cloud API key.
        instance: Instance CRN.
        url: API URL override (otherwise derived from the CRN's region).
        name: Account name; ``"default"`` if omitted.
        iam_url: IAM URL override.
        bearer_token: A ready bearer token instead of an API key.
        proxies: ``requests``-style proxies, or the official client's ``{"urls": {...}}``.
        verify: TLS verification: ``True``, ``False`` or a CA-bundle path.
        set_as_default: Make this the default account (the first saved account always is).
        overwrite: Replace an existing account of the same name.
        filename: Accounts file path.
        channel: The official client's channel (``ibm_quantum_platform`` or ``ibm_cloud``).
        region: The official client's region preference (stored; used to choose an instance
            when none is given).
        plans_preference: The official client's plan preference (stored, likewise).
        tags: The official client's instance tags (stored, likewise).

    Raises:
        AccountError: the account is incomplete, or the name exists and ``overwrite`` is False.
    """
    name = name or DEFAULT_ACCOUNT_NAME
    account = Account(
        instance=instance,
        token=token,
        url=url,
        iam_url=iam_url,
        bearer_token=bearer_token,
        proxies=normalize_proxies(proxies),
        verify=verify,
        name=name,
        channel=channel,
        region=region,
        plans_preference=plans_preference,
        tags=tags,
    ).validate(require_instance=False)
    path = accounts_file(filename)
    data = _read(path)
    if name in data and not overwrite:
        raise AccountError(
            f"An account named {name!r} already exists in {path}; pass overwrite=True to replace it"
        )
    entry = account.to_saved()
    has_default = any(
        isinstance(v, dict) and v.get("is_default") for k, v in data.items() if k != name
    )
    make_default = set_as_default if set_as_default is not None else not has_default
    if make_default:
        for value in data.values():
            if isinstance(value, dict):
                value.pop("is_default", None)
        entry["is_default"] = True
    data[name] = entry
    _write(path, data)
    return account


def _channel_of(entry: Mapping[str, Any]) -> object:
    """The channel an accounts-file entry belongs to (the default one when it names none)."""
    return entry.get("channel") or DEFAULT_CHANNEL


def saved_accounts(
    *,
    default: bool | None = None,
    name: str | None = None,
    filename: str | os.PathLike[str] | None = None,
    channel: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Saved accounts by name (secrets hidden), optionally only the default, one name or the
    accounts of one channel (an account saved without a channel is ``ibm_quantum_platform``'s).
    """
    check_channel(channel)
    data = _read(accounts_file(filename))
    result: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if not isinstance(value, dict):
            continue
        if name is not None and key != name:
            continue
        if default is not None and bool(value.get("is_default")) != default:
            continue
        if channel is not None and _channel_of(value) != channel:
            continue
        try:
            shown = Account.from_saved(key, value).redacted()
        except AccountError as exc:
            # Listed, not loaded: the user sees the entry and why it cannot be used.
            shown = {"name": key, "error": str(exc)}
        shown["is_default"] = bool(value.get("is_default"))
        result[key] = shown
    return result


def delete_account(
    name: str | None = None,
    *,
    filename: str | os.PathLike[str] | None = None,
    channel: str | None = None,
) -> bool:
    """Delete a saved account (the one named ``"default"`` if no name is given). True if one
    was deleted.

    ``channel`` applies only without a name, as in the official client: the account named
    ``"default"`` is deleted only if it belongs to that channel.
    """
    check_channel(channel)
    path = accounts_file(filename)
    data = _read(path)
    if name is None and channel is not None:
        entry = data.get(DEFAULT_ACCOUNT_NAME)
        if not isinstance(entry, dict) or _channel_of(entry) != channel:
            return False
    name = name or DEFAULT_ACCOUNT_NAME
    if name not in data:
        return False
    del data[name]
    _write(path, data)
    return True


def load_account(
    name: str | None = None,
    *,
    filename: str | os.PathLike[str] | None = None,
    channel: str | None = None,
) -> Account:
    """Load a saved account by name, or the default one (secrets included, for use).

    Without a name: the account marked default, else the one named ``"default"``. With
    ``channel``, the same among that channel's accounts, and failing both, the first account of
    that channel, as the official client picks "any account of this channel" (the name wins over
    the channel, as there).

    Raises:
        AccountNotFoundError: no such account (or no default).
        AccountError: the saved account is invalid (for instance a malformed CRN).
    """
    check_channel(channel)
    path = accounts_file(filename)
    data = _read(path)
    if name is not None:
        if name not in data or not isinstance(data[name], dict):
            raise AccountNotFoundError(f"No saved account named {name!r} in {path}")
        return _from_file(name, data[name], path)
    candidates = {
        key: value
        for key, value in data.items()
        if isinstance(value, dict) and (channel is None or _channel_of(value) == channel)
    }
    for key, value in candidates.items():
        if value.get("is_default"):
            return _from_file(key, value, path)
    if DEFAULT_ACCOUNT_NAME in candidates:
        return _from_file(DEFAULT_ACCOUNT_NAME, candidates[DEFAULT_ACCOUNT_NAME], path)
    if channel is not None and candidates:
        key = next(iter(candidates))
        return _from_file(key, candidates[key], path)
    of_channel = f" of channel {channel!r}" if channel else ""
    raise AccountNotFoundError(
        f"No account given and no default account{of_channel} found: pass token= and "
        "instance=, set QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE, or save one with "
        f"save_account() (looked in {path})"
    )


def _from_file(name: str, data: Mapping[str, Any], path: Path) -> Account:
    try:
        return Account.from_saved(name, data)
    except AccountError as exc:
        raise AccountError(f"The saved account {name!r} in {path} is invalid: {exc}") from None
