"""The subset of IBM Cloud's platform APIs that instance discovery uses, for the local instances.

A client given an API key and no instance finds the account's Qiskit Runtime instances as the
official client does (``qiskit_ibm_runtime.accounts.Account.list_instances``):

1. ``POST /v3/resources/search`` (IBM Cloud Global Search, host ``api.global-search-tagging.*``)
   with ``{"query": "service_name:quantum-computing", "fields": ["crn",
   "service_plan_unique_id", "name", "doc", "tags"]}`` and ``?limit=100``, following
   ``search_cursor`` until a page comes back without one;
2. ``GET /api/v1/{plan id}`` (IBM Cloud Global Catalog, host ``globalcatalog.*``) for each
   instance's plan: ``overview_ui.en.display_name`` and ``metadata.pricing.type``.

Both need a bearer token from ``/identity/token`` and answer with the instances that token's API
key may use (:meth:`~.auth.KeyRing.token_instances`): a key of an account without instances
finds none. An instance whose ``doc.extensions`` is empty has no backend allocation, and clients
skip it (the official client does); here that is an instance allowed no device.

Global Search's query language is Lucene; this service understands the part clients use:
``field:value`` terms joined by ``AND`` (or ``&&``), values exact or ending in ``*`` (a prefix),
quoted or not, compared without regard to case; ``*`` alone matches everything. Anything else
(``OR``, ``NOT``, groups, ranges, and terms side by side, which Lucene joins with OR) is refused
with 400 rather than answered wrongly.

The official client derives each platform host from its ``url`` by prefixing a subdomain and
dropping the port (``iam.<host>``, ``api.global-search-tagging.<host>``, ``globalcatalog.<host>``,
``quantum.<host>``), so it reaches a service on a loopback port only through an HTTP proxy
(``proxies=``): the requests then arrive in absolute form (``GET http://host/path``), which
:class:`~.cloud_http.AbsoluteFormMiddleware` turns into the paths routed here (RFC 9112
§3.2.2: a server must accept the absolute form). ``https://`` hosts go through a proxy as
``CONNECT`` tunnels, which an ASGI application cannot answer: :class:`~.proxy.CloudProxy`
does.

This module is the framework-free part (what :class:`~.service.LocalService` holds); the routes
and the middleware are in :mod:`.cloud_http`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .errors import ServiceError
from .instances import Instances, InstanceSpec, Plan

__all__ = [
    "DEFAULT_SEARCH_FIELDS",
    "MAX_SEARCH_LIMIT",
    "SERVICE_NAME",
    "CloudDirectory",
    "SearchQuery",
    "parse_search_query",
    "plan_entry",
]

#: The IBM Cloud service name of Qiskit Runtime instances.
SERVICE_NAME = "quantum-computing"
#: What a search returns when it names no fields (Global Search's documented default).
DEFAULT_SEARCH_FIELDS = ("account_id", "name", "type", "family", "crn")
#: The largest ``limit`` a search accepts.
MAX_SEARCH_LIMIT = 1000
_DEFAULT_SEARCH_LIMIT = 10
_MAX_QUERY = 2048
_MAX_TERMS = 32
_MAX_FIELDS = 64
_MAX_FIELD_NAME = 128
_MAX_CURSOR = 8192
#: The fields a query may test, and the ones a search may return.
_QUERY_FIELDS = frozenset(
    {
        "account_id",
        "crn",
        "family",
        "name",
        "region",
        "resource_type",
        "service_name",
        "service_plan_unique_id",
        "tags",
        "type",
    }
)
# One term: a field name, ':', then a quoted or bare value; the joining operator; blanks. None
# nests a quantifier, and the scanner below consumes the query left to right: linear time.
_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*):(?:"([^"]*)"|([^\s"()\[\]{}]+))')
_AND = re.compile(r"(?:AND|&&)(?=\s)")
_BLANKS = re.compile(r"\s*")
_LIMIT = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search query: every ``(field, value, prefix)`` term must match (values in
    lower case; ``prefix`` for a value that ended in ``*``). No terms: match everything."""

    terms: tuple[tuple[str, str, bool], ...] = ()

    def matches(self, document: Mapping[str, Any]) -> bool:
        """Whether ``document`` (a search item with every field) satisfies every term."""
        for name, value, prefix in self.terms:
            field = document.get(name)
            candidates = field if isinstance(field, list) else [field]
            texts = [str(c).lower() for c in candidates if c is not None]
            if not any(t.startswith(value) if prefix else t == value for t in texts):
                return False
        return True


