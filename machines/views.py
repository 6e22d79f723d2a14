"""The admin site's pages of the machines app: machines and their client secrets, robots,
unattended sessions, the tenant's credential stores.

Thin, like the API views beside them: tenants.access.site_page resolves the tenant for the
signed-in user (members read, administrators write); selectors read; every write goes
through the API's own input parser and then the service, with the user as the audit
actor (tenants.site.submit_form), so a page and the API accept and refuse the same input
alike. A machine's client secrets are identity_server.site's, as an application's are.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from rest_framework.exceptions import ValidationError as ApiValidationError

from identity_server import endpoints
from identity_server.scopes import ROBOT_SCOPE
from identity_server.site import (
    TokenQuotaFields,
    client_secret_delete_page,
    client_secret_generate_page,
    client_secrets_context,
    connect_panel,
)
from machines import credential_stores, selectors, serializers, services
from machines.forms import CredentialStoreForm, MachineForm, RobotForm
from machines.models import CredentialStore, Machine
from machines.vaults import VaultError
from tenants.access import site_page
from tenants.services import Actor
from tenants.site import (
    as_django_error,
    confirmation_page,
    confirmed_delete,
    form_data,
    paginate,
    render_secret_once,
    secret_once_take,
    submit_form,
)


def _url(access, name: str, *args) -> str:
    return reverse(name, args=[access.organization.slug, access.tenant.name, *args])


def _form_page(request, form, write, *, done, title: str, submit: str, crumbs):
    """A page with one form. On POST, `write(values)` (tenants.site.submit_form); when it
    succeeds, `done(result)` gives the flash message and where to go next; else
    the form again, with the errors beside the fields and the input kept. `crumbs` are the
    breadcrumbs (label, URL) below the tenant's, the last one also where Cancel goes."""
    # A service's quota errors beside the quota fields (the others have the services' names).
    renames = TokenQuotaFields.ERROR_FIELDS
    if (result := submit_form(request, form, write, renames=renames)) is not None:
        message, next_url = done(result)
        messages.success(request, message)
        return redirect(next_url)
    return render(
        request,
        "machines/form.html",
        {"form": form, "title": title, "submit_label": submit, "crumbs": crumbs},
    )


# What the confirmation of each deletion asks, in the dialog and on the page without
# JavaScript alike.


def _machine_question(machine) -> str:
    return (
        f"Delete the machine “{machine.name}”? Its client ID and secrets stop working at "
        "once, and so do the tokens its robots hold."
    )


def _robot_question(robot) -> str:
    return (
        f"Delete the robot “{robot.name}”? Its sessions stay listed, without a robot, "
        "until removed as inactive."
    )


# --- machines -----------------------------------------------------------------------------


@site_page
@require_safe
def machine_list(request, access):
    text = request.GET.get("q", "").strip()
    machines = selectors.machine_list_named(tenant=access.tenant, text=text)
    return render(
        request, "machines/machine_list.html", {"page": paginate(request, machines), "q": text}
    )


@site_page(admin_only=True)
def machine_create(request, access):
    return _form_page(
        request,
        MachineForm(form_data(request), initial={"type": Machine.Type.STANDARD}),
        lambda values: services.machine_create(
            tenant=access.tenant,
            actor=Actor.from_request(request),
            **serializers.machine_input(values),
        ),
        done=lambda machine: (
            f"Machine “{machine.name}” created. Generate a secret now.",
            _url(access, "tenant-machines-detail", machine.pk),
        ),
        title="New machine",
        submit="Create machine",
        crumbs=[("Machines", _url(access, "tenant-machines"))],
    )


def _machine_page(request, access, machine, *, secret_form=None):
    """The machine's page: its facts, how a robot connects, and its secrets; with the
    secret its generate form just made (tenants.site's Post/Redirect/Get), shown once."""
    context = {
        "machine": machine,
        "delete_question": _machine_question(machine),
        "connect": _machine_connect(access, machine),
        **client_secrets_context(
            machine.client,
            form=secret_form,
            delete_url=lambda secret: _url(
                access, "tenant-machines-secret-delete", machine.pk, secret.pk
            ),
        ),
    }
    if secret_form is None and (kept := secret_once_take(request)) is not None:
        return render_secret_once(
            request, "machines/machine_detail.html", {**context, "new_secret": kept.secret}
        )
    return render(request, "machines/machine_detail.html", context)


