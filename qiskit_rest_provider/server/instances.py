"""The local service's instances: CRN, name, plan, the backends each may use, its usage limit.

IBM Cloud gives an account one or more Qiskit Runtime *instances*, each on a *plan* (Open,
Pay-As-You-Go, Flex, Premium, ...) with its own allocation of backends. A client that is given an
API key and no instance finds them through IBM Cloud's Global Search and reads each plan's name
and pricing type from the Global Catalog (served by :mod:`.cloud`). This module is the model
behind both: :class:`Plan`, :class:`InstanceSpec` and :class:`Instances`, the set a service
serves.

Any CRN an API key may use is an instance: those configured here have their plan, name and
backends; any other (a key added with :meth:`LocalService.add_api_key` for a CRN nobody
configured) is on :data:`DEFAULT_PLAN` with every backend, as every instance was before
instances could be configured.

The instances file that ``qiskit-rest serve --instances FILE`` reads is a JSON list of objects::

    [
      {"name": "open-instance", "plan": "open", "backends": ["local_falcon"]},
      {"name": "research", "plan": "premium", "region": "eu-de", "tags": ["team-a"],
       "usage_limit_seconds": 36000},
      {"name": "custom", "plan": {"id": "my-plan", "name": "Lab", "pricing_type": "paid"},
       "crn": "crn:v1:bluemix:public:quantum-computing:us-east:a/local0000:lab-1::"}
    ]

``plan`` is one of :data:`STANDARD_PLANS` by name, or a plan object; ``backends`` omitted
means every device; ``crn`` omitted means a new random CRN at every start (give one to keep the
instance's jobs across restarts of a persistent database).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_PLAN",
    "MAX_INSTANCES",
    "PRICING_TYPES",
    "STANDARD_PLANS",
    "InstanceSpec",
    "Instances",
    "Plan",
    "instance_crn",
    "load_instances_file",
    "parse_instances",
]

#: The pricing types IBM's Global Catalog reports for Qiskit Runtime plans, in the order the
#: official client prefers them when no plan preference is given (free and trial first).
PRICING_TYPES = ("free", "trial", "paygo", "paid", "subscription")
#: The account every generated CRN belongs to (one local "IBM Cloud account").
DEFAULT_ACCOUNT_ID = "local0000000000000000000000000000"
#: At most this many instances are configured (each is listed by Global Search).
MAX_INSTANCES = 1000

_MAX_FILE_BYTES = 1024 * 1024
_MAX_NAME = 128
_MAX_TAGS = 50
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
# Plan ids are one URL path segment (``GET /api/v1/{id}`` on the catalog host): no '/', no '%'.
_PLAN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:-]{0,127}")
_CRN_INSTANCE = re.compile(
    r"crn:v1:[a-z][a-z0-9-]*:[a-z][a-z0-9-]*:quantum-computing:[a-z0-9-]+:"
    r"[a-z]/[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+::"
)
# Namespace of the standard plans' ids: stable across runs and machines.
_PLAN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "qiskit-rest-provider/quantum-computing/plans")


@dataclass(frozen=True)
class Plan:
    """A plan as the Global Catalog describes it.

    Attributes:
        plan_id: The catalog entry's id (``service_plan_unique_id`` in Global Search).
        name: The display name (``overview_ui.en.display_name``), e.g. ``"Open"``; clients
            compare its lower-case form with ``plans_preference``.
        pricing_type: ``metadata.pricing.type``, one of :data:`PRICING_TYPES`.
        description: A sentence for the catalog entry.
    """

    plan_id: str
    name: str
    pricing_type: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.plan_id, str) or not _PLAN_ID.fullmatch(self.plan_id):
            raise ValueError(
                f"plan id {_shown(self.plan_id)} must be 1-128 letters, digits, '.', '_', ':' "
                "or '-'"
            )
        if not isinstance(self.name, str) or not 0 < len(self.name.strip()) <= _MAX_NAME:
            raise ValueError(f"plan name {_shown(self.name)} must be 1-{_MAX_NAME} characters")
        if self.pricing_type not in PRICING_TYPES:
            raise ValueError(
                f"plan {self.name!r}: pricing type {_shown(self.pricing_type)} is not one of "
                f"{', '.join(PRICING_TYPES)}"
            )


def _standard(name: str, pricing_type: str, description: str) -> Plan:
    plan_id = str(uuid.uuid5(_PLAN_NAMESPACE, name.lower()))
    return Plan(plan_id, name, pricing_type, description)


#: The plans an instances file may name (by their lower-case display name). The pricing types
#: are this service's choice: IBM does not publish which type each of its plans reports.
STANDARD_PLANS: Mapping[str, Plan] = MappingProxyType(
    {
        "open": _standard("Open", "free", "Free access to a share of the devices."),
        "pay-as-you-go": _standard("Pay-As-You-Go", "paygo", "Pay for the execution time you use."),
        "flex": _standard("Flex", "paid", "A prepaid allocation of execution time."),
        "premium": _standard("Premium", "subscription", "A reserved share of the devices."),
    }
)
#: The plan of the default instance, and of any CRN an API key may use that is not configured.
DEFAULT_PLAN = STANDARD_PLANS["open"]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def instance_crn(region: str = "us-east", account_id: str = DEFAULT_ACCOUNT_ID) -> str:
    """A new random instance CRN of the local account in ``region``."""
    return f"crn:v1:bluemix:public:quantum-computing:{region}:a/{account_id}:{uuid.uuid4()}::"


@dataclass(frozen=True)
class InstanceSpec:
    """One instance the service serves.

    Attributes:
        crn: The instance CRN (``crn:v1:…:quantum-computing:<region>:a/<account>:<id>::``).
        name: Its name, as Global Search reports it (names need not be unique).
        plan: Its plan.
        backends: The devices it may use, by name (``None``: every device). Their ``mock_*``
            twins come with them.
        usage_limit_seconds: Execution seconds its jobs may use per usage period (``None``: no
            limit).
        tags: Its IBM Cloud tags (clients may filter instances by tag).
    """

    crn: str
    name: str
    plan: Plan = DEFAULT_PLAN
    backends: tuple[str, ...] | None = None
    usage_limit_seconds: float | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.crn, str) or not _CRN_INSTANCE.fullmatch(self.crn):
            raise ValueError(
                f"instance CRN {_shown(self.crn)} is not of the form "
                "crn:v1:<cname>:<ctype>:quantum-computing:<region>:a/<account>:<id>::"
            )
        if not isinstance(self.name, str) or not 0 < len(self.name) <= _MAX_NAME:
            raise ValueError(f"instance name {_shown(self.name)} must be 1-{_MAX_NAME} characters")
        if not isinstance(self.plan, Plan):
            raise ValueError(f"instance {self.name!r}: plan must be a Plan")
        if self.backends is not None and not (
            isinstance(self.backends, tuple) and all(isinstance(b, str) for b in self.backends)
        ):
            raise ValueError(f"instance {self.name!r}: backends must be a tuple of names")
        limit = self.usage_limit_seconds
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit >= 0
        ):
            raise ValueError(f"instance {self.name!r}: usage_limit_seconds must be >= 0")
        if len(self.tags) > _MAX_TAGS or not all(
            isinstance(t, str) and _TAG.fullmatch(t) for t in self.tags
        ):
            raise ValueError(
                f"instance {self.name!r}: at most {_MAX_TAGS} tags of letters, digits, spaces, "
                "'_', '.', ':' and '-'"
            )

    @property
    def region(self) -> str:
        """The region field of the CRN."""
        return self.crn.split(":")[5]

    @property
    def account_id(self) -> str:
        """The account id of the CRN's scope (``a/<account id>``)."""
        return self.crn.split(":")[6].partition("/")[2]

    @property
    def guid(self) -> str:
        """The service-instance field of the CRN."""
        return self.crn.split(":")[7]

    def allows(self, backend: str) -> bool:
        """Whether the instance may use the device called ``backend`` (not its mock twin:
        :class:`~.catalog.Catalog` maps twins to their devices)."""
        return self.backends is None or backend in self.backends


