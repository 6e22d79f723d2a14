"""The admin site's pages of the federation app: the organization's external applications,
their client secrets and federated credentials, and the evaluation of a token against
those credentials (federation/site_urls.py lists the addresses).

Thin, as the APIs in federation/api.py: tenants.access.site_page resolves the organization
for the signed-in user (members read, administrators write), a selector reads, and every
write goes through the API's serializer and then the same service, with the signed-in user
as the actor of the audit event; so a page refuses what the API refuses, in the same words.
"""

import functools

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST, require_safe
from rest_framework import exceptions as api_exceptions

from federation import assertions, jwks, selectors, serializers, services
from federation.api import GenerateSecretView
from federation.forms import (
    ClientSecretForm,
    EvaluateForm,
    ExternalAppForm,
    FederatedCredentialForm,
)
from federation.models import CREDENTIALS_PER_APP
from identity_server import selectors as identity_selectors
from identity_server import serializers as identity_serializers
from identity_server.scopes import CATALOGUE, scopes_by_resource
from identity_server.services import client_secret_create, client_secret_delete
from tenants.access import site_page
from tenants.services import Actor
from tenants.site import add_service_errors, confirmation_page, paginate, render_secret_once

# What a page shows beside its fields: a service's refusal or the API serializer's.
INPUT_ERRORS = (ValidationError, api_exceptions.ValidationError)
APP_ERROR_FIELDS = serializers.ExternalAppInput.ERROR_FIELDS


def _app(access, client_id):
    return selectors.external_app_get(organization=access.organization, client_id=client_id)


def _credential(access, client_id, credential_id):
    return selectors.federated_credential_get(
        app=_app(access, client_id), credential_id=credential_id
    )


def _app_url(name: str, app) -> str:
    return reverse(name, args=[app.organization.slug, app.client.client_id])


def _posted(request):
    return request.POST if request.method == "POST" else None


def _write(request, form, service, parse, *, renames=None, **arguments):
    """`service(**arguments, actor=<the signed-in user>, **parse(the form's input))`, the
    write the API makes with the same serializer (`parse`) and service; None when either
    refused the input, whose messages are then beside the form's fields."""
    try:
        return service(**arguments, actor=Actor.from_request(request), **parse(form.api_data()))
    except INPUT_ERRORS as error:
        add_service_errors(form, error, renames=renames)
        return None


# --- external applications ---------------------------------------------------------------


@site_page
@require_safe
def app_list(request, access):
    apps = selectors.external_app_list(organization=access.organization)
    return render(request, "federation/app_list.html", {"page": paginate(request, apps)})


@site_page
def app_create(request, access):
    form = ExternalAppForm(_posted(request))
    if form.is_bound and (
        created := _write(
            request,
            form,
            services.external_app_create,
            functools.partial(serializers.external_app_input, creating=True),
            renames=APP_ERROR_FIELDS,
            organization=access.organization,
        )
    ):
        app, plaintext = created
        messages.success(request, f"The application “{app.name}” was created.")
        if plaintext is None:
            return redirect(_app_url("org-apps-detail", app))
        return render_secret_once(
            request, "federation/app_detail.html", {**_app_context(app), "secret": plaintext}
        )
    return render(request, "federation/app_form.html", {"form": form})


def _app_context(app, *, secret_form=None) -> dict:
    """What the application's page shows: its facts, scopes by resource, and secrets."""
    now = timezone.now()
    return {
        "app": app,
        "delete_question": " ".join(_app_delete_question(app)),
        "scope_groups": [
            (resource, [{"name": name, "description": _scope_description(name)} for name in names])
            for resource, names in scopes_by_resource(app.client.scopes).items()
        ],
        "secrets": [
            {
                "secret": secret,
                "expired": secret.expires_at is not None and secret.expires_at <= now,
                "delete_question": " ".join(_secret_delete_question(secret)),
            }
            for secret in identity_selectors.client_secret_list(client=app.client)
        ],
        "secret_form": secret_form or ClientSecretForm(),
        "credential_count": selectors.federated_credential_list(app=app).count(),
    }


