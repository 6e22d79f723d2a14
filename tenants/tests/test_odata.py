from datetime import timedelta
from urllib.parse import quote

import pytest
from django.http import QueryDict

from tenants.odata import MAX_TOP, InvalidODataQuery, odata_page, odata_page_of_rows, odata_query
from tenants.tests.factories import OrganizationFactory, TenantFactory

FIELDS = {"Name": "name", "Id": "id"}


def params(query_string: str) -> QueryDict:
    """The query string as a client sends it: spaces, quotes and the like percent-encoded."""
    return QueryDict(quote(query_string, safe="=&$"))


def names(query_string: str, rows) -> tuple[int, list[str]]:
    query = odata_query(params(query_string), fields=FIELDS)
    model = type(rows[0])
    count, page = odata_page(model.objects.filter(pk__in=[r.pk for r in rows]), query)
    return count, [r.name for r in page]


@pytest.fixture
def tenants(db):
    organization = OrganizationFactory()
    return [
        TenantFactory(organization=organization, name=name)
        for name in ["Alpha", "beta", "Alphabet", "Gamma"]
    ]


def test_without_options_everything_in_the_default_order(tenants):
    assert names("", tenants) == (4, ["Alpha", "beta", "Alphabet", "Gamma"])


def test_top_and_skip_page_while_the_count_is_of_everything(tenants):
    assert names("$top=2&$skip=1", tenants) == (4, ["beta", "Alphabet"])


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param("Name eq 'alpha'", ["Alpha"], id="eq-any-case"),
        pytest.param("contains(Name,'ALP')", ["Alpha", "Alphabet"], id="contains"),
        pytest.param("startswith(name, 'b')", ["beta"], id="startswith-any-case-property"),
        pytest.param("endswith(Name,'ma')", ["Gamma"], id="endswith"),
        pytest.param("startswith(Name,'alp') and endswith(Name,'bet')", ["Alphabet"], id="and"),
        pytest.param("Name eq 'nobody'", [], id="no-match"),
    ],
)
def test_filter(tenants, expression, expected):
    assert names(f"$filter={expression}", tenants) == (len(expected), expected)


def test_filter_by_number(tenants):
    assert names(f"$filter=Id eq {tenants[1].pk}", tenants) == (1, ["beta"])


def test_a_doubled_quote_is_a_quote_in_the_literal(db):
    organizations = [OrganizationFactory(name=n) for n in ["O'Brien", "OBrien", "O''Brien"]]

    assert names("$filter=Name eq 'O''Brien'", organizations) == (1, ["O'Brien"])


def test_orderby(tenants):
    assert names("$orderby=Name desc", tenants)[1] == ["Gamma", "beta", "Alphabet", "Alpha"]


def test_count_is_accepted(tenants):
    assert names("$count=true", tenants)[0] == 4


@pytest.mark.parametrize(
    "query_string",
    [
        pytest.param("$top=-1", id="negative-top"),
        pytest.param("$top=abc", id="text-top"),
        pytest.param(f"$top={MAX_TOP + 1}", id="top-above-maximum"),
        pytest.param("$top=\uff11", id="non-ascii-digit"),
        pytest.param("$skip=99999999999999999999", id="huge-skip"),
        pytest.param("$count=maybe", id="count-not-boolean"),
        pytest.param("$select=Name", id="unsupported-option"),
        pytest.param("$filter=Name ne 'x'", id="unsupported-operator"),
        pytest.param("$filter=Secret eq 'x'", id="unknown-property"),
        pytest.param("$filter=Name eq 'x' or Name eq 'y'", id="or"),
        pytest.param("$filter=Name eq 'unterminated", id="unterminated-string"),
        pytest.param("$filter=" + " and ".join(["Name eq 'x'"] * 11), id="too-many-terms"),
        pytest.param("$filter=contains(Name,'" + "x" * 1000 + "')", id="too-long"),
        pytest.param("$orderby=Name sideways", id="bad-orderby"),
        pytest.param("$orderby=Description", id="unknown-orderby"),
        pytest.param("$filter=Name eq 'a\x00'", id="nul-character"),
        pytest.param("other=\x00", id="nul-in-another-parameter"),
    ],
)
def test_unsupported_queries_are_a_400_that_says_why(db, query_string):
    with pytest.raises(InvalidODataQuery) as error:
        odata_query(params(query_string), fields=FIELDS)

    assert error.value.status_code == 400
    assert str(error.value.detail)