def _machine_connect(access, machine) -> dict:
    org, tenant = access.organization.slug, access.tenant.name
    token_endpoint = endpoints.token_endpoint(org=org, tenant=tenant)
    orchestrator = endpoints.orchestrator_url(org=org, tenant=tenant)
    client_id = machine.client.client_id
    return connect_panel(
        intro=(
            "A robot on this machine connects to the Orchestrator URL with the client ID "
            "and one of its secrets; it gets its token at the tenant's token endpoint."
        ),
        rows=[
            ("Orchestrator URL", orchestrator),
            ("Token endpoint", token_endpoint),
            ("Client ID", client_id),
            ("Scope", ROBOT_SCOPE),
        ],
        snippets=[
            (
                "Get a token (curl; MACHINE_SECRET holds one of the secrets)",
                f"curl -s {token_endpoint} \\\n"
                "     -d grant_type=client_credentials \\\n"
                f"     -d client_id={client_id} \\\n"
                '     -d client_secret="$MACHINE_SECRET" \\\n'
                f"     -d scope={ROBOT_SCOPE}",
            ),
            (
                "How robots authenticate here (anonymous)",
                f"curl -s {orchestrator}api/robotsservice/GetConnectionData",
            ),
        ],
    )


@site_page
@require_safe
def machine_detail(request, access, machine_id):
    machine = selectors.machine_get(tenant=access.tenant, machine_id=machine_id)
    return _machine_page(request, access, machine)


@site_page(admin_only=True)
def machine_edit(request, access, machine_id):
    machine = selectors.machine_get(tenant=access.tenant, machine_id=machine_id)
    detail_url = _url(access, "tenant-machines-detail", machine.pk)
    initial = {"name": machine.name, "type": machine.type, "description": machine.description}
    initial |= MachineForm.initial_of(machine.client)
    return _form_page(
        request,
        MachineForm(form_data(request), initial=initial),
        lambda values: services.machine_update(
            machine=machine,
            actor=Actor.from_request(request),
            **serializers.machine_input(values),
        ),
        done=lambda updated: (f"Machine “{updated.name}” saved.", detail_url),
        title=f"Edit {machine.name}",
        submit="Save",
        crumbs=[("Machines", _url(access, "tenant-machines")), (machine.name, detail_url)],
    )


@site_page
@require_POST
def machine_delete(request, access, machine_id):
    machine = selectors.machine_get(tenant=access.tenant, machine_id=machine_id)
    return confirmed_delete(
        request,
        question=_machine_question(machine),
        cancel_url=_url(access, "tenant-machines-detail", machine.pk),
        delete=lambda actor: services.machine_delete(machine=machine, actor=actor),
        done=f"Machine “{machine.name}” deleted.",
        next_url=_url(access, "tenant-machines"),
    )


@site_page
def machine_secret_create(request, access, machine_id):
    """POST: a new secret, shown once on the machine's page it redirects to."""
    machine = selectors.machine_get(tenant=access.tenant, machine_id=machine_id)
    return client_secret_generate_page(
        request,
        machine.client,
        page_url=_url(access, "tenant-machines-detail", machine.pk),
        render_page=lambda form: _machine_page(request, access, machine, secret_form=form),
    )


@site_page
@require_POST
def machine_secret_delete(request, access, machine_id, secret_id):
    machine = selectors.machine_get(tenant=access.tenant, machine_id=machine_id)
    return client_secret_delete_page(
        request,
        machine.client,
        secret_id,
        back_url=_url(access, "tenant-machines-detail", machine.pk),
    )


# --- robots -------------------------------------------------------------------------------


@site_page
@require_safe
def robot_list(request, access):
    text = request.GET.get("q", "").strip()
    robots = selectors.robot_list_named(tenant=access.tenant, text=text)
    page = paginate(request, robots)
    rows = [(robot, credential_stores.robot_has_credential(robot)) for robot in page]
    return render(request, "machines/robot_list.html", {"page": page, "rows": rows, "q": text})


def _robot_form(request, access, **options) -> RobotForm:
    machines = selectors.machine_list_named(tenant=access.tenant)
    credential_stores.credential_store_database(tenant=access.tenant)
    stores = selectors.credential_store_list(tenant=access.tenant).order_by("pk")
    return RobotForm(form_data(request), machines=machines, stores=stores, **options)


@site_page(admin_only=True)
def robot_create(request, access):
    default = credential_stores.credential_store_default(tenant=access.tenant)
    initial = {"credentialStoreId": default.pk, "credentialType": "Default"}
    return _form_page(
        request,
        _robot_form(request, access, initial=initial),
        lambda values: services.robot_create(
            tenant=access.tenant,
            actor=Actor.from_request(request),
            **serializers.robot_input(values, tenant=access.tenant),
        ),
        done=lambda robot: (f"Robot “{robot.name}” created.", _url(access, "tenant-robots")),
        title="New robot",
        submit="Create robot",
        crumbs=[("Robots", _url(access, "tenant-robots"))],
    )


