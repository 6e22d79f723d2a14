"""The JWKS cache of federation.jwks (SPEC §5): one fetch per issuer a minute across
processes, stale keys while the provider is down, never an empty key set; against the real
HTTPS identity provider and the configured shared cache (Redis when REDIS_URL is set)."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache

from federation import jwks
from federation.jwks import IssuerUnreachable, backoff_seconds, forget_cached_keys, issuer_keys
from federation.tests.factories import a_minute_passes
from identity_server import metrics
from identity_server.tests.test_metrics import sample
from tests.processes import run_python


@pytest.fixture
def issuer(identity_provider):
    return identity_provider.issuer("github")


def fetches(identity_provider, shape="github") -> int:
    return identity_provider.requests_for(urlsplit(identity_provider.jwks_url(shape)).path)


def kids(keys) -> set[str]:
    return {key["kid"] for key in keys}


def test_a_cold_cache_fetches_once_then_serves_from_memory(identity_provider, issuer):
    # when
    first = issuer_keys(issuer)
    second = issuer_keys(issuer, kid=identity_provider.key("github").kid)

    # then
    assert kids(first) == kids(second) == {identity_provider.key("github").kid}
    assert fetches(identity_provider) == 1


def test_another_process_is_served_from_the_shared_cache(identity_provider, issuer):
    issuer_keys(issuer)

    forget_cached_keys()  # as a process that never fetched
    keys = issuer_keys(issuer)

    assert kids(keys) == {identity_provider.key("github").kid}
    assert fetches(identity_provider) == 1


def test_an_unknown_kid_refetches_at_most_once_a_minute(identity_provider, issuer):
    # given keys fetched a minute ago
    issuer_keys(issuer)
    a_minute_passes(issuer)

    # when a token names a kid not among them
    keys = issuer_keys(issuer, kid="unknown-1")

    # then one fetch, and the keys are what the provider publishes
    assert fetches(identity_provider) == 2
    assert "unknown-1" not in kids(keys)

    # and another unknown kid within the minute fetches nothing
    assert kids(issuer_keys(issuer, kid="unknown-2")) == kids(keys)
    assert fetches(identity_provider) == 2


def test_a_new_kid_at_the_provider_is_found_by_the_refetch(identity_provider, issuer):
    old = identity_provider.key("github").kid
    issuer_keys(issuer)
    a_minute_passes(issuer)

    identity_provider.rotate_keys("github", keep_previous=True)
    new = identity_provider.key("github").kid

    assert kids(issuer_keys(issuer, kid=new)) == {old, new}


def test_keys_older_than_an_hour_are_refreshed(identity_provider, issuer, clock):
    # given
    issuer_keys(issuer)
    identity_provider.rotate_keys("github")

    # when an hour has passed, but the fetch lock still holds
    clock.advance(seconds=jwks.REFRESH_SECONDS + 1)
    held = issuer_keys(issuer)

    # then the old keys still serve, until the lock expires
    assert fetches(identity_provider) == 1
    a_minute_passes(issuer)
    refreshed = issuer_keys(issuer)
    assert fetches(identity_provider) == 2
    assert kids(refreshed) == {identity_provider.key("github").kid} != kids(held)


def test_while_the_provider_is_down_keys_are_served_stale_for_a_day(
    identity_provider, issuer, clock
):
    # given keys fetched, then the provider down
    fetched = issuer_keys(issuer)
    identity_provider.down()

    # when a refresh is due and fails, they are still served
    clock.advance(hours=2)
    a_minute_passes(issuer)
    assert issuer_keys(issuer) == fetched

    # and until a day after the last fetch, then no more
    clock.advance(hours=21)
    a_minute_passes(issuer)
    assert issuer_keys(issuer) == fetched
    clock.advance(hours=1, seconds=1)
    a_minute_passes(issuer)
    with pytest.raises(IssuerUnreachable) as refused:
        issuer_keys(issuer)
    assert refused.value.reason == "connect_failed"


def test_a_cold_cache_with_the_provider_down_fails_then_backs_off(identity_provider, issuer):
    # given the provider down
    identity_provider.down()

    # when
    with pytest.raises(IssuerUnreachable) as first:
        issuer_keys(issuer)

    # then it is back up, but the next fetch waits for the back-off
    assert first.value.reason == "connect_failed"
    identity_provider.up()
    with pytest.raises(IssuerUnreachable) as held:
        issuer_keys(issuer)
    assert held.value.reason == "fetch_backoff"
    assert identity_provider.requests_served == 0

    # and once it has passed, the keys are fetched
    a_minute_passes(issuer)
    assert kids(issuer_keys(issuer)) == {identity_provider.key("github").kid}


def test_the_back_off_doubles_up_to_five_minutes():
    assert [backoff_seconds(n) for n in range(1, 7)] == [60, 120, 240, 300, 300, 300]


def test_an_empty_key_set_is_never_cached(identity_provider, issuer):
    # given a provider publishing no RSA key
    identity_provider.serve_jwks("github", {"keys": []})

    # when
    with pytest.raises(IssuerUnreachable) as refused:
        issuer_keys(issuer)

    # then nothing is cached, and the keys are fetched once the provider publishes some
    assert refused.value.reason == "no_rsa_signing_key"
    assert cache.get(jwks.cache_key("keys", issuer)) is None
    identity_provider.reset()
    a_minute_passes(issuer)
    assert kids(issuer_keys(issuer)) == {identity_provider.key("github").kid}


def test_a_refresh_that_finds_no_rsa_key_keeps_the_cached_keys(identity_provider, issuer, clock):
    # given
    fetched = issuer_keys(issuer)

    # when the provider publishes only an EC key at the next refresh
    identity_provider.jwks_without_rsa("github")
    clock.advance(seconds=jwks.REFRESH_SECONDS + 1)
    a_minute_passes(issuer)

    # then the cached keys still serve, in this process and the shared cache
    assert issuer_keys(issuer) == fetched
    forget_cached_keys()
    assert issuer_keys(issuer) == fetched
    assert fetches(identity_provider) == 2


def test_concurrent_requests_on_a_cold_cache_fetch_once(identity_provider, issuer):
    # given a provider slow enough for every request to arrive while the first fetches
    identity_provider.slow(0.3)

    # when six requests ask at once
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: issuer_keys(issuer), range(6)))

    # then one fetched, and the others waited for its keys
    assert fetches(identity_provider) == 1
    assert all(kids(keys) == {identity_provider.key("github").kid} for keys in answers)


FETCH_IN_A_PROCESS = """
import django, json, sys, time
django.setup()
from federation import jwks
time.sleep(max(0, float(sys.argv[2]) - time.time()))
print(json.dumps(sorted(key["kid"] for key in jwks.issuer_keys(sys.argv[1]))))
"""


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="processes share the key cache through Redis; set REDIS_URL to test it",
)
def test_processes_sharing_redis_fetch_once(identity_provider, issuer):
    # given four processes of one deployment, a slow provider, and a cold cache
    identity_provider.slow(0.3)
    env = {**identity_provider.env, "REDIS_URL": os.environ["REDIS_URL"]}
    start_at = str(time.time() + 4)  # each has started Django by then

    # when they all ask for the keys at the same moment
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda _: run_python("-c", FETCH_IN_A_PROCESS, issuer, start_at, **env), range(4)
            )
        )

    # then one of them fetched, and every one got the keys
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    expected = [identity_provider.key("github").kid]
    assert [json.loads(r.stdout.splitlines()[-1]) for r in results] == [expected] * 4
    assert fetches(identity_provider) == 1


def test_with_the_shared_cache_down_each_process_keeps_its_own_copy_and_lock(
    identity_provider, issuer, shared_cache_down
):
    # when
    first = issuer_keys(issuer)
    unknown = issuer_keys(issuer, kid="unknown")

    # then
    assert first == unknown
    assert fetches(identity_provider) == 1


def test_fetches_and_the_cache_age_are_in_the_metrics(identity_provider, issuer):
    # given
    host = metrics.issuer_host(issuer)
    before = metrics.scrape()
    identity_provider.down()
    with pytest.raises(IssuerUnreachable):
        issuer_keys(issuer)
    identity_provider.up()
    a_minute_passes(issuer)
    # when
    issuer_keys(issuer)
    after = metrics.scrape()
    # then: one failed and one good fetch, counted by host; keys just fetched
    for outcome in ("connect_failed", "ok"):
        labels = {"issuer_host": host, "outcome": outcome}
        name = "identity_jwks_fetches_total"
        assert sample(after, name, **labels) == sample(before, name, **labels) + 1
    assert 0 <= sample(after, "identity_jwks_cache_age_seconds", issuer_host=host) < 5
