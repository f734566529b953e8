"""Saved accounts, environment variables, and how an instance CRN picks the API host.

Accounts are stored in a JSON file (default ``~/.qiskit/qiskit-rest-provider.json``) created
with mode 0600. Semantics follow ``QiskitRuntimeService``: accounts have names, one may be the
default, and saving over an existing name needs ``overwrite=True``.

Environment variables: ``QISKIT_IBM_TOKEN`` (API key), ``QISKIT_IBM_INSTANCE`` (CRN),
``QISKIT_IBM_URL`` (API URL override) and ``QISKIT_IBM_IAM_URL`` (IAM URL; ``IAM_URL`` is also
read, as the official client does).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .auth import DEFAULT_IAM_URL
from .errors import QiskitRestError

__all__ = [
    "DEFAULT_ACCOUNT_NAME",
    "Account",
    "AccountError",
    "AccountNotFoundError",
    "accounts_file",
    "api_url_for_instance",
    "crn_region",
    "delete_account",
    "normalize_api_url",
    "save_account",
    "saved_accounts",
]

DEFAULT_ACCOUNT_NAME = "default"
DEFAULT_CLOUD_HOST = "cloud.ibm.com"
_ENV_FILE = "QISKIT_REST_ACCOUNTS_FILE"
_CRN_RE = re.compile(r"^crn:v1:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*$")


class AccountError(QiskitRestError, ValueError):
    """An account is invalid, or cannot be saved or loaded."""


class AccountNotFoundError(AccountError):
    """No account matches what was asked for."""


def accounts_file(filename: str | os.PathLike[str] | None = None) -> Path:
    """The accounts file: ``filename``, else ``$QISKIT_REST_ACCOUNTS_FILE``, else the default."""
    if filename is not None:
        return Path(filename).expanduser()
    env = os.environ.get(_ENV_FILE)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".qiskit" / "qiskit-rest-provider.json"


def crn_region(crn: str) -> str | None:
    """The region of an instance CRN (its 6th colon-separated field), or None."""
    parts = crn.split(":")
    if len(parts) >= 6 and parts[0] == "crn" and parts[5]:
        return parts[5]
    return None


def api_url_for_instance(instance: str | None, cloud_host: str = DEFAULT_CLOUD_HOST) -> str:
    """API base URL for an instance: ``us-east`` → ``https://quantum.cloud.ibm.com/api``,
    another region R → ``https://R.quantum.cloud.ibm.com/api``."""
    region = crn_region(instance) if instance else None
    prefix = "" if region in (None, "us-east") else f"{region}."
    return f"https://{prefix}quantum.{cloud_host}/api"


