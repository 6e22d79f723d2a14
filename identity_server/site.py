"""The admin site's pieces of a client, for every page that shows a machine's or an
external application's: its secrets (the generate form, the rows of
includes/client_secrets.html, generating and deleting) and its token quotas (the form
fields), through the parser and the services of the APIs that do the same
(identity_server.serializers, identity_server.services), so a page refuses what they
refuse, in their words."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone

from identity_server import selectors, serializers
from identity_server.services import (
    DESCRIPTION_MAX_LENGTH,
    client_secret_create,
    client_secret_delete,
)
from tenants.services import Actor
from tenants.site import InputForm, confirmed_delete, redirect_with_secret_once, submit_form


class TokenQuotaFields(forms.Form):
    """The token quota fields (SPEC §10) of a machine's or an application's form, with the
    API's names (identity_server.serializers.QUOTA_FIELDS), checked by the API's parser and
    the service like the rest of the form."""

    tokenQuotaPerHour = forms.CharField(
        label="Tokens per hour",
        required=False,
        empty_value=None,
        help_text="At most this many access tokens an hour; empty for no limit.",
    )
    tokenQuotaPerDay = forms.CharField(
        label="Tokens per day",
        required=False,
        empty_value=None,
        help_text="At most this many access tokens a day; empty for no limit.",
    )
    tokenQuotaEnforced = forms.BooleanField(
        label="Refuse tokens past a quota",
        required=False,
        initial=True,
        help_text="Unticked, going past a quota is only written to the audit log.",
    )

    # The services' names of these fields, for submit_form's `renames`.
    ERROR_FIELDS = {field: name for name, field in serializers.QUOTA_FIELDS.items()}

    @staticmethod
    def initial_of(client) -> dict:
        return serializers.quota_json(client)


class ClientSecretForm(InputForm):
    """`ClientSecretInput`'s fields, as the APIs that generate a secret take them."""

    description = forms.CharField(
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        help_text="Where it will be used, so that you know which one to delete later.",
    )
    expiryTime = forms.DateTimeField(
        label="Expires (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty for a secret that does not expire.",
    )


def _delete_question(secret) -> tuple[str, str]:
    """What the confirmation asks, in the dialog (site.js) and on the page without
    JavaScript alike: (question, what follows)."""
    return (
        f"Delete the secret {secret.prefix}…?",
        "It stops working at once, and so do the tokens it issued.",
    )


def client_secrets_context(client, *, delete_url, form=None) -> dict:
    """What includes/client_secrets.html shows: the client's `secrets`, each with whether
    it expired and its delete button (`delete_url(secret)`), and the `secret_form`."""
    now = timezone.now()
    return {
        "secrets": [
            {
                "secret": secret,
                "expired": secret.expires_at is not None and secret.expires_at <= now,
                "delete_url": delete_url(secret),
                "delete_question": " ".join(_delete_question(secret)),
            }
            for secret in selectors.client_secret_list(client=client)
        ],
        "secret_form": form or ClientSecretForm(),
    }


def client_secret_generate_page(request, client, *, page_url: str, render_page):
    """The generate form's POST, as the APIs that generate a secret: a redirect to the
    client's page at `page_url`, which shows the new secret once (tenants.site's
    Post/Redirect/Get), or, when refused, `render_page(form)` with the messages beside the
    form's fields. A GET (the address reloaded) goes to the client's page."""
    if request.method != "POST":
        return redirect(page_url)
    form = ClientSecretForm(request.POST)
    created = submit_form(
        request,
        form,
        lambda data: client_secret_create(
            client=client,
            actor=Actor.from_request(request),
            **serializers.client_secret_input(data),
        ),
    )
    if created is None:
        return render_page(form)
    secret, plaintext = created
    messages.success(request, f"A new secret was generated ({secret.prefix}…).")
    return redirect_with_secret_once(request, page_url, plaintext)


def client_secret_delete_page(request, client, secret_id: int, *, back_url: str):
    """Deletes one of `client`'s secrets once confirmed, and goes back to `back_url`."""
    secret = selectors.client_secret_get(client=client, secret_id=secret_id)
    question, detail = _delete_question(secret)
    return confirmed_delete(
        request,
        question=question,
        detail=detail,
        cancel_url=back_url,
        delete=lambda actor: client_secret_delete(secret=secret, actor=actor),
        done=f"Secret {secret.prefix}… deleted.",
        next_url=back_url,
    )


def connect_panel(*, intro: str, rows: list[tuple[str, str]], snippets: list[tuple[str, str]]):
    """What includes/connect.html shows: how a robot or a script connects to this client,
    each value (label, value) and each snippet (label, text) with its copy button."""
    return {
        "intro": intro,
        "rows": [
            {"id": f"connect-{number}", "label": label, "value": value}
            for number, (label, value) in enumerate(rows)
        ],
        "snippets": [
            {"id": f"connect-snippet-{number}", "label": label, "text": text}
            for number, (label, text) in enumerate(snippets)
        ],
    }
