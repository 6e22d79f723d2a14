"""The hot-path view of a client: what reading one costs."""

import uuid

from identity_server.clients import client_snapshot, forget_snapshots
from identity_server.tests.factories import client_with_secret


def test_a_known_and_an_unknown_client_cost_one_query_each(
    admin_membership, django_assert_num_queries
):
    # given a client, and no copy of anything in memory
    oauth_client, _secret = client_with_secret(organization=admin_membership.organization)
    forget_snapshots()

    # then reading it, or a client that does not exist, is one query either way
    with django_assert_num_queries(1):
        known = client_snapshot(oauth_client.client_id)
    with django_assert_num_queries(1):
        unknown = client_snapshot(str(uuid.uuid4()))
    assert known.client_id == oauth_client.client_id
    assert len(known.secrets) == 1
    assert unknown is None


def test_ids_we_never_issue_are_not_looked_up(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client_snapshot("bad\x00id") is None
        assert client_snapshot("x" * 101) is None