def _scope_description(name: str) -> str:
    scope = CATALOGUE.get(name)
    return scope.description if scope else ""


# Each destructive action asks one question, in the dialog (site.js) or on the page
# without JavaScript (tenants.site.confirmation_page): (question, what follows).


def _app_delete_question(app) -> tuple[str, str]:
    return (
        f"Delete the application “{app.name}”?",
        "Its client secrets and federated credentials are deleted with it, and every token "
        "it holds stops working at once.",
    )


def _secret_delete_question(secret) -> tuple[str, str]:
    return (
        f"Delete the secret {secret.prefix}…?",
        "Whatever uses it can no longer get tokens, and the tokens it got stop working.",
    )


def _credential_delete_question(credential) -> tuple[str, str]:
    return (
        f"Delete the federated credential “{credential.name}”?",
        "Workloads using it can no longer get new tokens; tokens already issued stay valid "
        "until they expire.",
    )


def _confirmed(request, question: tuple[str, str], cancel_url: str):
    """None once the user confirmed; else the page that asks (tenants.site)."""
    return confirmation_page(
        request, question=question[0], detail=question[1], cancel_url=cancel_url
    )


@site_page
@require_safe
def app_detail(request, access, client_id):
    return render(request, "federation/app_detail.html", _app_context(_app(access, client_id)))


@site_page
def app_edit(request, access, client_id):
    app = _app(access, client_id)
    initial = {"name": app.name, "redirectUri": app.redirect_uri, "scopes": app.client.scopes}
    form = ExternalAppForm(_posted(request), initial=initial, editing=True)
    if form.is_bound and _write(
        request,
        form,
        services.external_app_update,
        functools.partial(serializers.external_app_input, creating=False),
        renames=APP_ERROR_FIELDS,
        app=app,
    ):
        messages.success(request, "The application was saved.")
        return redirect(_app_url("org-apps-detail", app))
    return render(request, "federation/app_form.html", {"form": form, "app": app})


@site_page
@require_POST
def app_delete(request, access, client_id):
    app = _app(access, client_id)
    page = _confirmed(request, _app_delete_question(app), _app_url("org-apps-detail", app))
    if page is not None:
        return page
    services.external_app_delete(app=app, actor=Actor.from_request(request))
    messages.success(request, f"The application “{app.name}” was deleted.")
    return redirect(reverse("org-apps", args=[access.organization.slug]))


# --- client secrets ----------------------------------------------------------------------


@site_page
@require_POST
def app_secret_create(request, access, client_id):
    """Generates a secret (as the GenerateSecret API) and shows its plaintext in this
    answer only."""
    app = _app(access, client_id)
    form = ClientSecretForm(request.POST)
    created = _write(
        request,
        form,
        client_secret_create,
        identity_serializers.client_secret_input,
        renames=GenerateSecretView.error_fields,
        client=app.client,
    )
    if not created:
        return render(request, "federation/app_detail.html", _app_context(app, secret_form=form))
    secret, plaintext = created
    messages.success(request, f"A new secret was generated ({secret.prefix}…).")
    return render_secret_once(
        request, "federation/app_detail.html", {**_app_context(app), "secret": plaintext}
    )


@site_page
@require_POST
def app_secret_delete(request, access, client_id, secret_id):
    app = _app(access, client_id)
    secret = identity_selectors.client_secret_get(client=app.client, secret_id=secret_id)
    page = _confirmed(request, _secret_delete_question(secret), _app_url("org-apps-detail", app))
    if page is not None:
        return page
    client_secret_delete(secret=secret, actor=Actor.from_request(request))
    messages.success(request, f"The secret {secret.prefix}… was deleted.")
    return redirect(_app_url("org-apps-detail", app))


