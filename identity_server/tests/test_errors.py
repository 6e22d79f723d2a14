import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/identity_/no-such-route",
        "/demo/identity_/connect/nothing",
        "/demo/DefaultTenant/orchestrator_/odata/Nothing",
        "/00000000-0000-0000-0000-000000000000/portal_/api/nothing",
    ],
)
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.django_db
def test_unknown_api_routes_answer_json(client, settings, path, debug):
    settings.DEBUG = debug

    response = client.get(path)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_unknown_browser_pages_answer_html(client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
