"""Local accounts' passwords (SPEC §9): recovery through Django's password reset views, and
the page an invitation's link opens (tenants.invitations).

Recovery, `/accounts/password/reset/…` (OWASP Forgot Password Cheat Sheet):
- The same answer whatever the address: a redirect to the "check your mail" page, whether
  an account has it or not. Only an active account with a password gets a mail (Django's
  PasswordResetForm.get_users). Everything that depends on the address having an account
  (the look-up, the token, the mail, the audit events) runs after the response on the mail
  pool (tenants.mail), so the request does the same work, and takes the same time, for
  every address.
- Throttled like sign-in (identity_server.login_throttle): every request counts per email
  address and per client address; beyond the limit the form answers 429 (the throttle says
  nothing about accounts, unknown addresses count alike). When the shared cache is gone it
  fails open, as sign-in's does.
- The link's token is Django's: an HMAC of the account's id, password hash, last sign-in
  and email, and its time; it works once (the new password changes the hash) and for
  PASSWORD_RESET_TIMEOUT, an hour. The confirm page moves it out of the URL into the session
  before the form is shown (Django's PasswordResetConfirmView), so it leaks through no
  Referer; a used, expired or altered link is a 400 page.
- After a reset every session of the account ends (identity_server.signout
  .sessions_end_everywhere): site sessions, sign-ins to applications, back-channel logout.
- Audit: `user.password_reset_requested` (for an address without an account, one event
  without organization; the address itself is not recorded), refusals with reason code
  `throttled`; `user.password_reset`, refusals `token_invalid`.

Invitations, `/accounts/invitation/…`: the same confirm page with the invitation's token
generator (a week, its own salt); setting the password is audited `user.invitation_accept`.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse_lazy

from identity_server import login_throttle, signout
from tenants import mail
from tenants.invitations import invitation_tokens
from tenants.models import AuditEvent
from tenants.services import Actor, user_event_record

FAILURE = AuditEvent.Outcome.FAILURE


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's form, refused past login_throttle's reset limits; `save` (on the mail pool)
    sends each mail at once and lists the accounts that got one in `requested_for`."""

    error_messages = {
        "throttled": "Too many password reset requests. Wait %(minutes)d minutes, then try again."
    }

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.requested_for = []

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        if email:
            actor = Actor.from_request(self.request)
            if login_throttle.reset_request_throttled(email=email, address=actor.address):
                if login_throttle.reset_first_refusal(email=email, address=actor.address):
                    user_event_record(
                        action="user.password_reset_requested",
                        actor=actor,
                        user=None,
                        outcome=FAILURE,
                        reason_code="throttled",
                    )
                raise ValidationError(
                    self.error_messages["throttled"],
                    code="throttled",
                    params={"minutes": login_throttle.WINDOW_SECONDS // 60},
                )
        return cleaned

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        # On the mail pool already (PasswordResetView.form_valid): sent here and now.
        mail.PlainMail(
            to=to_email,
            subject=render_to_string(subject_template_name, context),
            body=render_to_string(email_template_name, context),
        ).send()
        self.requested_for.append(context["user"])


def reset_mails_send(*, form: ThrottledPasswordResetForm, domain: str, https: bool, actor) -> None:
    """On the mail pool: a reset link to each active account with a password that has the
    form's address, each audited in the account's organizations; an address without one
    is audited once, without organization and without the address."""
    form.save(
        domain_override=domain,
        use_https=https,
        subject_template_name=PasswordResetView.subject_template_name,
        email_template_name=PasswordResetView.email_template_name,
    )
    for user in form.requested_for or [None]:
        user_event_record(action="user.password_reset_requested", actor=actor, user=user)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm
    template_name = "registration/password_reset_form.html"
    subject_template_name = "registration/password_reset_subject.txt"
    email_template_name = "registration/password_reset_email.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        # Nothing that depends on who has the address happens in the request: looking the
        # accounts up, their tokens, the mails and their audit events are one job on the
        # mail pool, so the answer's content and time are the same for every address.
        domain, https = self.request.get_host(), self.request.is_secure()
        actor = Actor.from_request(self.request)
        mail.mail_job_on_commit(
            lambda: reset_mails_send(form=form, domain=domain, https=https, actor=actor),
            kind="password reset",
        )
        return HttpResponseRedirect(self.get_success_url())

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's confirm page; an invalid link answers 400 and is audited, a new password
    ends every session of the account."""

    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")
    action = "user.password_reset"

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        # A valid link in the URL answers a redirect to itself without the token.
        if not self.validlink and not isinstance(response, HttpResponseRedirect):
            user_event_record(
                action=self.action,
                actor=Actor.from_request(self.request),
                user=self.user,
                outcome=FAILURE,
                reason_code="token_invalid",
            )
            response.status_code = 400
            # Django would log the 400 with the path, which holds the token; the request log
            # (identity_server.requestlog) records the route and status without it.
            response._has_been_logged = True
        return response

    @transaction.atomic  # the new password and the end of every session, or neither
    def form_valid(self, form):
        response = super().form_valid(form)  # the new password is saved
        actor = Actor.from_request(self.request)
        user_event_record(action=self.action, actor=actor, user=form.user)
        signout.sessions_end_everywhere(user=form.user, actor=actor, reason="password_reset")
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


class InvitationAcceptView(PasswordResetConfirmView):
    """An invitation's link: the account's first password."""

    template_name = "registration/invitation_accept.html"
    success_url = reverse_lazy("invitation-complete")
    token_generator = invitation_tokens
    action = "user.invitation_accept"


class InvitationCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/invitation_complete.html"