def parse_search_query(text: str) -> SearchQuery:
    """Parse the Lucene subset this service understands (see the module's docstring).

    Raises:
        ServiceError: 400 for an empty, too long or unsupported query, or an unknown field.
    """
    if len(text) > _MAX_QUERY:
        raise ServiceError(
            400, "invalid_query", f"The search query is longer than {_MAX_QUERY} characters."
        )
    if text.strip() == "*":
        return SearchQuery()
    terms: list[tuple[str, str, bool]] = []
    pos, end = 0, len(text)
    need_term = True
    while True:
        match = _BLANKS.match(text, pos)
        pos = match.end() if match else pos
        if pos >= end:
            break
        if not need_term:
            # Terms are joined by AND: Lucene's default operator is OR, so a query that relies
            # on it (two terms side by side) is refused rather than answered as a conjunction.
            operator = _AND.match(text, pos)
            if operator is None:
                raise _unsupported(text, pos, "join terms with AND")
            pos, need_term = operator.end(), True
            continue
        term = _TERM.match(text, pos)
        if term is None or (term.end() < end and not text[term.end()].isspace()):
            raise _unsupported(text, pos, "expected field:value")
        name, quoted, bare = term.group(1), term.group(2), term.group(3)
        if name not in _QUERY_FIELDS:
            raise ServiceError(
                400,
                "invalid_query",
                f"Unknown search field {name[:60]!r}; known: {', '.join(sorted(_QUERY_FIELDS))}.",
            )
        value = quoted if quoted is not None else bare
        prefix = value.endswith("*")
        value = value[:-1] if prefix else value
        if "*" in value:
            raise _unsupported(text, pos, "wildcards only at the end of a value")
        terms.append((name, value.lower(), prefix))
        if len(terms) > _MAX_TERMS:
            raise ServiceError(400, "invalid_query", f"At most {_MAX_TERMS} query terms.")
        pos, need_term = term.end(), False
    if need_term:
        raise ServiceError(
            400, "invalid_query", "The search query is empty or ends with an operator."
        )
    return SearchQuery(tuple(terms))