@site_page
@require_safe
def robot_detail(request, access, robot_id):
    robot = selectors.robot_get(tenant=access.tenant, robot_id=robot_id)
    return render(
        request,
        "machines/robot_detail.html",
        {
            "robot": robot,
            "has_credential": credential_stores.robot_has_credential(robot),
            "delete_question": _robot_question(robot),
        },
    )


@site_page(admin_only=True)
def robot_edit(request, access, robot_id):
    robot = selectors.robot_get(tenant=access.tenant, robot_id=robot_id)
    detail_url = _url(access, "tenant-robots-detail", robot.pk)
    initial = {
        "name": robot.name,
        "username": robot.username,
        "machineId": robot.machine_id,
        "description": robot.description,
        "credentialStoreId": robot.credential_store_id,
        "externalName": robot.external_name,
        "credentialType": robot.credential_type,
    }
    return _form_page(
        request,
        _robot_form(request, access, initial=initial),
        lambda values: services.robot_update(
            robot=robot,
            actor=Actor.from_request(request),
            **serializers.robot_input(values, tenant=access.tenant),
        ),
        done=lambda updated: (f"Robot “{updated.name}” saved.", detail_url),
        title=f"Edit {robot.name}",
        submit="Save",
        crumbs=[("Robots", _url(access, "tenant-robots")), (robot.name, detail_url)],
    )


@site_page
@require_POST
def robot_delete(request, access, robot_id):
    robot = selectors.robot_get(tenant=access.tenant, robot_id=robot_id)
    return confirmed_delete(
        request,
        question=_robot_question(robot),
        cancel_url=_url(access, "tenant-robots-detail", robot.pk),
        delete=lambda actor: services.robot_delete(robot=robot, actor=actor),
        done=f"Robot “{robot.name}” deleted.",
        next_url=_url(access, "tenant-robots"),
    )


# --- credential stores --------------------------------------------------------------------


def _store_question(store, robots: int) -> str:
    question = f"Delete the credential store “{store.name}”?"
    if robots:
        question += (
            f" {robots} robot(s) use it: they are left without a credential, and the "
            "passwords written to it for them are deleted."
        )
    return question


@site_page
@require_safe
def credential_store_list(request, access):
    default = credential_stores.credential_store_default(tenant=access.tenant)
    stores = selectors.credential_store_list(tenant=access.tenant).annotate(
        robot_count=Count("robots")
    )
    rows = [
        (store, credential_stores.store_is_read_only(store), store.pk == default.pk)
        for store in stores.order_by("pk")
    ]
    return render(request, "machines/credential_store_list.html", {"rows": rows})


@site_page(admin_only=True)
def credential_store_create(request, access):
    """GET without `?type=`: the kinds to choose from; with it, the kind's form."""
    type = request.GET.get("type", "")
    if type not in credential_stores.KINDS or type == CredentialStore.Type.DATABASE:
        kinds = [
            (kind, CredentialStore.Type(kind).label)
            for kind in credential_stores.KINDS
            if kind != CredentialStore.Type.DATABASE
        ]
        return render(request, "machines/credential_store_types.html", {"kinds": kinds})
    form = CredentialStoreForm(form_data(request), type=type)

    def create(values):
        data = serializers.credential_store_input(form.api_body(type))
        return credential_stores.credential_store_create(
            tenant=access.tenant,
            actor=Actor.from_request(request),
            name=data["name"],
            type=type,
            configuration=data["configuration"],
        )

    return _form_page(
        request,
        form,
        create,
        done=lambda store: (
            f"Credential store “{store.name}” created. Test its connection now.",
            _url(access, "tenant-credential-stores-detail", store.pk),
        ),
        title=f"New {CredentialStore.Type(type).label} store",
        submit="Create store",
        crumbs=[("Credential stores", _url(access, "tenant-credential-stores"))],
    )


@site_page
@require_safe
def credential_store_detail(request, access, store_id):
    store = selectors.credential_store_get(tenant=access.tenant, store_id=store_id)
    default = credential_stores.credential_store_default(tenant=access.tenant)
    robots = store.robots.count()
    labels = {s.name: s.label for s in credential_stores.KINDS[store.type].settings}
    settings_shown = [
        (labels[name], value)
        for name, value in credential_stores.store_configuration(store).items()
    ]
    return render(
        request,
        "machines/credential_store_detail.html",
        {
            "store": store,
            "read_only": credential_stores.store_is_read_only(store),
            "is_default": store.pk == default.pk,
            "robot_count": robots,
            "settings_shown": settings_shown,
            "secrets_set": [labels[n] for n in credential_stores.store_secrets_set(store)],
            "delete_question": _store_question(store, robots),
        },
    )


