"""Outbound mail (SPEC §9): invitations and password reset links, through Django's mail
backend as settings configure it from EMAIL_URL (identity_server.env.email_settings;
without one, the console backend prints them).

Mail work runs after the response, once the transaction that decided it has committed, on
a small pool of threads, so that:
- a slow or unreachable SMTP server never delays or fails the request that asked for it
  (identity_server.env sets its timeout);
- a job may also do the reading that depends on who has an address (`mail_job_on_commit`):
  the password reset request does all of its per-account work there, so its answer takes
  as long for an address without an account as for one with (timing tells nothing).
A job runs with the request's context (its request id reaches the audit events it writes)
and its own database connection, closed at the end. A failure is logged as a warning with
the job's kind and the error's class only: a body holds a one-time link, and the SMTP
password is never in a message.
"""

import contextvars
import email.policy
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connections, transaction

from tenants.background import JobPool

logger = logging.getLogger(__name__)

_jobs = JobPool(workers=2, name="mail")


class PlainMail(EmailMessage):
    """A plain-text mail from DEFAULT_FROM_EMAIL whose ASCII body goes as 7bit, lines whole
    (RFC 5322 §2.1.1 allows 998 characters): a link longer than 78 characters is not
    wrapped by quoted-printable, so the console of `make run` prints it as a mail client
    shows it."""

    def __init__(self, *, to: str, subject: str, body: str):
        super().__init__(subject=" ".join(subject.split()), body=body, to=[to])

    def message(self, *, policy=email.policy.default):
        msg = super().message(policy=policy)
        if self.body.isascii() and max(map(len, self.body.splitlines()), default=0) <= 998:
            msg.set_content(self.body, subtype="plain", charset="utf-8", cte="7bit")
        return msg


class UndeliveredBackend(BaseEmailBackend):
    """Outside DEBUG without EMAIL_URL: sends nothing, and logs each mail's subject but
    never its body (a one-time link) or its address, so an operator sees that mail is
    wanted (identity.W172 says so at start-up)."""

    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.warning("Mail not sent, EMAIL_URL is not set: %r", message.subject)
        return 0


def mail_configured() -> bool:
    """Whether mail reaches people (EMAIL_URL is set): invitations replace the show-once
    password only then; the console backend of `make run` does not count."""
    return bool(settings.EMAIL_CONFIGURED)


def mail_send_on_commit(*, to: str, subject: str, body: str, kind: str) -> None:
    """Sends a plain-text mail to `to` once the current transaction commits (at once
    outside one), off the request; `kind` names it in the log."""
    message = PlainMail(to=to, subject=subject, body=body)
    mail_job_on_commit(message.send, kind=kind)


def mail_job_on_commit(job: Callable[[], object], *, kind: str) -> None:
    """Runs `job` (which may read and write the database and send mail) on the pool once
    the current transaction commits (at once outside one); `kind` names it in the log."""
    context = contextvars.copy_context()
    transaction.on_commit(lambda: _submit(context, job, kind))


def _submit(context: contextvars.Context, job, kind: str) -> None:
    _jobs.submit(context.run, _run, job, kind)


def _run(job, kind: str) -> None:
    try:
        job()
    except Exception as error:  # a thread's error has nowhere else to go
        logger.warning("Sending a %s mail failed: %s", kind, type(error).__name__)
    finally:
        connections.close_all()  # this thread's own


def mail_drain(timeout: float = 30) -> bool:
    """Waits until every queued job has finished (tests, a clean shutdown); False if some
    are still running after `timeout` seconds."""
    return _jobs.drain(timeout)