# --- federated credentials ---------------------------------------------------------------


def _credentials_page(request, app, *, evaluate_form=None, evaluation=None):
    credentials = list(selectors.federated_credential_list(app=app))
    context = {
        "app": app,
        "credentials": [
            {
                "credential": credential,
                "delete_question": " ".join(_credential_delete_question(credential)),
            }
            for credential in credentials
        ],
        "limit": CREDENTIALS_PER_APP,
        "limit_reached": len(credentials) >= CREDENTIALS_PER_APP,
        "limit_message": services.CREDENTIAL_LIMIT_MESSAGE,
        "evaluate_form": evaluate_form or EvaluateForm(),
        "evaluation": evaluation,
    }
    return render(request, "federation/credential_list.html", context)


@site_page
@require_safe
def credential_list(request, access, client_id):
    return _credentials_page(request, _app(access, client_id))


@site_page
def credential_evaluate(request, access, client_id):
    """POST: every check of the pasted token against every credential (as the evaluate
    API). Issues no token and writes nothing; the token stays only in the form's field,
    in an answer no cache keeps."""
    app = _app(access, client_id)
    if request.method != "POST":
        return _credentials_page(request, app)
    form = EvaluateForm(request.POST)
    evaluation = None
    try:
        assertion = serializers.evaluate_input(form.api_data())
    except INPUT_ERRORS as error:
        add_service_errors(form, error)
    else:
        credentials = selectors.federated_credential_list(app=app)
        evaluation = serializers.evaluation_json(
            *assertions.assertion_evaluate(assertion, credentials)
        )
    response = _credentials_page(request, app, evaluate_form=form, evaluation=evaluation)
    add_never_cache_headers(response)
    return response


def _credential_form_page(request, app, form, credential=None):
    """The add or edit form. When the issuer check failed, the page explains it beside the
    field (the API's message stays the same: it names no internal reason)."""
    issuer = form["issuer"].value() or ""
    return render(
        request,
        "federation/credential_form.html",
        {
            "app": app,
            "form": form,
            "credential": credential,
            "issuer_unreachable": form.has_error("issuer", code="issuer_unreachable"),
            "discovery_url": issuer.rstrip("/") + jwks.DISCOVERY_PATH,
        },
    )


@site_page
def credential_create(request, access, client_id):
    app = _app(access, client_id)
    form = FederatedCredentialForm(_posted(request))
    if form.is_bound and (
        credential := _write(
            request,
            form,
            services.federated_credential_create,
            serializers.federated_credential_input,
            app=app,
        )
    ):
        messages.success(request, f"The federated credential “{credential.name}” was added.")
        return redirect(_app_url("org-apps-credentials", app))
    return _credential_form_page(request, app, form)


@site_page
def credential_edit(request, access, client_id, credential_id):
    credential = _credential(access, client_id, credential_id)
    initial = {field: getattr(credential, field) for field in services.CREDENTIAL_FIELDS}
    form = FederatedCredentialForm(_posted(request), initial=initial)
    if form.is_bound and (
        saved := _write(
            request,
            form,
            services.federated_credential_update,
            serializers.federated_credential_input,
            credential=credential,
        )
    ):
        messages.success(request, f"The federated credential “{saved.name}” was saved.")
        return redirect(_app_url("org-apps-credentials", saved.app))
    return _credential_form_page(request, credential.app, form, credential)


@site_page
@require_POST
def credential_delete(request, access, client_id, credential_id):
    credential = _credential(access, client_id, credential_id)
    page = _confirmed(
        request,
        _credential_delete_question(credential),
        _app_url("org-apps-credentials", credential.app),
    )
    if page is not None:
        return page
    services.federated_credential_delete(credential=credential, actor=Actor.from_request(request))
    messages.success(request, f"The federated credential “{credential.name}” was deleted.")
    return redirect(_app_url("org-apps-credentials", credential.app))
