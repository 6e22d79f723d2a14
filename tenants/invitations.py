"""Invitations (SPEC §9): a new member's account, made by an administrator on a server
that sends mail, has no password until its owner sets one through a link mailed to them;
nobody else ever knows it (without mail, tenants.services.member_add shows a generated
password once instead).

The link carries Django's password reset token machinery with its own salt and lifetime,
so a reset token is no invitation token and the other way round:
- the token is an HMAC (SECRET_KEY, SECRET_KEY_FALLBACKS) of the account's id, password
  hash, last sign-in and email, and its creation time: setting the password changes the
  hash, which ends every link sent before (single use), and an address change ends them too;
- it is refused INVITATION_TIMEOUT seconds after it was made (a week).
The page that takes it is identity_server.recovery.InvitationAcceptView.
"""

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode

from tenants import mail


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "tenants.invitations.InvitationTokenGenerator"

    def check_token(self, user, token):
        """Django's check, with INVITATION_TIMEOUT instead of PASSWORD_RESET_TIMEOUT."""
        if not (user and token):
            return False
        try:
            timestamp = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        return self._num_seconds(self._now()) - timestamp <= settings.INVITATION_TIMEOUT


invitation_tokens = InvitationTokenGenerator()


def invitation_link(*, user, site_url: str) -> str:
    """The one-time set-password link of `user`, under `site_url` (`https://host`)."""
    path = reverse(
        "invitation-accept",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": invitation_tokens.make_token(user),
        },
    )
    return site_url.rstrip("/") + path


def invitation_mail_on_commit(*, user, organization, site_url: str, inviter: str) -> None:
    """Mails the invitation to the account's address once the transaction commits."""
    context = {
        "organization": organization,
        "username": user.get_username(),
        "inviter": inviter,
        "link": invitation_link(user=user, site_url=site_url),
        "days": settings.INVITATION_TIMEOUT // 86400,
    }
    mail.mail_send_on_commit(
        to=user.email,
        subject=render_to_string("registration/invitation_subject.txt", context),
        body=render_to_string("registration/invitation_email.txt", context),
        kind="invitation",
    )
