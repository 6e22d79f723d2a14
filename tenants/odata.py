"""The small part of OData v4 that the `…/orchestrator_/odata/{EntitySet}` routes speak
(SPEC §2), and UiPath's error body for the orchestrator_ APIs.

Query options: `$top` (default and maximum MAX_TOP), `$skip`, `$count` (accepted; the count
is always returned, as UiPath does), `$orderby` (`Name desc, Id`) and `$filter` made of
`Prop eq 'text'`, `Prop eq 12`, `contains(Prop,'text')`, `startswith(Prop,'text')` and
`endswith(Prop,'text')`, joined by `and`. Text comparisons ignore case; a quote inside a
literal is doubled (`'O''Brien'`). Each endpoint names its properties in a field map
(`{"Name": "name"}`, OData property → ORM lookup); anything else is a 400 that says what is
not supported, never a silently ignored option.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

MAX_TOP = 1000
# OFFSET beyond a 32-bit integer only ever returns nothing, and PostgreSQL refuses some.
MAX_SKIP = 2**31 - 1
MAX_FILTER_LENGTH = 1000
MAX_FILTER_TERMS = 10
SUPPORTED_OPTIONS = frozenset({"$top", "$skip", "$count", "$filter", "$orderby"})

# UiPath's `errorCode` for a 400: one per error code our validation raises, else the
# generic "invalid input".
ERROR_INVALID_INPUT = 1000
ERROR_DUPLICATE_NAME = 1001
ERROR_CODES = {"duplicate_name": ERROR_DUPLICATE_NAME}
# Error keys that name no field: DRF's, Django's, and ours for a body-wide error.
_NOT_A_FIELD = frozenset({"", "non_field_errors", "__all__"})

_STRING = r"'(?:[^']|'')*'"  # the two alternatives start differently: no backtracking
_PROPERTY = r"[A-Za-z_][A-Za-z0-9_]*"
_COMPARISON = re.compile(rf"\s*({_PROPERTY})\s+eq\s+({_STRING}|-?\d{{1,18}})\s*")
_FUNCTION = re.compile(
    rf"\s*(contains|startswith|endswith)\(\s*({_PROPERTY})\s*,\s*({_STRING})\s*\)\s*"
)
_AND = re.compile(r"and\s+")
_ORDER_ITEM = re.compile(rf"\s*({_PROPERTY})(?:\s+(asc|desc))?\s*")
_FUNCTION_LOOKUPS = {
    "contains": "icontains",
    "startswith": "istartswith",
    "endswith": "iendswith",
}


class InvalidODataQuery(exceptions.APIException):
    """A query option this server does not understand; answered 400."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The query is invalid."
    default_code = "invalid_query"


@dataclass(frozen=True)
class ODataQuery:
    top: int
    skip: int
    filter: Q
    order_by: tuple[str, ...]


def _property(name: str, fields: Mapping[str, str]) -> str:
    # .NET clients are not consistent about case, and OData servers commonly allow it.
    for key, lookup in fields.items():
        if key.lower() == name.lower():
            return lookup
    raise InvalidODataQuery(f"Unknown property “{name}”; use one of {', '.join(sorted(fields))}.")


def _whole_number(params, option: str, default: int, maximum: int) -> int:
    value = params.get(option)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or int(value) > maximum:
        raise InvalidODataQuery(f"{option} must be a whole number from 0 to {maximum}.")
    return int(value)


