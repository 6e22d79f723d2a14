"""Local accounts' passwords (SPEC §9): recovery through Django's password reset views, and
the page an invitation's link opens (tenants.invitations).

Recovery, `/accounts/password/reset/…` (OWASP Forgot Password Cheat Sheet):
- The same answer whatever the address: a redirect to the "check your mail" page, whether
  an account has it or not. Only an active account with a password gets a mail (Django's
  PasswordResetForm.get_users), sent after the response (tenants.mail), so the time taken
  does not tell either.
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
    """Django's form, refused past login_throttle's reset limits; its mails leave after the
    response (tenants.mail) and `requested_for` lists the accounts that get one."""

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
        mail.mail_send_on_commit(
            to=to_email,
            subject=render_to_string(subject_template_name, context),
            body=render_to_string(email_template_name, context),
            kind="password reset",
        )
        self.requested_for.append(context["user"])


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm
    template_name = "registration/password_reset_form.html"
    subject_template_name = "registration/password_reset_subject.txt"
    email_template_name = "registration/password_reset_email.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)  # queues one mail per account with the address
        actor = Actor.from_request(self.request)
        for user in form.requested_for or [None]:
            user_event_record(action="user.password_reset_requested", actor=actor, user=user)
        return response

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
        return response

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