class Instances:
    """The instances a service serves, by CRN, and the plans they use, by id.

    Args:
        specs: The configured instances (CRNs unique; plans with the same id identical).
        default_plan: The plan of CRNs that are not configured.

    Raises:
        ValueError: duplicate CRNs, two different plans with one id, or more than
            :data:`MAX_INSTANCES` instances.
    """

    def __init__(self, specs: Iterable[InstanceSpec], default_plan: Plan = DEFAULT_PLAN) -> None:
        self._specs: dict[str, InstanceSpec] = {}
        self._plans: dict[str, Plan] = {default_plan.plan_id: default_plan}
        self.default_plan = default_plan
        for spec in specs:
            if spec.crn in self._specs:
                raise ValueError(f"instance CRN {spec.crn!r} is configured twice")
            known = self._plans.setdefault(spec.plan.plan_id, spec.plan)
            if known != spec.plan:
                raise ValueError(
                    f"plan id {spec.plan.plan_id!r} names two different plans "
                    f"({known.name!r} and {spec.plan.name!r})"
                )
            self._specs[spec.crn] = spec
            if len(self._specs) > MAX_INSTANCES:
                raise ValueError(f"at most {MAX_INSTANCES} instances may be configured")

    @classmethod
    def single(cls, crn: str | None = None, name: str = "local-instance") -> Instances:
        """One instance on :data:`DEFAULT_PLAN` with every backend (a random CRN if none is
        given): the service's default."""
        return cls([InstanceSpec(crn or instance_crn(), name)])

    def __iter__(self) -> Iterator[InstanceSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, crn: object) -> bool:
        return crn in self._specs

    @property
    def crns(self) -> list[str]:
        """The configured CRNs, in configuration order."""
        return list(self._specs)

    @property
    def plans(self) -> Mapping[str, Plan]:
        """Every plan in use (and the default plan), by id."""
        return MappingProxyType(self._plans)

    def spec(self, crn: str) -> InstanceSpec:
        """The configured instance ``crn``, or (for a CRN nobody configured) one on the default
        plan, named after the CRN's service-instance field, with every backend."""
        spec = self._specs.get(crn)
        if spec is not None:
            return spec
        name = crn.split(":")[7] if crn.count(":") == 9 else crn
        return InstanceSpec(crn, name[:_MAX_NAME] or "instance", self.default_plan)

    def allows(self, crn: str, backend: str) -> bool:
        """Whether instance ``crn`` may use the device called ``backend``."""
        spec = self._specs.get(crn)
        return spec is None or spec.allows(backend)

    def check_backends(self, names: Iterable[str]) -> None:
        """Raise ``ValueError`` if an instance names a backend that is not in ``names``."""
        known = set(names)
        for spec in self:
            unknown = sorted(set(spec.backends or ()) - known)
            if unknown:
                raise ValueError(
                    f"instance {spec.name!r} names unknown backends {', '.join(unknown)} "
                    f"(served: {', '.join(sorted(known))})"
                )