def test_other_parameters_are_not_odata_options_and_are_ignored(tenants):
    assert names("api-version=1", tenants)[0] == 4


# --- comparisons and date-times ---------------------------------------------------------


@pytest.fixture
def events(db):
    from django.utils import timezone

    from tenants.models import AuditEvent

    base = timezone.now().replace(microsecond=0)
    return base, [
        AuditEvent.objects.create(
            actor_kind="system", action=f"a{i}", occurred_at=base + timedelta(hours=i)
        )
        for i in range(3)
    ]


EVENT_FIELDS = {"Id": "id", "Action": "action", "ExecutionTime": "occurred_at"}


def actions(query_string: str, events) -> list[str]:
    query = odata_query(params(query_string), fields=EVENT_FIELDS, time_fields={"ExecutionTime"})
    model = type(events[0])
    return [e.action for e in odata_page(model.objects.order_by(), query)[1]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # a1's instant, in UTC, and as its wall time in +01:00
        ("ExecutionTime ge {a1:%Y-%m-%dT%H:%M:%S}Z", ["a1", "a2"]),
        ("ExecutionTime gt {a1:%Y-%m-%dT%H:%M:%S}Z", ["a2"]),
        ("ExecutionTime le {a1:%Y-%m-%dT%H:%M:%S}Z", ["a0", "a1"]),
        ("ExecutionTime lt {a1:%Y-%m-%dT%H:%M:%S}Z", ["a0"]),
        ("ExecutionTime eq {a1:%Y-%m-%dT%H:%M:%S}.000Z", ["a1"]),
        ("ExecutionTime eq {a1_plus_one:%Y-%m-%dT%H:%M:%S}+01:00", ["a1"]),
    ],
)
def test_date_time_comparisons(events, expression, expected):
    base, rows = events
    a1 = base + timedelta(hours=1)
    text = expression.format(a1=a1, a1_plus_one=a1 + timedelta(hours=1))

    assert actions(f"$filter={text}", rows) == expected


def test_number_comparisons(events):
    _, rows = events

    assert actions(f"$filter=Id ge {rows[1].pk}", rows) == ["a1", "a2"]
    assert actions(f"$filter=Id lt {rows[1].pk} and Action eq 'A0'", rows) == ["a0"]


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("ExecutionTime ge 2026", id="time-with-a-number"),
        pytest.param("ExecutionTime ge '2026-01-01T00:00:00Z'", id="time-with-text"),
        pytest.param("ExecutionTime ge 2026-01-01T00:00:00", id="time-without-offset"),
        pytest.param("ExecutionTime ge 2026-02-30T00:00:00Z", id="no-such-day"),
        pytest.param("Action ge 2026-01-01T00:00:00Z", id="text-with-a-time"),
        pytest.param("Action gt 'a'", id="text-ordered"),
        pytest.param("startswith(ExecutionTime,'2026')", id="function-on-a-time"),
        pytest.param("ExecutionTime ne 2026-01-01T00:00:00Z", id="ne"),
    ],
)
def test_unsupported_comparisons_are_a_400(db, expression):
    with pytest.raises(InvalidODataQuery):
        odata_query(
            params(f"$filter={expression}"), fields=EVENT_FIELDS, time_fields={"ExecutionTime"}
        )


# --- rows that are not a queryset ---------------------------------------------------------

ROWS = [{"key": "b.Two", "n": 2}, {"key": "a.One", "n": 1}, {"key": "C.three", "n": 3}]


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        pytest.param("", (3, ["a.One", "b.Two", "C.three"]), id="default-order"),
        pytest.param("$filter=Name eq 'A.ONE'", (1, ["a.One"]), id="eq"),
        pytest.param("$filter=contains(Name,'t')", (2, ["b.Two", "C.three"]), id="contains"),
        pytest.param("$filter=N ge 2 and endswith(Name,'E')", (1, ["C.three"]), id="and"),
        pytest.param("$orderby=Name desc&$top=2", (3, ["C.three", "b.Two"]), id="order-top"),
        pytest.param("$orderby=N desc&$skip=1", (3, ["b.Two", "a.One"]), id="numbers"),
    ],
)
def test_a_query_over_rows(query_string, expected):
    query = odata_query(
        params(query_string), fields={"Name": "key", "N": "n"}, default_order=("key",)
    )

    count, page = odata_page_of_rows(ROWS, query)

    assert (count, [row["key"] for row in page]) == expected
