"""The small part of OData v4 that the `…/orchestrator_/odata/{EntitySet}` routes speak
(SPEC §2), and UiPath's error body for the orchestrator_ APIs.

Query options: `$top` (default and maximum MAX_TOP), `$skip`, `$count` (accepted; the count
is always returned, as UiPath does), `$orderby` (`Name desc, Id`) and `$filter` made of
`Prop eq 'text'`, `Prop eq|ge|gt|le|lt 12`, `contains(Prop,'text')`, `startswith(Prop,'text')`
and `endswith(Prop,'text')`, joined by `and`; a date-time property (`time_fields`) compares
with `eq|ge|gt|le|lt` and an OData date-time literal with its offset
(`ExecutionTime ge 2026-11-22T10:00:00Z`, a `+` offset percent-encoded). Text comparisons
ignore case; a quote inside a literal is doubled (`'O''Brien'`). Each endpoint names its
properties in a field map (`{"Name": "name"}`, OData property → ORM lookup); anything else
is a 400 that says what is not supported, never a silently ignored option.

A query applies to a queryset (`odata_page`) or, for the few entity sets that are not
rows, to a list of dicts keyed by the field map's lookups (`odata_page_of_rows`).
"""

import json
import operator
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime
from rest_framework import exceptions, parsers, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

MAX_TOP = 1000
# OFFSET beyond a 32-bit integer only ever returns nothing, and PostgreSQL refuses some.
MAX_SKIP = 2**31 - 1
MAX_FILTER_LENGTH = 1000
MAX_FILTER_TERMS = 10
# Request bodies of these APIs are small entities; anything larger is refused unread.
MAX_BODY_BYTES = 64 * 1024
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
_DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})"
# The date-time literal first: a number would match its year and stop there.
_COMPARISON = re.compile(
    rf"\s*({_PROPERTY})\s+(eq|ge|gt|le|lt)\s+({_STRING}|{_DATETIME}|-?\d{{1,18}})\s*"
)
_COMPARISON_LOOKUPS = {"eq": "exact", "ge": "gte", "gt": "gt", "le": "lte", "lt": "lt"}
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


def _comparison(
    name: str, operator_: str, literal: str, fields: Mapping[str, str], times: Collection[str]
) -> Q:
    lookup = _property(name, fields)
    is_time = any(t.lower() == name.lower() for t in times)
    if is_time != bool(re.fullmatch(_DATETIME, literal)):
        raise InvalidODataQuery(
            f"“{name}” compares with a date-time such as 2026-11-22T10:00:00Z."
            if is_time
            else f"“{name}” is not a date-time."
        )
    if is_time:
        try:
            moment = parse_datetime(literal)
        except ValueError:  # well formed, but no such day or hour
            moment = None
        if moment is None:
            raise InvalidODataQuery(f"“{literal}” is not a valid date-time.")
        return Q(**{f"{lookup}__{_COMPARISON_LOOKUPS[operator_]}": moment})
    if literal.startswith("'"):
        if operator_ != "eq":
            raise InvalidODataQuery(f"Text compares only with eq, not {operator_}.")
        return Q(**{f"{lookup}__iexact": _string(literal)})
    return Q(**{f"{lookup}__{_COMPARISON_LOOKUPS[operator_]}": int(literal)})


def _filter(text: str, fields: Mapping[str, str], times: Collection[str]) -> Q:
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidODataQuery(f"$filter is longer than {MAX_FILTER_LENGTH} characters.")
    condition, position, terms = Q(), 0, 0
    while True:
        terms += 1
        if terms > MAX_FILTER_TERMS:
            raise InvalidODataQuery(f"$filter has more than {MAX_FILTER_TERMS} conditions.")
        if match := _COMPARISON.match(text, position):
            condition &= _comparison(*match.groups(), fields, times)
        elif match := _FUNCTION.match(text, position):
            function, name, literal = match.groups()
            lookup = _property(name, fields)
            if any(t.lower() == name.lower() for t in times):
                raise InvalidODataQuery(f"{function} does not apply to the date-time “{name}”.")
            condition &= Q(**{f"{lookup}__{_FUNCTION_LOOKUPS[function]}": _string(literal)})
        else:
            raise InvalidODataQuery(
                "$filter supports only `Prop eq 'text'`, `Prop eq|ge|gt|le|lt 12`, "
                "`Time ge|gt|le|lt 2026-11-22T10:00:00Z`, `contains(Prop,'text')`, "
                "`startswith(Prop,'text')` and `endswith(Prop,'text')`, joined by `and`."
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
    params,
    *,
    fields: Mapping[str, str],
    default_order: tuple[str, ...] = ("pk",),
    time_fields: Collection[str] = (),
) -> ODataQuery:
    """The query options of a list request (`request.query_params`), checked.

    `fields` maps each OData property that may be filtered or sorted on to its ORM lookup;
    `time_fields` names those of them that hold date-times. Raises InvalidODataQuery (400)
    for anything unsupported.
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
        filter=_filter(filter_text, fields, time_fields) if filter_text else Q(),
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


_ROW_TESTS = {
    "exact": operator.eq,
    "iexact": lambda a, b: str(a).lower() == b.lower(),
    "icontains": lambda a, b: b.lower() in str(a).lower(),
    "istartswith": lambda a, b: str(a).lower().startswith(b.lower()),
    "iendswith": lambda a, b: str(a).lower().endswith(b.lower()),
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}


def _row_matches(condition: Q, row: Mapping) -> bool:
    # odata_query only builds conjunctions of `lookup__test` pairs.
    for child in condition.children:
        if isinstance(child, Q):
            if not _row_matches(child, row):
                return False
            continue
        lookup, expected = child
        key, _, test = lookup.rpartition("__")
        if not _ROW_TESTS[test](row[key], expected):
            return False
    return True


def _sort_key(value):
    return value.lower() if isinstance(value, str) else value


def odata_page_of_rows(rows: list[Mapping], query: ODataQuery) -> tuple[int, list]:
    """odata_page for an entity set that is not a queryset: `rows` are dicts keyed by the
    lookups of the field map (and of the default order)."""
    matching = [row for row in rows if _row_matches(query.filter, row)]
    for order in reversed(query.order_by):  # stable sorts, the last key first
        key = order.removeprefix("-")
        matching.sort(key=lambda row, key=key: _sort_key(row[key]), reverse=order.startswith("-"))
    return len(matching), matching[query.skip : query.skip + query.top]


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


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a cap of MAX_BODY_BYTES (the rest is not read) and every
    malformed body, however deeply nested, a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise exceptions.ParseError(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
            raise exceptions.ParseError("The body is not valid JSON.") from None


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
    errors = {renames.get(k, k): [str(m) for m in error_messages(v)] for k, v in fields.items()}
    flat = [(renames.get(k, k), m) for k, v in fields.items() for m in error_messages(v)]
    flat = flat or [("", m) for m in error_messages(detail)]
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


def error_messages(detail) -> list:
    """The messages of a DRF error detail, flat: a list item's errors (keyed by its index)
    and a nested object's count as the field's own, never as a Python repr."""
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in error_messages(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in error_messages(value)]
    return [detail]