def _plan_from(value: Any, where: str) -> Plan:
    if isinstance(value, str):
        plan = STANDARD_PLANS.get(value.lower())
        if plan is None:
            raise ValueError(
                f"{where}: unknown plan {_shown(value)}; use one of "
                f"{', '.join(STANDARD_PLANS)} or an object with id, name and pricing_type"
            )
        return plan
    if isinstance(value, Mapping):
        unknown = set(value) - {"id", "name", "pricing_type", "description"}
        if unknown:
            raise ValueError(f"{where}: unknown plan fields {', '.join(sorted(map(str, unknown)))}")
        try:
            return Plan(
                value["id"],
                value["name"],
                value["pricing_type"],
                str(value.get("description", "")),
            )
        except KeyError as exc:
            raise ValueError(f"{where}: the plan needs {exc.args[0]!r}") from None
    raise ValueError(f"{where}: plan must be a plan name or an object")


_SPEC_FIELDS = frozenset(
    {"crn", "name", "plan", "region", "backends", "usage_limit_seconds", "tags"}
)


def parse_instances(data: Any, account_id: str = DEFAULT_ACCOUNT_ID) -> list[InstanceSpec]:
    """Instances from the JSON value of an instances file (see the module's docstring).

    Raises:
        ValueError: the value is not a list of valid instance objects; the message names the
            entry and the field.
    """
    if not isinstance(data, list) or not data:
        raise ValueError("the instances must be a non-empty JSON list of objects")
    if len(data) > MAX_INSTANCES:
        raise ValueError(f"at most {MAX_INSTANCES} instances may be configured")
    specs = []
    for index, entry in enumerate(data):
        where = f"instance #{index + 1}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} is not a JSON object")
        unknown = set(entry) - _SPEC_FIELDS
        if unknown:
            raise ValueError(f"{where}: unknown fields {', '.join(sorted(map(str, unknown)))}")
        region = entry.get("region", "us-east")
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise ValueError(f"{where}: invalid region {_shown(region)}")
        crn = entry.get("crn") or instance_crn(region, account_id)
        if (
            "crn" in entry
            and "region" in entry
            and isinstance(crn, str)
            and crn.count(":") == 9
            and crn.split(":")[5] != region
        ):
            raise ValueError(f"{where}: region {region!r} differs from the CRN's region")
        backends = entry.get("backends")
        if backends is not None and (
            not isinstance(backends, list) or not all(isinstance(b, str) for b in backends)
        ):
            raise ValueError(f"{where}: backends must be a list of backend names")
        tags = entry.get("tags", [])
        if not isinstance(tags, list):
            raise ValueError(f"{where}: tags must be a list of strings")
        name = entry.get("name", f"instance-{index + 1}")
        try:
            specs.append(
                InstanceSpec(
                    crn=crn,
                    name=name,
                    plan=_plan_from(entry.get("plan", "open"), where),
                    backends=tuple(backends) if backends is not None else None,
                    usage_limit_seconds=entry.get("usage_limit_seconds"),
                    tags=tuple(tags),
                )
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    Instances(specs)  # duplicate CRNs and clashing plan ids fail here, with the file's names
    return specs


def load_instances_file(path: str | Path) -> list[InstanceSpec]:
    """Read an instances file (JSON, at most 1 MiB; see the module's docstring).

    Raises:
        ValueError: the file cannot be read, is too large, is not JSON, or describes invalid
            instances.
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the instances file {file}: {exc.strerror}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise ValueError(f"the instances file {file} is larger than {_MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"the instances file {file} nests JSON too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the instances file {file} is not JSON: {exc}") from None
    try:
        return parse_instances(data)
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from None
