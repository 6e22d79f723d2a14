"""The shared cache's outage policy (identity_server.shared_cache), against the configured
cache and against Redis on a port nobody listens on (`shared_cache_down`)."""

import logging

import pytest

from identity_server import shared_cache

pytestmark = pytest.mark.django_db


def test_with_the_store_up_each_kind_of_use_works():
    assert shared_cache.cache_set("test:k", {"a": 1}, 10)
    assert shared_cache.cache_get("test:k") == {"a": 1}
    assert shared_cache.cache_get_many(["test:k", "test:none"]) == {"test:k": {"a": 1}}
    assert [shared_cache.cache_add("test:add", 1, 10) for _ in range(2)] == [True, False]
    assert [shared_cache.claim("test:jti", 10) for _ in range(2)] == [True, False]
    assert shared_cache.count_many([("test:a", 10), ("test:b", 10)]) == [1, 1]
    assert shared_cache.count_many([("test:a", 10), ("test:b", 10)]) == [2, 2]
    assert shared_cache.cache_delete("test:k")
    assert shared_cache.cache_get("test:k", "gone") == "gone"


def test_with_the_store_down_caches_miss_counters_open_and_replay_protection_closes(
    shared_cache_down, caplog
):
    caplog.set_level(logging.WARNING, logger="identity_server.shared_cache")

    # caches: a miss, a skipped write, an add that cannot say
    assert shared_cache.cache_get("test:k", "default") == "default"
    assert shared_cache.cache_get("test:k", unavailable="down") == "down"
    assert shared_cache.cache_get_many(["test:k"]) == {}
    assert shared_cache.cache_set("test:k", 1, 10) is False
    assert shared_cache.cache_add("test:k", 1, 10) is None
    # throttles and counters: open
    assert shared_cache.add_or_open("test:first", 1, 10) is True
    assert shared_cache.count("test:count", 10) is None
    # replay protection: closed
    with pytest.raises(shared_cache.SharedCacheUnavailable):
        shared_cache.claim("test:jti", 10)
    messages = [record.getMessage() for record in caplog.records]
    assert any("replay protection" in m or "are refused" in m for m in messages)
    # the error's class is logged, never its text (which may carry the store's address)
    assert not any("127.0.0.1" in m for m in messages)


def test_an_invalidation_after_commit_never_raises(
    shared_cache_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        shared_cache.publish_on_commit("test:generation", "g1", 10)

    assert len(callbacks) == 1  # it ran, after the commit, and said nothing to the caller