def normalize_api_url(url: str) -> str:
    """Accept a host root, an ``…/api`` base or an ``…/api/v1`` URL; return the ``…/api`` base.

    URLs whose path is anything else (e.g. an ``/experimental/api`` prefix) are kept as given,
    minus a trailing ``/v1``.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AccountError(f"Invalid URL {url!r}: expected http(s)://host[/path]")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    if not path:
        path = "/api"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass
class Account:
    """Everything needed to reach one Runtime instance.

    ``token`` is the IBM Cloud API key (exchanged at IAM); alternatively ``bearer_token`` is a
    ready access token used as is. Neither appears in ``repr()``.
    """

    instance: str | None = None
    token: str | None = field(default=None, repr=False)
    url: str | None = None
    iam_url: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    proxies: dict[str, str] | None = None
    verify: bool | str = True
    name: str | None = None

    def __post_init__(self) -> None:
        if self.instance is not None and not isinstance(self.instance, str):
            raise AccountError("instance must be a CRN string")
        if self.instance and self.instance.startswith("crn:") and not _CRN_RE.match(self.instance):
            raise AccountError(
                f"instance {self.instance!r} is not a valid CRN "
                "(crn:v1:<cname>:<ctype>:<service>:<region>:<scope>:<guid>::)"
            )
        if self.url is not None:
            self.url = normalize_api_url(self.url)
        if self.iam_url is not None:
            self.iam_url = self.iam_url.rstrip("/")
        if self.proxies is not None and not isinstance(self.proxies, Mapping):
            raise AccountError("proxies must be a mapping such as {'https': 'http://proxy:8080'}")

    def validate(self) -> Account:
        """Raise :class:`AccountError` unless the account can authenticate and pick an instance."""
        if not (self.token or self.bearer_token):
            raise AccountError("An API key (token) or a bearer token is required.")
        if not self.instance:
            raise AccountError(
                "An instance CRN is required (crn:v1:bluemix:public:quantum-computing:...)."
            )
        return self

    @property
    def api_url(self) -> str:
        """The API base URL: the explicit ``url`` if given, else derived from the CRN region."""
        return self.url or api_url_for_instance(self.instance)

    @property
    def resolved_iam_url(self) -> str:
        return self.iam_url or DEFAULT_IAM_URL

    def to_saved(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k != "name"}
        return data

    def redacted(self) -> dict[str, Any]:
        """A dict of the account for display, with secrets hidden."""
        data = self.to_saved()
        for key in ("token", "bearer_token"):
            if key in data:
                data[key] = "<hidden>"
        data["name"] = self.name
        data["api_url"] = self.api_url
        return data

    @classmethod
    def from_saved(cls, name: str, data: Mapping[str, Any]) -> Account:
        known = {f.name for f in fields(cls)}
        return cls(name=name, **{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_env(cls) -> Account | None:
        """An account from the environment variables, or None if ``QISKIT_IBM_TOKEN`` is unset."""
        token = os.environ.get("QISKIT_IBM_TOKEN")
        if not token:
            return None
        return cls(
            token=token,
            instance=os.environ.get("QISKIT_IBM_INSTANCE") or None,
            url=os.environ.get("QISKIT_IBM_URL") or None,
            iam_url=os.environ.get("QISKIT_IBM_IAM_URL") or os.environ.get("IAM_URL") or None,
            name="env",
        )


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
    proxies: dict[str, str] | None = None,
    verify: bool | str = True,
    set_as_default: bool | None = None,
    overwrite: bool = False,
    filename: str | os.PathLike[str] | None = None,
) -> Account:
    """Save an account to disk (file mode 0600).

    Args:
        token: IBM Cloud API key.
        instance: Instance CRN.
        url: API URL override (otherwise derived from the CRN's region).
        name: Account name; ``"default"`` if omitted.
        iam_url: IAM URL override.
        bearer_token: A ready bearer token instead of an API key.
        proxies: ``requests``-style proxies.
        verify: TLS verification: ``True``, ``False`` or a CA-bundle path.
        set_as_default: Make this the default account (the first saved account always is).
        overwrite: Replace an existing account of the same name.
        filename: Accounts file path.

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
        proxies=proxies,
        verify=verify,
        name=name,
    ).validate()
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


def saved_accounts(
    *,
    default: bool | None = None,
    name: str | None = None,
    filename: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Saved accounts by name (secrets hidden), optionally only the default or one name."""
    data = _read(accounts_file(filename))
    result: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if not isinstance(value, dict):
            continue
        if name is not None and key != name:
            continue
        if default is not None and bool(value.get("is_default")) != default:
            continue
        shown = Account.from_saved(key, value).redacted()
        shown["is_default"] = bool(value.get("is_default"))
        result[key] = shown
    return result


def delete_account(
    name: str | None = None, *, filename: str | os.PathLike[str] | None = None
) -> bool:
    """Delete a saved account (the default name if omitted). True if one was deleted."""
    name = name or DEFAULT_ACCOUNT_NAME
    path = accounts_file(filename)
    data = _read(path)
    if name not in data:
        return False
    del data[name]
    _write(path, data)
    return True


def load_account(
    name: str | None = None, *, filename: str | os.PathLike[str] | None = None
) -> Account:
    """Load a saved account by name, or the default one (secrets included, for use)."""
    path = accounts_file(filename)
    data = _read(path)
    if name is not None:
        if name not in data or not isinstance(data[name], dict):
            raise AccountNotFoundError(f"No saved account named {name!r} in {path}")
        return Account.from_saved(name, data[name])
    for key, value in data.items():
        if isinstance(value, dict) and value.get("is_default"):
            return Account.from_saved(key, value)
    if isinstance(data.get(DEFAULT_ACCOUNT_NAME), dict):
        return Account.from_saved(DEFAULT_ACCOUNT_NAME, data[DEFAULT_ACCOUNT_NAME])
    raise AccountNotFoundError(
        "No account given and none found: pass token= and instance=, set QISKIT_IBM_TOKEN and "
        f"QISKIT_IBM_INSTANCE, or save one with save_account() (looked in {path})"
    )