def _string(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _filter(text: str, fields: Mapping[str, str]) -> Q:
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidODataQuery(f"$filter is longer than {MAX_FILTER_LENGTH} characters.")
    condition, position, terms = Q(), 0, 0
    while True:
        terms += 1
        if terms > MAX_FILTER_TERMS:
            raise InvalidODataQuery(f"$filter has more than {MAX_FILTER_TERMS} conditions.")
        if match := _COMPARISON.match(text, position):
            name, literal = match.groups()
            lookup = _property(name, fields)
            if literal.startswith("'"):
                condition &= Q(**{f"{lookup}__iexact": _string(literal)})
            else:
                condition &= Q(**{lookup: int(literal)})
        elif match := _FUNCTION.match(text, position):
            function, name, literal = match.groups()
            lookup = _property(name, fields)
            condition &= Q(**{f"{lookup}__{_FUNCTION_LOOKUPS[function]}": _string(literal)})
        else:
            raise InvalidODataQuery(
                "$filter supports only `Prop eq 'text'`, `Prop eq 12`, "
                "`contains(Prop,'text')`, `startswith(Prop,'text')` and "
                "`endswith(Prop,'text')`, joined by `and`."
            )
        position = match.end()
        if position == len(text):
            return condition
        joiner = _AND.match(text, position)
        if joiner is None:
            raise InvalidODataQuery(f"$filter: unexpected “{text[position:][:20]}”.")
        position = joiner.end()


def _order_by(text: str, fields: Mapping[str, str]) -> tuple[str, ...]:
    order = []
    for item in text.split(","):
        match = _ORDER_ITEM.fullmatch(item)
        if match is None:
            raise InvalidODataQuery("$orderby is a comma-separated list of `Prop [asc|desc]`.")
        lookup = _property(match.group(1), fields)
        order.append(f"-{lookup}" if match.group(2) == "desc" else lookup)
    return tuple(order)


def odata_query(
    params, *, fields: Mapping[str, str], default_order: tuple[str, ...] = ("pk",)
) -> ODataQuery:
    """The query options of a list request (`request.query_params`), checked.

    `fields` maps each OData property that may be filtered or sorted on to its ORM lookup.
    Raises InvalidODataQuery (400) for anything unsupported.
    """
    unsupported = sorted(k for k in params if k.startswith("$") and k not in SUPPORTED_OPTIONS)
    if unsupported:
        raise InvalidODataQuery(f"The query option {unsupported[0]} is not supported.")
    if any("\x00" in value for key in params for value in params.getlist(key)):
        # No text we store contains one, and PostgreSQL refuses it in a query.
        raise InvalidODataQuery("The query contains a NUL character.")
    count = params.get("$count")
    if count is not None and count.lower() not in {"true", "false"}:
        raise InvalidODataQuery("$count must be true or false.")
    filter_text = params.get("$filter", "").strip()
    order_text = params.get("$orderby", "").strip()
    order = _order_by(order_text, fields) if order_text else ()
    return ODataQuery(
        top=_whole_number(params, "$top", MAX_TOP, MAX_TOP),
        skip=_whole_number(params, "$skip", 0, MAX_SKIP),
        filter=_filter(filter_text, fields) if filter_text else Q(),
        # The default order last, so that pages are stable when the sort key has ties.
        order_by=(*order, *default_order),
    )


def _ordering(model, order: str):
    """Text sorts without regard to case, the same on every database (their collations
    differ)."""
    lookup = order.removeprefix("-")
    try:
        field = model._meta.get_field(lookup)
    except FieldDoesNotExist:  # a lookup across a relation: as the database sorts it
        return order
    if not isinstance(field, models.CharField | models.TextField):
        return order
    return Lower(lookup).desc() if order.startswith("-") else Lower(lookup).asc()


def odata_page(queryset: QuerySet, query: ODataQuery) -> tuple[int, list]:
    """The count of everything the filter matches, and the requested page of it."""
    matching = queryset.filter(query.filter)
    ordering = [_ordering(queryset.model, order) for order in query.order_by]
    page = matching.order_by(*ordering)[query.skip : query.skip + query.top]
    return matching.count(), list(page)


def _context(request, fragment: str) -> str:
    """`…/odata/$metadata#Fragment`, as OData clients expect in `@odata.context`."""
    path = request.path
    base = path[: path.index("/odata/") + len("/odata/")] if "/odata/" in path else path
    return request.build_absolute_uri(f"{base}$metadata#{fragment}")


def odata_collection(request, *, entity_set: str, count: int, value: list) -> dict:
    return {
        "@odata.context": _context(request, entity_set),
        "@odata.count": count,
        "value": value,
    }


def odata_entity(request, *, entity_set: str, value: dict) -> dict:
    return {"@odata.context": _context(request, f"{entity_set}/$entity"), **value}


def exception_handler(exc, context):
    """DRF exception handler of the orchestrator_ APIs: a 400 gets UiPath's body,
    `{"message", "errorCode", "errors": {"Field": ["..."]}}`; other errors keep DRF's
    (a 404 stays the same `{"detail": "Not found."}` as an unknown route).

    Services raise Django's ValidationError; a view may rename its field keys for the API
    with an `error_fields` map (`{"name": "Name"}`).
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    if not isinstance(exc, exceptions.ValidationError | exceptions.ParseError | InvalidODataQuery):
        return drf_exception_handler(exc, context)
    renames = getattr(context.get("view"), "error_fields", {})
    detail = exc.detail
    fields = detail if isinstance(detail, dict) else {}
    errors = {renames.get(k, k): [str(m) for m in _as_list(v)] for k, v in fields.items()}
    flat = [(renames.get(k, k), m) for k, v in fields.items() for m in _as_list(v)]
    flat = flat or [("", m) for m in _as_list(detail)]
    error_code = next(
        (ERROR_CODES[m.code] for _, m in flat if getattr(m, "code", None) in ERROR_CODES),
        ERROR_INVALID_INPUT,
    )
    field, first = flat[0] if flat else ("", "The request is invalid.")
    message = f"{field}: {first}" if field not in _NOT_A_FIELD else str(first)
    return Response(
        {"message": message, "errorCode": error_code, "errors": errors},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]