def _unsupported(text: str, pos: int, hint: str) -> ServiceError:
    return ServiceError(
        400,
        "invalid_query",
        f"Unsupported search query at {text[pos : pos + 40]!r} ({hint}): this service "
        "understands field:value terms joined by AND, values exact or ending in '*', or '*'.",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CloudDirectory:
    """Global Search and Global Catalog answers for the service's instances.

    Args:
        instances: The configured instances and their plans.
        catalog: Which devices each instance may use (an instance allowed none has no backend
            allocation: its ``doc.extensions`` is empty).
        token_instances: The instances a request's ``Authorization`` header may use (raises
            a 401 :class:`ServiceError` for a bad token).

    Search cursors are signed with a per-process secret, so a cursor cannot be forged or
    edited; it carries the query, the fields and the position, as Global Search's cursor does
    (a request with a cursor ignores the rest of its body).
    """

    def __init__(
        self,
        instances: Instances,
        catalog: Catalog,
        token_instances: Callable[[str | None], list[str]],
    ) -> None:
        self.instances = instances
        self.catalog = catalog
        self._token_instances = token_instances
        self._secret = secrets.token_bytes(32)

    # Global Search ----------------------------------------------------------------------------

    def _order(self, crns: Iterable[str]) -> list[InstanceSpec]:
        """The instances ``crns`` names, configured ones first in configuration order."""
        wanted = set(crns)
        ordered = [s for s in self.instances if s.crn in wanted]
        known = {s.crn for s in ordered}
        ordered.extend(self.instances.spec(c) for c in sorted(wanted - known))
        return ordered

    def resource(self, spec: InstanceSpec) -> dict[str, Any]:
        """The search item of an instance, with every field."""
        backends = [d.name for d in self.catalog.visible(spec.crn)]
        allocation: dict[str, Any] = {}
        if backends:
            allocation["backends"] = backends
            if spec.usage_limit_seconds is not None:
                allocation["usage_limit_seconds"] = spec.usage_limit_seconds
        return {
            "crn": spec.crn,
            "name": spec.name,
            "account_id": spec.account_id,
            "region": spec.region,
            "family": "resource_controller",
            "type": "resource-instance",
            "resource_type": "resource-instance",
            "service_name": SERVICE_NAME,
            "service_plan_unique_id": spec.plan.plan_id,
            "tags": list(spec.tags),
            "doc": {
                "guid": spec.guid,
                "name": spec.name,
                "region_id": spec.region,
                "resource_id": SERVICE_NAME,
                "resource_plan_id": spec.plan.plan_id,
                "state": "active",
                "type": "service_instance",
                # Empty when the instance may use no device: clients skip such instances.
                "extensions": {"allocation": allocation} if allocation else {},
            },
        }

    def search(
        self,
        authorization: str | None,
        body: Any,
        *,
        limit: str | None = None,
        account_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v3/resources/search``: one page of the caller's instances matching the
        body's ``query``, each with the requested ``fields``; ``search_cursor`` is present
        while more pages follow.

        Raises:
            ServiceError: 401 without a valid token; 400 for a malformed body, query, cursor
                or limit.
        """
        crns = self._token_instances(authorization)
        size = self._limit(limit)
        if not isinstance(body, dict):
            raise ServiceError(400, "invalid_request", "The body must be a JSON object.")
        cursor = body.get("search_cursor")
        if cursor is not None:
            query_text, fields, offset = self._open_cursor(cursor)
        else:
            query_text = body.get("query", "*")
            if not isinstance(query_text, str):
                raise ServiceError(400, "invalid_request", "query must be a string.")
            fields = self._fields(body.get("fields"))
            offset = 0
        query = parse_search_query(query_text)
        found = [
            doc
            for doc in (self.resource(s) for s in self._order(crns))
            if query.matches(doc) and (account_id is None or doc["account_id"] == account_id)
        ]
        page = found[offset : offset + size]
        answer: dict[str, Any] = {
            "limit": size,
            "items": [self._select(doc, fields) for doc in page],
        }
        if offset + size < len(found):
            answer["search_cursor"] = self._cursor(query_text, fields, offset + size)
        return answer

    @staticmethod
    def _limit(limit: str | None) -> int:
        if limit is None:
            return _DEFAULT_SEARCH_LIMIT
        if not _LIMIT.fullmatch(limit) or not 1 <= int(limit) <= MAX_SEARCH_LIMIT:
            raise ServiceError(
                400, "invalid_request", f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}."
            )
        return int(limit)

    @staticmethod
    def _fields(value: Any) -> tuple[str, ...]:
        if value is None:
            return DEFAULT_SEARCH_FIELDS
        if (
            not isinstance(value, list)
            or len(value) > _MAX_FIELDS
            or not all(isinstance(f, str) and 0 < len(f) <= _MAX_FIELD_NAME for f in value)
        ):
            raise ServiceError(
                400,
                "invalid_request",
                f"fields must be a list of at most {_MAX_FIELDS} field names.",
            )
        return tuple(dict.fromkeys(value))

    @staticmethod
    def _select(doc: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
        if "*" in fields:
            return dict(doc)
        # crn is always returned (Global Search's rule); unknown fields are simply absent.
        return {"crn": doc["crn"], **{f: doc[f] for f in fields if f in doc}}

    def _cursor(self, query: str, fields: Sequence[str], offset: int) -> str:
        payload = _b64(json.dumps([query, list(fields), offset]).encode("utf-8"))
        mac = hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest()[:16]
        return f"{payload}.{_b64(mac)}"

    def _open_cursor(self, cursor: Any) -> tuple[str, tuple[str, ...], int]:
        invalid = ServiceError(400, "invalid_cursor", "The search_cursor is not valid.")
        if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR or cursor.count(".") != 1:
            raise invalid
        payload, _, mac = cursor.partition(".")
        try:
            expected = hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64(mac), expected[:16]):
                raise invalid
            query, fields, offset = json.loads(_unb64(payload))
        except (ValueError, TypeError, UnicodeError):
            raise invalid from None
        # Signed by this process, so well formed; checked all the same.
        if not (
            isinstance(query, str)
            and isinstance(fields, list)
            and all(isinstance(f, str) for f in fields)
            and isinstance(offset, int)
            and offset >= 0
        ):
            raise invalid
        return query, tuple(fields), offset

    # Global Catalog ---------------------------------------------------------------------------

    def catalog_entry(self, authorization: str | None, entry_id: str) -> dict[str, Any]:
        """``GET /api/v1/{id}`` on the catalog host: the plan ``entry_id`` (404 if no instance
        uses such a plan; 401 without a valid token)."""
        self._token_instances(authorization)
        plan = self.instances.plans.get(entry_id)
        if plan is None:
            raise ServiceError(404, "not_found", f"No catalog entry {entry_id[:80]!r}.")
        return plan_entry(plan)


def plan_entry(plan: Plan) -> dict[str, Any]:
    """The Global Catalog entry of a plan (the fields clients read, and a few around them)."""
    return {
        "id": plan.plan_id,
        "name": plan.name.lower(),
        "kind": "plan",
        "active": True,
        "disabled": False,
        "parent_id": SERVICE_NAME,
        "tags": [],
        "overview_ui": {
            "en": {
                "display_name": plan.name,
                "description": plan.description,
                "long_description": plan.description,
            }
        },
        "metadata": {"pricing": {"type": plan.pricing_type, "origin": "global_catalog"}},
    }
