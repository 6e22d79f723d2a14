"""The database settings under concurrent writers (SQLite's transaction mode)."""

import threading
import time

import pytest
from django.db import connection, transaction

from tenants.models import Organization
from tenants.tests.factories import OrganizationFactory


@pytest.mark.django_db(transaction=True)
def test_two_transactions_that_read_then_write_at_once_both_commit():
    # given two requests, each in a transaction that reads and then writes, the first still
    # between its read and its write when the second begins
    first_has_read, failures = threading.Event(), []

    def request(read_then_wait: bool):
        try:
            with transaction.atomic():
                Organization.objects.count()
                if read_then_wait:
                    first_has_read.set()
                    time.sleep(0.3)
                OrganizationFactory()
        except Exception as error:  # what the test reports
            failures.append(error)
        finally:
            first_has_read.set()
            connection.close()

    first = threading.Thread(target=request, args=(True,))
    first.start()
    first_has_read.wait(5)
    second = threading.Thread(target=request, args=(False,))
    second.start()
    for thread in (first, second):
        thread.join(10)

    # then neither fails "database is locked": the second waits its turn on SQLite
    assert failures == []
    assert Organization.objects.count() == 2
