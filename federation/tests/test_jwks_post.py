"""federation.jwks.post_form, the guarded fetcher's POST (back-channel logout tokens), against
a real HTTPS receiver on loopback (tests/logout_receiver.py): the same guards as its GETs."""

import time

import pytest

from federation import jwks


def test_a_form_is_posted_and_a_2xx_answered(logout_receiver):
    logout_receiver.status = 204

    status = jwks.post_form(logout_receiver.url("/bc"), {"logout_token": "a.b.c"})

    assert status == 204
    [notification] = logout_receiver.received(1)
    assert (notification.path, notification.form) == ("/bc", {"logout_token": "a.b.c"})


@pytest.mark.parametrize(
    ("status", "reason"), [(302, "redirect_refused"), (500, "http_status"), (404, "http_status")]
)
def test_another_status_is_refused_with_its_reason(logout_receiver, status, reason):
    logout_receiver.status = status

    with pytest.raises(jwks.IssuerUnreachable) as refused:
        jwks.post_form(logout_receiver.url(), {"logout_token": "x"})

    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:9/bc", "not_https"),
        ("https://user:pw@localhost:9/bc", "has_userinfo"),
        ("not a url", "invalid_url"),
    ],
)
def test_a_url_that_may_not_be_fetched_is_refused_before_any_connection(
    logout_receiver, url, reason
):
    with pytest.raises(jwks.IssuerUnreachable) as refused:
        jwks.post_form(url, {"logout_token": "x"})

    assert refused.value.reason == reason
    assert logout_receiver.notifications == []


def test_a_loopback_receiver_outside_the_allowlist_is_refused(logout_receiver, settings):
    settings.FEDERATION_OUTBOUND_ALLOWLIST = []

    with pytest.raises(jwks.IssuerUnreachable) as refused:
        jwks.post_form(logout_receiver.url(), {"logout_token": "x"})

    assert refused.value.reason == "address_not_public"
    assert logout_receiver.notifications == []


def test_a_receiver_that_never_answers_is_cut_at_the_deadline(logout_receiver, settings):
    settings.FEDERATION_FETCH_TIMEOUT_SECONDS = 1
    logout_receiver.hang()

    started = time.monotonic()
    with pytest.raises(jwks.IssuerUnreachable) as refused:
        jwks.post_form(logout_receiver.url(), {"logout_token": "x"})

    assert refused.value.reason == "deadline_exceeded"
    assert time.monotonic() - started < 2.5
