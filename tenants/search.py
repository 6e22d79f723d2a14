"""Search in a tenant (SPEC §7): one query over the tenant's named objects, by type.

The objects live in apps above this one (machines, robots, external applications,
federated credentials), which tenants must not import. So each app offers a *source*, and
the setting TENANT_SEARCH_SOURCES maps a result type to the dotted path of its source:

    TENANT_SEARCH_SOURCES = {
        "machine": "machines.selectors.machine_search",
        "robot": "machines.selectors.robot_search",
    }

A source is `source(*, tenant, text, limit) -> list[SearchResult]`: at most `limit` objects
of that tenant (or of its organization, for organization-wide objects) whose name contains
`text` in any case, in name order. Adding a type is adding an entry to the setting.
"""

from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils.module_loading import import_string

from tenants.models import Tenant

MAX_TEXT_LENGTH = 128
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class SearchResult:
    """One object found. `required_scope` is the scope a caller needs to see it
    (`OR.Machines.Read`): results the caller's scopes do not cover are left out."""

    type: str
    id: str
    name: str
    description: str
    required_scope: str


def name_contains(queryset: QuerySet, text: str, limit: int) -> QuerySet:
    """What a source searches: `queryset`'s rows whose name contains `text` in any case,
    in name order, at most `limit`."""
    return queryset.filter(name__icontains=text).order_by(Lower("name"), "pk")[:limit]


def search_types() -> list[str]:
    return list(settings.TENANT_SEARCH_SOURCES)


def tenant_search(
    *,
    tenant: Tenant,
    text: str,
    types: Collection[str] | None = None,
    scopes: Collection[str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[SearchResult]:
    """The tenant's objects whose name contains `text` (any case), of `types` (every type
    when None), in name order, at most `limit`.

    `scopes` are the scopes that the caller holds, each already expanded to every scope it
    covers (a holder of `OR.Machines` lists `OR.Machines.Read` too); None means the caller
    was authorized otherwise (a signed-in admin). Raises ValidationError for empty or long
    text, an unknown type or a limit out of range, keyed by `query`, `type` and `top`.
    """
    text = text.strip()
    if not text or len(text) > MAX_TEXT_LENGTH:
        raise ValidationError(
            {"query": f"Search for 1 to {MAX_TEXT_LENGTH} characters."}, code="invalid"
        )
    sources = settings.TENANT_SEARCH_SOURCES
    wanted = list(sources) if types is None else list(dict.fromkeys(types))
    unknown = [t for t in wanted if t not in sources]
    if unknown or not wanted:
        raise ValidationError(
            {"type": f"Unknown type “{', '.join(unknown)}”; use {', '.join(sources)}."},
            code="invalid_choice",
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"top": f"Must be from 1 to {MAX_LIMIT}."}, code="invalid")
    results = []
    for result_type in wanted:
        source = import_string(sources[result_type])
        found = source(tenant=tenant, text=text, limit=limit)
        results += [r for r in found if scopes is None or r.required_scope in scopes]
    results.sort(key=lambda r: (r.name.lower(), r.type, r.id))
    return results[:limit]
