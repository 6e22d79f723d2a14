"""The admin site's pages of the federation app: the organization's external applications,
their client secrets and federated credentials, the evaluation of a token against those
credentials, and the organization's sign-in identity providers (administrators only; SPEC
§9) (federation/site_urls.py lists the addresses).

Thin, as the APIs in federation/api.py: tenants.access.site_page resolves the organization
for the signed-in user (members read, administrators write), a selector reads, and every
write goes through the API's serializer and then the same service, with the signed-in user
as the actor of the audit event; so a page refuses what the API refuses, in the same words.
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST, require_safe

from federation import assertions, jwks, selectors, serializers, services
from federation.forms import (
    OIDC_SCOPE_DESCRIPTIONS,
    AppKeyForm,
    EvaluateForm,
    ExternalAppForm,
    FederatedCredentialForm,
    IdentityProviderForm,
)
from federation.models import CREDENTIALS_PER_APP, KEYS_PER_APP
from identity_server import endpoints
from identity_server.scopes import CATALOGUE, scopes_by_resource
from identity_server.site import (
    client_secret_delete_page,
    client_secret_generate_page,
    client_secrets_context,
    connect_panel,
)
from tenants.access import site_page
from tenants.models import Membership
from tenants.selectors import membership_list
from tenants.services import Actor
from tenants.site import (
    confirmed_delete,
    form_data,
    paginate,
    redirect_with_secret_once,
    render_secret_once,
    secret_once_take,
    submit_form,
)

APP_ERROR_FIELDS = ExternalAppForm.ERROR_FIELDS
CREDENTIAL_ERROR_FIELDS = serializers.FederatedCredentialInput.ERROR_FIELDS


def _app(access, client_id):
    return selectors.external_app_get(organization=access.organization, client_id=client_id)


def _credential(access, client_id, credential_id):
    return selectors.federated_credential_get(
        app=_app(access, client_id), credential_id=credential_id
    )


def _app_url(name: str, app, *args) -> str:
    return reverse(name, args=[app.organization.slug, app.client.client_id, *args])


# --- external applications ---------------------------------------------------------------


@site_page
@require_safe
def app_list(request, access):
    apps = selectors.external_app_list(organization=access.organization)
    return render(request, "federation/app_list.html", {"page": paginate(request, apps)})


@site_page(admin_only=True)
def app_create(request, access):
    form = ExternalAppForm(form_data(request))
    created = submit_form(
        request,
        form,
        lambda data: services.external_app_create(
            organization=access.organization,
            actor=Actor.from_request(request),
            **serializers.external_app_input(data, creating=True),
        ),
        renames=APP_ERROR_FIELDS,
    )
    if created is not None:
        app, plaintext = created
        messages.success(request, f"The application “{app.name}” was created.")
        page_url = _app_url("org-apps-detail", app)
        if plaintext is None:
            return redirect(page_url)
        return redirect_with_secret_once(request, page_url, plaintext)
    return render(request, "federation/app_form.html", {"form": form})


def _app_page(request, app, *, secret_form=None, key_form=None):
    """The application's page: its facts, scopes by resource, secrets, its own keys and how
    to connect; with the secret that its creation or the generate form just made
    (tenants.site's Post/Redirect/Get), shown once."""
    context = {
        **_keys_context(app, key_form),
        "app": app,
        "delete_question": " ".join(_app_delete_question(app)),
        "scope_groups": _scope_groups(app.client.scopes),
        "user_scope_groups": _scope_groups(app.client.user_scopes),
        "redirect_uris": app.client.redirect_uris.split(),
        "post_logout_redirect_uris": app.client.post_logout_redirect_uris.split(),
        "allowed_origins": app.client.allowed_origins.split(),
        **client_secrets_context(
            app.client,
            form=secret_form,
            delete_url=lambda secret: _app_url("org-apps-secret-delete", app, secret.pk),
        ),
        "credential_count": selectors.federated_credential_list(app=app).count(),
        "connect": _app_connect(app),
    }
    if secret_form is None and key_form is None and (kept := secret_once_take(request)) is not None:
        return render_secret_once(
            request, "federation/app_detail.html", {**context, "secret": kept.secret}
        )
    return render(request, "federation/app_detail.html", context)


def _app_connect(app) -> dict:
    token_endpoint = endpoints.token_endpoint()
    client_id = app.client.client_id
    snippets = []
    if app.client.is_confidential:
        snippets += [
            (
                "Get a token with a secret (curl; CLIENT_SECRET holds one of the secrets)",
                f"curl -s {token_endpoint} \\\n"
                "     -d grant_type=client_credentials \\\n"
                f"     -d client_id={client_id} \\\n"
                '     -d client_secret="$CLIENT_SECRET"',
            ),
            (
                "The same in Python (requests)",
                "import os\n"
                "import requests\n\n"
                "answer = requests.post(\n"
                f'    "{token_endpoint}",\n'
                "    data={\n"
                '        "grant_type": "client_credentials",\n'
                f'        "client_id": "{client_id}",\n'
                '        "client_secret": os.environ["CLIENT_SECRET"],\n'
                "    },\n"
                "    timeout=10,\n"
                ")\n"
                "answer.raise_for_status()\n"
                'token = answer.json()["access_token"]',
            ),
            (
                "Get a token with a federated credential (curl; JWT holds the workload's token)",
                f"curl -s {token_endpoint} \\\n"
                "     --data-urlencode grant_type=client_credentials \\\n"
                f"     --data-urlencode client_id={client_id} \\\n"
                "     --data-urlencode client_assertion_type="
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\\n"
                '     --data-urlencode client_assertion="$JWT"',
            ),
        ]
    return connect_panel(
        intro=(
            "Scripts and workloads get a token for this application at the token endpoint "
            "with its client ID and a secret, or with a JWT that one of its federated "
            "credentials trusts; anyone verifies our tokens with the issuer's keys (JWKS)."
        ),
        rows=[
            ("Token endpoint", token_endpoint),
            ("Issuer", settings.IDENTITY_ISSUER),
            ("JWKS", endpoints.jwks_url()),
            ("Client ID", client_id),
            ("partitionGlobalId", str(app.organization.global_id)),
        ],
        snippets=snippets,
    )


def _scope_description(name: str) -> str:
    scope = CATALOGUE.get(name)
    return scope.description if scope else OIDC_SCOPE_DESCRIPTIONS.get(name, "")


def _scope_groups(names) -> list[tuple[str, list[dict]]]:
    """The scopes by resource server; OpenID Connect's own (user scopes) under its name."""
    oidc = [name for name in names if name in OIDC_SCOPE_DESCRIPTIONS]
    groups = scopes_by_resource([name for name in names if name not in OIDC_SCOPE_DESCRIPTIONS])
    if oidc:
        groups = {"OpenID Connect": oidc, **groups}
    return [
        (resource, [{"name": name, "description": _scope_description(name)} for name in names])
        for resource, names in groups.items()
    ]


# Each destructive action asks one question, in the dialog (site.js) or on the page
# without JavaScript (tenants.site.confirmed_delete): (question, what follows).


def _app_delete_question(app) -> tuple[str, str]:
    return (
        f"Delete the application “{app.name}”?",
        "Its client secrets and federated credentials are deleted with it, and every token "
        "it holds stops working at once.",
    )


def _credential_delete_question(credential) -> tuple[str, str]:
    return (
        f"Delete the federated credential “{credential.name}”?",
        "Workloads using it can no longer get new tokens; tokens already issued stay valid "
        "until they expire.",
    )


@site_page
@require_safe
def app_detail(request, access, client_id):
    return _app_page(request, _app(access, client_id))


@site_page(admin_only=True)
def app_edit(request, access, client_id):
    app = _app(access, client_id)
    client = app.client
    initial = {
        "name": app.name,
        "scopes": client.scopes,
        "userScopes": client.user_scopes,
        "redirectUris": "\n".join(client.redirect_uris.split()),
        "postLogoutRedirectUris": "\n".join(client.post_logout_redirect_uris.split()),
        "allowedCorsOrigins": "\n".join(client.allowed_origins.split()),
        "backchannelLogoutUri": client.backchannel_logout_uri,
    }
    initial |= ExternalAppForm.initial_of(client)
    form = ExternalAppForm(form_data(request), initial=initial, editing=True)
    saved = submit_form(
        request,
        form,
        lambda data: services.external_app_update(
            app=app,
            actor=Actor.from_request(request),
            **serializers.external_app_input(data, creating=False),
        ),
        renames=APP_ERROR_FIELDS,
    )
    if saved is not None:
        messages.success(request, "The application was saved.")
        return redirect(_app_url("org-apps-detail", app))
    return render(request, "federation/app_form.html", {"form": form, "app": app})


@site_page
@require_POST
def app_delete(request, access, client_id):
    app = _app(access, client_id)
    question, detail = _app_delete_question(app)
    return confirmed_delete(
        request,
        question=question,
        detail=detail,
        cancel_url=_app_url("org-apps-detail", app),
        delete=lambda actor: services.external_app_delete(app=app, actor=actor),
        done=f"The application “{app.name}” was deleted.",
        next_url=reverse("org-apps", args=[access.organization.slug]),
    )


# --- client secrets ----------------------------------------------------------------------


@site_page
def app_secret_create(request, access, client_id):
    """POST: generates a secret (as the GenerateSecret API), shown once on the
    application's page it redirects to."""
    app = _app(access, client_id)
    return client_secret_generate_page(
        request,
        app.client,
        page_url=_app_url("org-apps-detail", app),
        render_page=lambda form: _app_page(request, app, secret_form=form),
    )


@site_page
@require_POST
def app_secret_delete(request, access, client_id, secret_id):
    app = _app(access, client_id)
    return client_secret_delete_page(
        request, app.client, secret_id, back_url=_app_url("org-apps-detail", app)
    )


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
        # Why no credential can be added, said as the service would refuse it.
        "cannot_add": (
            services.PUBLIC_APP_MESSAGE
            if not app.client.is_confidential
            else services.CREDENTIAL_LIMIT_MESSAGE
            if len(credentials) >= CREDENTIALS_PER_APP
            else None
        ),
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
    if (assertion := submit_form(request, form, serializers.evaluate_input)) is not None:
        credentials = selectors.federated_credential_list(app=app)
        evaluation = serializers.evaluation_json(
            *assertions.assertion_evaluate(assertion, credentials)
        )
    response = _credentials_page(request, app, evaluate_form=form, evaluation=evaluation)
    add_never_cache_headers(response)
    return response


def _credential_form_page(request, app, form, credential=None):
    """The add or edit form. When the issuer check failed, the API's message (its precise
    cause) is beside the field, and below it which address this server read."""
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


@site_page(admin_only=True)
def credential_create(request, access, client_id):
    app = _app(access, client_id)
    form = FederatedCredentialForm(form_data(request))
    credential = submit_form(
        request,
        form,
        lambda data: services.federated_credential_create(
            app=app,
            actor=Actor.from_request(request),
            **serializers.federated_credential_input(data),
        ),
        renames=CREDENTIAL_ERROR_FIELDS,
    )
    if credential is not None:
        messages.success(request, f"The federated credential “{credential.name}” was added.")
        return redirect(_app_url("org-apps-credentials", app))
    return _credential_form_page(request, app, form)


@site_page(admin_only=True)
def credential_edit(request, access, client_id, credential_id):
    credential = _credential(access, client_id, credential_id)
    initial = FederatedCredentialForm.initial_of(credential)
    form = FederatedCredentialForm(form_data(request), initial=initial)
    saved = submit_form(
        request,
        form,
        lambda data: services.federated_credential_update(
            credential=credential,
            actor=Actor.from_request(request),
            **serializers.federated_credential_input(data),
        ),
        renames=CREDENTIAL_ERROR_FIELDS,
    )
    if saved is not None:
        messages.success(request, f"The federated credential “{saved.name}” was saved.")
        return redirect(_app_url("org-apps-credentials", saved.app))
    return _credential_form_page(request, credential.app, form, credential)


@site_page
@require_POST
def credential_delete(request, access, client_id, credential_id):
    credential = _credential(access, client_id, credential_id)
    question, detail = _credential_delete_question(credential)
    credentials_url = _app_url("org-apps-credentials", credential.app)
    return confirmed_delete(
        request,
        question=question,
        detail=detail,
        cancel_url=credentials_url,
        delete=lambda actor: services.federated_credential_delete(
            credential=credential, actor=actor
        ),
        done=f"The federated credential “{credential.name}” was deleted.",
        next_url=credentials_url,
    )


# --- the application's own keys (SPEC §11) -------------------------------------------------


def _key_delete_question(key) -> tuple[str, str]:
    return (
        f"Delete the key “{key.name}”?",
        "Assertions signed with it stop authenticating at once; tokens already issued stay "
        "valid until they expire.",
    )


def _keys_context(app, form) -> dict:
    keys = list(selectors.app_key_list(app=app))
    return {
        "keys": [
            {
                "key": key,
                "delete_url": _app_url("org-apps-key-delete", app, key.pk),
                "delete_question": " ".join(_key_delete_question(key)),
            }
            for key in keys
        ],
        "key_form": form or AppKeyForm(),
        "keys_limit": KEYS_PER_APP,
        # Why no key can be added, said as the service would refuse it.
        "cannot_add_key": (
            services.PUBLIC_APP_KEY_MESSAGE
            if not app.client.is_confidential
            else services.KEY_LIMIT_MESSAGE
            if len(keys) >= KEYS_PER_APP
            else None
        ),
    }


# A private key pasted by mistake stays out of Django's error reports.
@sensitive_post_parameters("publicKeyPem", "certificatePem")
@site_page(admin_only=True)
@require_POST
def app_key_create(request, access, client_id):
    """POST: registers a key (as the Keys API); refusals beside the fields of the form on the
    application's page."""
    app = _app(access, client_id)
    form = AppKeyForm(request.POST)
    key = submit_form(
        request,
        form,
        lambda data: services.app_key_create(
            app=app, actor=Actor.from_request(request), **serializers.app_key_input(data)
        ),
        other_field="name",
    )
    if key is not None:
        messages.success(request, f"The key “{key.name}” was added.")
        return redirect(_app_url("org-apps-detail", app) + "#keys")
    # A pasted private key is not sent back into the page, where the browser keeps it.
    pasted = [
        name for name in ("publicKeyPem", "certificatePem") if form.has_error(name, "private_key")
    ]
    if pasted:
        form.data = form.data.copy()
        for name in pasted:
            form.data[name] = ""
    return _app_page(request, app, key_form=form)


@site_page
@require_POST
def app_key_delete(request, access, client_id, key_id):
    app = _app(access, client_id)
    key = selectors.app_key_get(app=app, key_id=key_id)
    question, detail = _key_delete_question(key)
    page_url = _app_url("org-apps-detail", app) + "#keys"
    return confirmed_delete(
        request,
        question=question,
        detail=detail,
        cancel_url=page_url,
        delete=lambda actor: services.app_key_delete(key=key, actor=actor),
        done=f"The key “{key.name}” was deleted.",
        next_url=page_url,
    )


# --- the organization's sign-in identity providers (SPEC §9) ------------------------------
#
# Administrators only, reading included (site_page(admin_only=True)): a provider's
# configuration says who may sign in to the organization and how, and the API refuses a
# member's token the same way. The forms go through the API's parser and idp's services.

IDP_ERROR_FIELDS = serializers.IdentityProviderInput.ERROR_FIELDS


def _provider(access, provider_id):
    return selectors.identity_provider_get(
        organization=access.organization, provider_id=provider_id
    )


def _provider_url(name: str, provider) -> str:
    return reverse(name, args=[provider.organization.slug, provider.pk])


def _organization_admins(organization) -> list:
    admins = membership_list(organization=organization).filter(role=Membership.Role.ADMIN)
    return [membership.user for membership in admins]


def _provider_delete_question(provider) -> tuple[str, str]:
    consequence = (
        "Its members can no longer sign in through it; accounts keep their local passwords "
        "and their links to it, which come back if the same issuer is registered again."
    )
    if provider.enforced:
        consequence += " Local passwords work again for every member."
    return (f"Delete the identity provider “{provider.name}”?", consequence)


@site_page(admin_only=True)
@require_safe
def identity_provider_list(request, access):
    providers = selectors.identity_provider_list(organization=access.organization)
    return render(
        request,
        "federation/identity_provider_list.html",
        {"page": paginate(request, providers)},
    )


@site_page(admin_only=True)
@require_safe
def identity_provider_detail(request, access, provider_id):
    provider = _provider(access, provider_id)
    return render(
        request,
        "federation/identity_provider_detail.html",
        {
            "provider": provider,
            "redirect_uri": serializers.identity_provider_redirect_uri(provider, request),
            "test_url": reverse("idp-test", args=[provider.pk]),
            "delete_question": " ".join(_provider_delete_question(provider)),
        },
    )


def _provider_form_page(request, form, provider=None):
    issuer = form["issuer"].value() or ""
    return render(
        request,
        "federation/identity_provider_form.html",
        {
            "form": form,
            "provider": provider,
            "issuer_unreachable": form.has_error("issuer", code="issuer_unreachable"),
            "discovery_url": issuer.rstrip("/") + jwks.DISCOVERY_PATH,
        },
    )


# The client secret stays out of Django's error reports.
@sensitive_post_parameters("clientSecret")
@site_page(admin_only=True)
def identity_provider_create(request, access):
    form = IdentityProviderForm(
        form_data(request), admins=_organization_admins(access.organization)
    )
    provider = submit_form(
        request,
        form,
        lambda data: services.identity_provider_create(
            organization=access.organization,
            actor=Actor.from_request(request),
            **serializers.identity_provider_input(data, organization=access.organization),
        ),
        renames=IDP_ERROR_FIELDS,
    )
    if provider is not None:
        messages.success(
            request,
            f"The identity provider “{provider.name}” was added. Register its redirect URI "
            "at the provider, then try a test sign-in.",
        )
        return redirect(_provider_url("org-identity-providers-detail", provider))
    return _provider_form_page(request, form)


@sensitive_post_parameters("clientSecret")
@site_page(admin_only=True)
def identity_provider_edit(request, access, provider_id):
    provider = _provider(access, provider_id)
    form = IdentityProviderForm(
        form_data(request),
        initial=IdentityProviderForm.initial_of(provider),
        admins=_organization_admins(access.organization),
        editing=True,
    )
    saved = submit_form(
        request,
        form,
        lambda data: services.identity_provider_update(
            provider=provider,
            actor=Actor.from_request(request),
            **serializers.identity_provider_input(
                data, organization=access.organization, replace=True
            ),
        ),
        renames=IDP_ERROR_FIELDS,
    )
    if saved is not None:
        messages.success(request, "The identity provider was saved.")
        return redirect(_provider_url("org-identity-providers-detail", saved))
    return _provider_form_page(request, form, provider)


@site_page(admin_only=True)
@require_POST
def identity_provider_delete(request, access, provider_id):
    provider = _provider(access, provider_id)
    question, detail = _provider_delete_question(provider)
    return confirmed_delete(
        request,
        question=question,
        detail=detail,
        cancel_url=_provider_url("org-identity-providers-detail", provider),
        delete=lambda actor: services.identity_provider_delete(provider=provider, actor=actor),
        done=f"The identity provider “{provider.name}” was deleted.",
        next_url=reverse("org-identity-providers", args=[access.organization.slug]),
    )
