"""Outbound mail (SPEC §9): invitations and password reset links, through Django's mail
backend as settings configure it from EMAIL_URL (identity_server.env.email_settings;
without one, the console backend prints them).

A mail leaves after the response, once the transaction that decided it has committed, on
a small pool of threads, so that:
- a slow or unreachable SMTP server never delays or fails the request that asked for it
  (identity_server.env sets its timeout);
- a password reset request for an address with an account takes as long as one for an
  address without (for which nothing is sent): the answer's timing does not tell which
  addresses have accounts.
A failed delivery is logged as a warning with its kind and the error's class only: the
body holds a one-time link, and the SMTP password is never in a message.
"""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

logger = logging.getLogger(__name__)

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


def mail_configured() -> bool:
    """Whether mail reaches people (EMAIL_URL is set): invitations replace the show-once
    password only then; the console backend of `make run` does not count."""
    return bool(settings.EMAIL_CONFIGURED)


def mail_send_on_commit(*, to: str, subject: str, body: str, kind: str) -> None:
    """Sends a plain-text mail from DEFAULT_FROM_EMAIL to `to` once the current transaction
    commits (at once outside one), off the request; `kind` names it in the log."""
    message = EmailMessage(subject=" ".join(subject.split()), body=body, to=[to])
    transaction.on_commit(lambda: _submit(message, kind))


def _submit(message: EmailMessage, kind: str) -> None:
    future = _pool.submit(_deliver, message, kind)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future) -> None:
    with _pending_lock:
        _pending.discard(future)


def _deliver(message: EmailMessage, kind: str) -> None:
    try:
        message.send()
    except Exception as error:  # a thread's error has nowhere else to go
        logger.warning("Sending a %s mail failed: %s", kind, type(error).__name__)


def mail_drain(timeout: float = 30) -> bool:
    """Waits until every queued mail has been handed to the backend (tests, a clean
    shutdown); False if some are still being sent after `timeout` seconds."""
    with _pending_lock:
        pending = set(_pending)
    _done, not_done = futures_wait(pending, timeout=timeout)
    return not not_done