@site_page(admin_only=True)
def credential_store_edit(request, access, store_id):
    store = selectors.credential_store_get(tenant=access.tenant, store_id=store_id)
    detail_url = _url(access, "tenant-credential-stores-detail", store.pk)
    initial = {"name": store.name, **credential_stores.store_configuration(store)}
    form = CredentialStoreForm(form_data(request), type=store.type, editing=True, initial=initial)

    def update(values):
        data = serializers.credential_store_input(form.api_body(store.type))
        return credential_stores.credential_store_update(
            store=store,
            actor=Actor.from_request(request),
            name=data["name"],
            configuration=data["configuration"],
        )

    return _form_page(
        request,
        form,
        update,
        done=lambda updated: (f"Credential store “{updated.name}” saved.", detail_url),
        title=f"Edit {store.name}",
        submit="Save",
        crumbs=[
            ("Credential stores", _url(access, "tenant-credential-stores")),
            (store.name, detail_url),
        ],
    )


@site_page
@require_POST
def credential_store_test(request, access, store_id):
    """Authenticates to the vault; the outcome as a flash message (never a value)."""
    store = selectors.credential_store_get(tenant=access.tenant, store_id=store_id)
    try:
        credential_stores.credential_store_test(store=store, actor=Actor.from_request(request))
    except VaultError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Connected to the credential store “{store.name}”.")
    return redirect(_url(access, "tenant-credential-stores-detail", store.pk))


@site_page
@require_POST
def credential_store_set_default(request, access, store_id):
    store = selectors.credential_store_get(tenant=access.tenant, store_id=store_id)
    credential_stores.credential_store_set_default(store=store, actor=Actor.from_request(request))
    messages.success(request, f"New robots' credentials now go to “{store.name}”.")
    return redirect(_url(access, "tenant-credential-stores-detail", store.pk))


@site_page
@require_POST
def credential_store_delete(request, access, store_id):
    """The confirmation says what becomes of the robots using the store; confirming it is
    the API's forceDelete."""
    store = selectors.credential_store_get(tenant=access.tenant, store_id=store_id)
    detail_url = _url(access, "tenant-credential-stores-detail", store.pk)
    try:
        return confirmed_delete(
            request,
            question=_store_question(store, store.robots.count()),
            cancel_url=detail_url,
            delete=lambda actor: credential_stores.credential_store_delete(
                store=store, actor=actor, force=True
            ),
            done=f"Credential store “{store.name}” deleted.",
            next_url=_url(access, "tenant-credential-stores"),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(detail_url)


# --- sessions -----------------------------------------------------------------------------


REMOVE_SESSIONS_QUESTION = "Remove the selected sessions? Their history stays in the audit log."
# How each state looks (static/css/site.css).
STATE_BADGES = {
    "Connected": "badge-ok",
    "Disconnected": "badge-neutral",
    "Unresponsive": "badge-danger",
}


def _sessions_page(request, access, *, errors=(), selected=()):
    state = request.GET.get("state", "")
    state = state if state in selectors.SESSION_STATES else ""
    sessions = selectors.session_list(tenant=access.tenant, state=state or None)
    page = paginate(request, sessions.order_by("-reporting_time", "-pk"))
    rows = []
    for session in page:
        shown = selectors.session_state(session)
        rows.append((session, shown, STATE_BADGES[shown]))
    return render(
        request,
        "machines/session_list.html",
        {
            "page": page,
            "rows": rows,
            "state": state,
            "states": selectors.SESSION_STATES,
            "silence": int(selectors.unresponsive_after(tenant=access.tenant).total_seconds()),
            "remove_question": REMOVE_SESSIONS_QUESTION,
            "errors": errors,
            "selected": set(selected),
        },
    )


@site_page
def session_list(request, access):
    """GET: the sessions, of one state or all. POST: removes the selected ones, all or
    none, as the API's DeleteInactiveUnattendedSessions does (the same parser and service,
    so the same refusals); a refusal names the ids refused, and the selection is kept."""
    if request.method != "POST":
        return _sessions_page(request, access)
    chosen = request.POST.getlist("sessionIds")
    page = confirmation_page(
        request,
        question=REMOVE_SESSIONS_QUESTION,
        cancel_url=request.get_full_path(),
        confirm_label="Remove",
    )
    if page is not None:
        return page
    try:
        session_ids = serializers.delete_inactive_sessions_input({"sessionIds": chosen})
        removed = services.session_delete_inactive(
            tenant=access.tenant, session_ids=session_ids, actor=Actor.from_request(request)
        )
    except (ValidationError, ApiValidationError) as error:
        refusal = as_django_error(error).messages
        return _sessions_page(request, access, errors=refusal, selected=chosen)
    messages.success(request, f"Removed {len(removed)} session{pluralize(len(removed))}.")
    return redirect(request.get_full_path())
