"""Instance discovery: the Qiskit Runtime instances an IBM Cloud API key may use, and which one
to use when none is given.

Discovery follows the official client (``qiskit_ibm_runtime`` 0.51,
``Account.list_instances``): IBM Cloud Global Search (``POST /v3/resources/search`` with the
query ``service_name:quantum-computing``, paged by ``search_cursor``) lists the instances, and the
Global Catalog (``GET /api/v1/{plan id}``) names each one's plan and pricing type. An instance
whose search document has no ``doc.extensions`` has no backend allocation and is left out, as
the official client leaves it out; a plan the catalog does not describe is ``"unknown"``.

Choosing among them (:func:`order_instances`, :func:`choose_instance`) follows
``QiskitRuntimeService`` too: keep the instances that carry every requested tag, that are in
the requested region and, if ``plans_preference`` is given, whose plan is in it; order them by
that preference, or else by pricing type, free and trial plans first
(:data:`PRICING_ORDER`); configuration order breaks ties. The official client then keeps all
of them and switches between them per backend; a :class:`QiskitRestProvider` uses the first.

Hosts: for IBM's API hosts (``*.cloud.ibm.com``) Global Search and the Global Catalog are IBM's
(``api.global-search-tagging.<cloud host>``, ``globalcatalog.<cloud host>``); for any other API
URL (the local service, a gateway) they are served at the API URL's origin, where the local
service answers both (:func:`platform_urls`). Only the IAM access token is sent to them, never
the API key, and instance CRNs found are validated as strictly as CRNs given by the user.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..errors import AccountError
from .accounts import parse_crn
from .errors import ApiError
from .transport import Authenticator, RetryPolicy, Timeouts, Transport

if TYPE_CHECKING:
    import requests

__all__ = [
    "IBM_CATALOG_URL",
    "IBM_SEARCH_URL",
    "PRICING_ORDER",
    "SEARCH_FIELDS",
    "SEARCH_QUERY",
    "DiscoveredInstance",
    "choose_instance",
    "list_instances",
    "order_instances",
    "platform_urls",
]

#: IBM Cloud Global Search, for IBM's public hosts.
IBM_SEARCH_URL = "https://api.global-search-tagging.cloud.ibm.com"
#: IBM Cloud Global Catalog, for IBM's public hosts.
IBM_CATALOG_URL = "https://globalcatalog.cloud.ibm.com/api/v1"
#: The Global Search query for Qiskit Runtime instances.
SEARCH_QUERY = "service_name:quantum-computing"
#: The fields discovery asks Global Search for.
SEARCH_FIELDS = ("crn", "service_plan_unique_id", "name", "doc", "tags")
#: Pricing types in the order instances are preferred when no plan preference is given
#: (``"unknown"``: the catalog did not say).
PRICING_ORDER = ("free", "trial", "paygo", "paid", "subscription", "unknown")

_PAGE_SIZE = 100
#: Pages followed at most (10,000 instances): a cursor that never ends cannot loop forever.
_MAX_PAGES = 100
_MAX_TEXT = 256
_IBM_CLOUD = "cloud.ibm.com"


@dataclass(frozen=True)
class DiscoveredInstance:
    """An instance found by discovery.

    Attributes:
        crn: Its CRN (validated).
        name: Its name.
        plan: Its plan's display name in lower case (``"open"``, ``"premium"``...), or
            ``"unknown"``.
        pricing_type: Its plan's pricing type in lower case (one of :data:`PRICING_ORDER`).
        tags: Its IBM Cloud tags.
    """

    crn: str
    name: str
    plan: str
    pricing_type: str
    tags: tuple[str, ...] = ()

    @property
    def region(self) -> str:
        """The region field of the CRN."""
        return parse_crn(self.crn).region

    def to_dict(self) -> dict[str, Any]:
        """The instance as ``QiskitRuntimeService.instances()`` lists it: ``crn``, ``plan``,
        ``name``, ``tags`` and ``pricing_type``."""
        return {
            "crn": self.crn,
            "plan": self.plan,
            "name": self.name,
            "tags": list(self.tags),
            "pricing_type": self.pricing_type,
        }


def platform_urls(api_url: str | None) -> tuple[str, str]:
    """``(Global Search base URL, Global Catalog base URL)`` for an API base URL.

    IBM's hosts (``quantum.cloud.ibm.com``, ``eu-de.quantum.cloud.ibm.com``, or none given) use
    IBM Cloud's services; any other host serves both at its own origin (``<origin>`` and
    ``<origin>/api/v1``), as the local service does.
    """
    if api_url is None:
        return IBM_SEARCH_URL, IBM_CATALOG_URL
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host == _IBM_CLOUD or host.endswith("." + _IBM_CLOUD):
        labels = host.split(".")
        # "quantum.cloud.ibm.com", "eu-de.quantum.test.cloud.ibm.com": the cloud host follows
        # the "quantum" label.
        cloud = ".".join(labels[labels.index("quantum") + 1 :]) if "quantum" in labels else host
        return f"https://api.global-search-tagging.{cloud}", f"https://globalcatalog.{cloud}/api/v1"
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return origin, f"{origin}/api/v1"


def _text(value: Any, default: str) -> str:
    return value[:_MAX_TEXT] if isinstance(value, str) and value else default


def _plan(catalog: Transport, plan_id: str) -> tuple[str, str]:
    """``(plan name, pricing type)`` of a plan, both lower case; ``("unknown", "unknown")`` if
    the catalog answers without describing it (an error status: IBM answers 403 for archived
    plans; or a body that is not an entry), as the official client does. A catalog that cannot
    be reached fails discovery."""
    path = "/" + quote(plan_id, safe="")
    try:
        entry = catalog.request("GET", path).json()
    except ApiError as exc:
        if exc.status_code is None:  # no answer at all: connection failure or timeout
            raise
        return "unknown", "unknown"
    except ValueError:
        return "unknown", "unknown"
    if not isinstance(entry, dict):
        return "unknown", "unknown"
    overview = entry.get("overview_ui")
    english = overview.get("en") if isinstance(overview, dict) else None
    name = english.get("display_name") if isinstance(english, dict) else None
    metadata = entry.get("metadata")
    pricing = metadata.get("pricing") if isinstance(metadata, dict) else None
    kind = pricing.get("type") if isinstance(pricing, dict) else None
    pricing_type = _text(kind, "unknown").lower()
    if pricing_type not in PRICING_ORDER:
        pricing_type = "unknown"
    return _text(name, "unknown").lower(), pricing_type


def list_instances(
    session: requests.Session,
    authenticator: Authenticator,
    *,
    api_url: str | None = None,
    search_url: str | None = None,
    catalog_url: str | None = None,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
) -> list[DiscoveredInstance]:
    """The instances the authenticator's API key may use, in the order Global Search lists
    them (see the module's docstring).

    Args:
        session: The HTTP session (proxies, TLS settings).
        authenticator: Supplies the bearer token (an IAM token for the API key).
        api_url: The Runtime API base URL, which decides the platform hosts
            (:func:`platform_urls`); IBM's hosts if ``None``.
        search_url: Global Search base URL, overriding the derived one.
        catalog_url: Global Catalog base URL (``…/api/v1``), overriding the derived one.
        timeouts: Connect/read timeouts of each request.
        retry: Retry policy (every request here is a read, so all are retried).

    Raises:
        ApiError: Global Search failed or answered something that is not a search result
            (the subclass says how: :class:`~qiskit_rest_provider.errors.AuthenticationError`
            for a rejected key or token).
    """
    derived_search, derived_catalog = platform_urls(api_url)
    search = Transport(
        search_url or derived_search,
        authenticator,
        service_crn=None,
        session=session,
        api_version="",
        timeouts=timeouts,
        retry=retry,
    )
    catalog = Transport(
        catalog_url or derived_catalog,
        authenticator,
        service_crn=None,
        session=session,
        api_version="",
        timeouts=timeouts,
        retry=retry,
    )
    found: list[tuple[str, str, str, tuple[str, ...]]] = []
    seen: set[str] = set()
    cursor: str | None = None
    for _page in range(_MAX_PAGES):
        body: dict[str, Any] = (
            {"search_cursor": cursor}
            if cursor
            else {"query": SEARCH_QUERY, "fields": list(SEARCH_FIELDS)}
        )
        response = search.request(
            "POST", "/v3/resources/search", params={"limit": _PAGE_SIZE}, json=body, idempotent=True
        )
        try:
            result = response.json()
        except ValueError:
            raise ApiError(
                "Global Search answered with a body that is not JSON",
                method="POST",
                path="/v3/resources/search",
            ) from None
        items = result.get("items") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise ApiError(
                "Global Search answered without a list of items",
                method="POST",
                path="/v3/resources/search",
            )
        for item in items:
            entry = _instance_entry(item)
            if entry is not None and entry[0] not in seen:
                seen.add(entry[0])
                found.append(entry)
        next_cursor = result.get("search_cursor")
        if not isinstance(next_cursor, str) or not next_cursor or next_cursor == cursor:
            break
        cursor = next_cursor
    plans: dict[str, tuple[str, str]] = {}
    instances = []
    for crn, name, plan_id, tags in found:
        if plan_id not in plans:
            plans[plan_id] = _plan(catalog, plan_id) if plan_id else ("unknown", "unknown")
        plan, pricing_type = plans[plan_id]
        instances.append(DiscoveredInstance(crn, name, plan, pricing_type, tags))
    return instances


def _instance_entry(item: Any) -> tuple[str, str, str, tuple[str, ...]] | None:
    """``(crn, name, plan id, tags)`` of a search item, or None to skip it: not an object, a
    CRN this client would not use, or no backend allocation (empty ``doc.extensions``)."""
    if not isinstance(item, dict):
        return None
    crn = item.get("crn")
    try:
        parse_crn(crn)
    except AccountError:
        return None
    assert isinstance(crn, str)
    doc = item.get("doc")
    if not isinstance(doc, dict) or not doc.get("extensions"):
        return None
    tags = item.get("tags")
    tag_list = (
        tuple(t[:_MAX_TEXT] for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
    )
    plan_id = _text(item.get("service_plan_unique_id"), "")
    return crn, _text(item.get("name"), crn.split(":")[7]), plan_id, tag_list


def order_instances(
    instances: Iterable[DiscoveredInstance],
    *,
    region: str | None = None,
    plans_preference: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> list[DiscoveredInstance]:
    """The instances that pass the filters, most preferred first (see the module's docstring).

    Args:
        instances: Discovered instances.
        region: Keep only instances in this region (the CRN's region field).
        plans_preference: Keep only instances on these plans (names compared in lower case),
            ordered by their position in this list.
        tags: Keep only instances carrying every one of these tags (compared in lower case).
    """
    kept = list(instances)
    if tags:
        wanted = [t.lower() for t in tags]
        kept = [i for i in kept if all(t in {x.lower() for x in i.tags} for t in wanted)]
    if region:
        kept = [i for i in kept if i.region == region]
    if plans_preference:
        plans = [p.lower() for p in plans_preference]
        kept = [i for i in kept if i.plan in plans]
        return sorted(kept, key=lambda i: plans.index(i.plan))
    order = {p: n for n, p in enumerate(PRICING_ORDER)}
    return sorted(kept, key=lambda i: order.get(i.pricing_type, len(PRICING_ORDER)))


def choose_instance(
    instances: Sequence[DiscoveredInstance],
    *,
    region: str | None = None,
    plans_preference: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> DiscoveredInstance:
    """The instance to use: the first of :func:`order_instances`.

    Raises:
        AccountError: no instance was found, or none passes the filters (the message lists
            what was found and the filters).
    """
    ordered = order_instances(
        instances, region=region, plans_preference=plans_preference, tags=tags
    )
    if ordered:
        return ordered[0]
    if not instances:
        raise AccountError(
            "The API key cannot use any Qiskit Runtime instance: IBM Cloud Global Search found "
            "none with a backend allocation. Create an instance (or ask for access to one), or "
            "pass instance=<CRN>."
        )
    shown = ", ".join(f"{i.name} ({i.plan}, {i.region})" for i in instances[:10])
    filters = ", ".join(
        f"{k}={v!r}"
        for k, v in (("region", region), ("plans_preference", plans_preference), ("tags", tags))
        if v
    )
    raise AccountError(
        f"No instance matches {filters}; the API key can use: {shown}. Change the filters or "
        "pass instance=<CRN>."
    )
