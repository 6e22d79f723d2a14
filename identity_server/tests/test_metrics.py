"""The metrics module (SPEC §10): closed label sets, ages computed when scraped, and
several processes' values summed in multiprocess mode."""

import os
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from identity_server import metrics


def sample(text: bytes, name: str, **labels) -> float:
    """The value of the sample `name` with exactly `labels` in a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text.decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def test_token_request_counts_by_closed_labels():
    # given
    before = metrics.scrape()
    labels = dict(
        grant="client_credentials", auth_method="client_secret_post", outcome="issued", reason="ok"
    )
    # when
    metrics.token_request_observed(
        grant="client_credentials",
        auth_method="client_secret_post",
        reason="",
        duration=0.003,
        issued=True,
    )
    after = metrics.scrape()
    # then
    name = "identity_token_requests_total"
    assert sample(after, name, **labels) == sample(before, name, **labels) + 1
    histogram = "identity_token_request_duration_seconds_count"
    assert (
        sample(after, histogram, outcome="issued")
        == sample(before, histogram, outcome="issued") + 1
    )


@pytest.mark.parametrize(
    ("grant", "auth_method", "reason", "expected"),
    [
        pytest.param("", "none", "missing_secret", ("none", "none", "missing_secret"), id="empty"),
        pytest.param(
            "urn:evil\nx", "bearer", "Wrong Secret!", ("other", "other", "other"), id="arbitrary"
        ),
        pytest.param(
            "client_credentials",
            "private_key_jwt",
            "x" * 100,
            ("client_credentials", "private_key_jwt", "other"),
            id="long-reason",
        ),
    ],
)
def test_request_supplied_values_never_become_labels(grant, auth_method, reason, expected):
    # when
    metrics.token_request_observed(
        grant=grant, auth_method=auth_method, reason=reason, duration=0.001, issued=False
    )
    # then
    labels = dict(zip(("grant", "auth_method", "reason"), expected, strict=True))
    assert sample(metrics.scrape(), "identity_token_requests_total", outcome="refused", **labels)
    assert b"evil" not in metrics.scrape()


def test_rate_limited_and_shared_cache_errors_count():
    before = metrics.scrape()
    metrics.rate_limited(limit="client_address", endpoint="introspect")
    metrics.shared_cache_error("replay")
    after = metrics.scrape()
    for name, labels in (
        (
            "identity_rate_limited_requests_total",
            {"endpoint": "introspect", "limit": "client_address"},
        ),
        ("identity_shared_cache_errors_total", {"operation": "replay"}),
    ):
        assert sample(after, name, **labels) == sample(before, name, **labels) + 1


def test_jwks_fetches_by_issuer_host_and_cache_age_at_scrape_time():
    # given: keys fetched 40 s ago, from an issuer URL with credentials and a path
    issuer = "https://user:pw@Login.Example.test:8443/tenant/v2.0"
    metrics.jwks_fetched(issuer=issuer, outcome="ok")
    metrics.jwks_keys_cached(issuer=issuer, fetched_at=time.time() - 40)
    # when
    text = metrics.scrape()
    # then: the host is the label, never the path or the credentials
    host = "login.example.test:8443"
    assert sample(text, "identity_jwks_fetches_total", issuer_host=host, outcome="ok") >= 1
    assert 40 <= sample(text, "identity_jwks_cache_age_seconds", issuer_host=host) < 60
    assert b"tenant/v2.0" not in text
    assert b"pw" not in text.replace(b"_pw", b"")


def test_state_gauges_are_read_when_scraped():
    def state(now):
        yield metrics.gauge_family("identity_example", "Doc.", ["state"], {("a",): 3})

    assert sample(metrics.scrape(state), "identity_example", state="a") == 3


WORKER = """
import os, sys
from identity_server import metrics
metrics.token_request_observed(grant="client_credentials", auth_method="private_key_jwt",
    reason="", duration=0.01, issued=True)
metrics.jwks_keys_cached(issuer="https://idp.example.test", fetched_at=float(sys.argv[1]))
print(os.getpid(), flush=True)
sys.stdin.read()  # a live worker, until the test closes its input
"""
SCRAPE = (
    "import sys; from identity_server import metrics; sys.stdout.buffer.write(metrics.scrape())"
)


def test_multiprocess_mode_sums_the_workers_and_drops_gone_workers_gauges(tmp_path):
    # given: two live processes that recorded into one directory, as the server's workers do
    env = {**os.environ, metrics.MULTIPROC_DIR_VARIABLE: str(tmp_path)}
    metrics.multiprocess_dir_prepare(str(tmp_path))
    now = time.time()
    workers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", WORKER, str(fetched_at)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for fetched_at in (now - 100, now - 10)
    ]
    for worker in workers:
        worker.stdout.readline()  # it has recorded
    labels = dict(
        grant="client_credentials", auth_method="private_key_jwt", outcome="issued", reason="ok"
    )

    def scrape() -> bytes:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-c", SCRAPE], env=env, capture_output=True, check=True
        ).stdout

    try:
        # when
        text = scrape()
        # then: counters summed; the age is of the oldest keys a live process serves
        assert sample(text, "identity_token_requests_total", **labels) == 2
        age = sample(text, "identity_jwks_cache_age_seconds", issuer_host="idp.example.test")
        assert age >= 100
        # when: the worker holding the old keys exits
        workers[0].stdin.close()
        workers[0].wait(timeout=10)
        text = scrape()
        # then: its counts stay, its gauge goes
        assert sample(text, "identity_token_requests_total", **labels) == 2
        assert sample(text, "identity_jwks_cache_age_seconds", issuer_host="idp.example.test") < 60
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(timeout=10)
    # and a new run starts from nothing
    metrics.multiprocess_dir_prepare(str(tmp_path))
    assert sample(scrape(), "identity_token_requests_total", **labels) == 0
