"""tenants.search: the sources named in TENANT_SEARCH_SOURCES, the type filter, scopes.

The sources here are plain functions of this module, named by dotted path in the setting
as another app's would be: a new type is an entry in the setting, not a code change.
"""

import pytest
from django.core.exceptions import ValidationError

from tenants.search import SearchResult, tenant_search
from tenants.tests.factories import TenantFactory

PLANETS = ["Mars", "Mercury", "Saturn", "Earth"]


def planet_source(*, tenant, text, limit):
    """A source of the test type `planet`: names with `text` in them, in name order."""
    found = sorted(p for p in PLANETS if text.lower() in p.lower())
    return [SearchResult("planet", p, p, f"of {tenant.name}", "Sky.Read") for p in found][:limit]


def moon_source(*, tenant, text, limit):
    return [SearchResult("moon", "1", "Moon", "", "Sky.Moons.Read")][:limit]


@pytest.fixture
def sources(settings):
    settings.TENANT_SEARCH_SOURCES = {
        **settings.TENANT_SEARCH_SOURCES,
        "planet": f"{__name__}.planet_source",
        "moon": f"{__name__}.moon_source",
    }


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Sol")


def names(results):
    return [(r.type, r.name) for r in results]


def test_a_type_added_to_the_setting_is_searched(sources, tenant):
    results = tenant_search(tenant=tenant, text="R", types=["planet"])

    assert [name for _, name in names(results)] == ["Earth", "Mars", "Mercury", "Saturn"]
    assert results[0].description == "of Sol"


def test_every_type_is_searched_by_default_and_merged_in_name_order(sources, tenant):
    results = tenant_search(tenant=tenant, text="o")

    assert names(results) == [("moon", "Moon")]
    assert names(tenant_search(tenant=tenant, text="m")) == [
        ("planet", "Mars"),
        ("planet", "Mercury"),
        ("moon", "Moon"),
    ]


def test_the_limit_is_over_all_types(sources, tenant):
    assert names(tenant_search(tenant=tenant, text="m", limit=2)) == [
        ("planet", "Mars"),
        ("planet", "Mercury"),
    ]


def test_results_the_scopes_do_not_cover_are_left_out(sources, tenant):
    results = tenant_search(tenant=tenant, text="m", scopes={"Sky.Moons.Read"})

    assert names(results) == [("moon", "Moon")]
    assert tenant_search(tenant=tenant, text="m", scopes=set()) == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        pytest.param({"text": ""}, "query", id="empty"),
        pytest.param({"text": "   "}, "query", id="blank"),
        pytest.param({"text": "x" * 129}, "query", id="long"),
        pytest.param({"text": "x", "types": ["planet", "star"]}, "type", id="unknown-type"),
        pytest.param({"text": "x", "types": []}, "type", id="no-type"),
        pytest.param({"text": "x", "limit": 0}, "top", id="limit-zero"),
        pytest.param({"text": "x", "limit": 101}, "top", id="limit-high"),
    ],
)
def test_bad_arguments_are_a_validation_error_keyed_by_the_api_parameter(
    sources, tenant, arguments, field
):
    with pytest.raises(ValidationError) as error:
        tenant_search(tenant=tenant, **arguments)

    assert list(error.value.message_dict) == [field]
