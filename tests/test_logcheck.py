"""The suite's check that no log holds a credential (tests.logcheck) finds what it must."""

import pytest

from tests.logcheck import leaks

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJl"
SECRET = "idsec_" + "A1b2" * 10


@pytest.mark.parametrize(
    ("text", "used", "found"),
    [
        pytest.param(f"issued {JWT}", set(), True, id="access-token-or-assertion"),
        pytest.param(f"Bearer {JWT[:-3]}", set(), True, id="jwt-without-its-signature"),
        pytest.param(f"secret={SECRET}", set(), True, id="client-secret-shape"),
        pytest.param("password was hunter2-longer", {"hunter2-longer"}, True, id="used-password"),
        pytest.param("secret prefix idsec_A1b2 shown", set(), False, id="shown-prefix"),
        pytest.param('{"route":"token","status":401}', {"hunter2-longer"}, False, id="clean"),
    ],
)
def test_credentials_in_log_lines_are_found(text, used, found):
    result = leaks([("some.logger", text)], used)
    assert bool(result) is found
    if found:
        assert result[0].startswith("some.logger: ")
        assert SECRET not in result[0] and JWT not in result[0]
