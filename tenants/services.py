"""Every write of the tenants app, each in one transaction with its audit event."""

import ipaddress
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.module_loading import import_string
from rest_framework.throttling import BaseThrottle

from tenants import invitations, mail
from tenants.models import (
    SETTING_DEFINITIONS,
    AuditEvent,
    Membership,
    Organization,
    Setting,
    Tenant,
)
from tenants.selectors import setting_values

# Keys whose values never reach the audit log, at any depth of `details`.
_SENSITIVE_KEY_PARTS = ("secret", "password", "token", "assertion", "authorization", "private")
REDACTED = "[redacted]"
# The id of the request being answered (identity_server.requestlog sets it), recorded in
# every audit event written while answering it; "" outside requests.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where; passed to every service for its audit event."""

    kind: str
    id: str = ""
    name: str = ""
    address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> "Actor":
        user = getattr(request, "user", None)
        address = client_address(request)
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
        if user is not None and user.is_authenticated:
            # A token's client names its own kind (robot or app); a signed-in person is a user.
            kind = getattr(user, "audit_actor_kind", AuditEvent.ActorKind.USER)
            return cls(kind, str(user.pk), user.get_username(), address, user_agent)
        return cls(AuditEvent.ActorKind.ANONYMOUS, "", "", address, user_agent)

    @classmethod
    def system(cls, name: str) -> "Actor":
        return cls(AuditEvent.ActorKind.SYSTEM, "", name)


@dataclass(frozen=True)
class AuditTarget:
    kind: str
    id: str
    name: str

    @classmethod
    def of(cls, obj: "models.Model | AuditTarget") -> "AuditTarget":
        if isinstance(obj, AuditTarget):
            return obj
        return cls(obj._meta.model_name, str(getattr(obj, "global_id", obj.pk)), str(obj)[:255])


def client_address(request) -> str | None:
    """The client's IP address, from X-Forwarded-For only as deep as NUM_PROXIES says
    (DRF's ident honours it), or None when that is not an address: what the audit log and
    the rate limits (identity_server.ratelimit) see."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident.strip()))
    except ValueError:
        return None


def _is_sensitive(key: Any) -> bool:
    key = str(key).lower()
    # An identifier (`secret_id`) names a secret without revealing it.
    return not key.endswith("_id") and any(part in key for part in _SENSITIVE_KEY_PARTS)


def _redact(value: Any) -> Any:
    """Secret-looking keys redacted, and NUL characters (which PostgreSQL cannot store)
    replaced, at any depth."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def audit_record(
    *,
    action: str,
    actor: Actor,
    organization: Organization | None = None,
    tenant: Tenant | None = None,
    target: "models.Model | AuditTarget | None" = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason_code: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """The one way an audit event is written. Secret-looking keys in `details` are redacted."""
    target = AuditTarget.of(target) if target is not None else AuditTarget("", "", "")
    if tenant is not None and organization is None:
        organization = tenant.organization
    # Ids and names may come from the request (a client id nobody registered): cut them to
    # their columns rather than lose the event.
    return AuditEvent.objects.create(
        organization=organization,
        tenant=tenant,
        actor_kind=actor.kind,
        actor_id=_redact(actor.id[:64]),
        actor_name=_redact(actor.name[:255]),
        action=action,
        target_kind=target.kind,
        target_id=_redact(target.id[:64]),
        target_name=_redact(target.name[:255]),
        outcome=outcome,
        reason_code=reason_code,
        client_address=actor.address,
        user_agent=_redact(actor.user_agent),
        request_id=current_request_id.get(),
        details=_redact(details or {}),
    )


def _user_target(user) -> AuditTarget:
    return AuditTarget("user", str(user.pk), user.get_username())


def sign_in_record(
    *,
    actor: Actor,
    user,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason_code: str = "",
    method: str = "password",
    details: dict | None = None,
    organization: Organization | None = None,
) -> None:
    """A sign-in to the admin site (or an attempt on an account), recorded as
    user_event_record records an account's events. An attempt made through an
    `organization`'s own identity provider (SPEC §9) is in that organization's log too,
    whether or not the account is a member. `method` is how (`password`, `idp:{name}`);
    `details` more."""
    user_event_record(
        action="user.sign_in",
        actor=actor,
        user=user,
        outcome=outcome,
        reason_code=reason_code,
        details={"method": method, **(details or {})},
        organization=organization,
    )


def user_event_record(
    *,
    action: str,
    actor: Actor,
    user,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason_code: str = "",
    details: dict | None = None,
    organization: Organization | None = None,
) -> None:
    """An event of an account (a sign-in, a password reset, an invitation accepted), written
    to the audit log of every organization `user` belongs to (and of `organization`, when
    given), so that its administrators see what happened to their accounts; without an
    account (a username or address that is no account's) and no `organization`, once
    without organization (platform operators see it)."""
    target = _user_target(user) if user else None
    organizations = list(Organization.objects.filter(memberships__user=user)) if user else []
    if organization is not None and organization not in organizations:
        organizations.append(organization)
    for each in organizations or [None]:
        audit_record(
            action=action,
            actor=actor,
            organization=each,
            target=target,
            outcome=outcome,
            reason_code=reason_code,
            details={"known_user": user is not None, **(details or {})},
        )


def apply_changes(instance: models.Model, changes: dict) -> dict:
    """Sets the fields of `changes` that differ on `instance`; returns the audit details of
    those, `{field: {"before": ..., "after": ...}}` (empty when nothing changed)."""
    diff = {}
    for field, value in changes.items():
        before = getattr(instance, field)
        if before != value:
            diff[field] = {"before": before, "after": value}
            setattr(instance, field, value)
    return diff


def duplicate_name(message: str) -> ValidationError:
    """The error for a name already taken where names are unique (OData errorCode 1001)."""
    return ValidationError({"name": ValidationError(message, code="duplicate_name")})


def save_unique_name(obj: models.Model, *, constraint: str, message: str, **options) -> None:
    """Saves `obj` in a savepoint (the caller's transaction stays usable). When the
    database's unique-name `constraint` refuses it, because a concurrent request took the
    name after the caller checked it, that is `duplicate_name(message)`."""
    try:
        with transaction.atomic():
            obj.save(**options)
    except IntegrityError as error:
        if constraint in str(error):
            raise duplicate_name(message) from None
        raise


# The tenant every new organization starts with, as UiPath's do.
DEFAULT_TENANT_NAME = "DefaultTenant"


@transaction.atomic
def organization_create(
    *,
    slug: str,
    name: str,
    admin_username: str,
    email: str = "",
    password: str | None = None,
    actor: Actor,
) -> tuple[Organization, str | None]:
    """A platform operator's new organization, whole: the organization, its tenant
    DefaultTenant and its first administrator, all or nothing.

    `slug` (the `{org}` of URLs) is taken in lowercase, as URLs match it. The administrator
    is the account named `admin_username`: a new one (with `email`, and `password` or a
    generated one, returned once; else None), or an existing account as it is, which only
    gains the membership: its password and email are never changed here, so giving either
    for an existing account is refused rather than ignored. Every problem with the input
    is reported at once, keyed by the argument it concerns."""
    _refuse_nul(slug=slug, name=name, admin_username=admin_username, email=email)
    organization = Organization(slug=slug.strip().lower(), name=name.strip())
    problems = {}
    try:
        organization.full_clean(validate_unique=False)
    except ValidationError as error:
        problems.update(error.message_dict)
    if Organization.objects.filter(slug=organization.slug).exists():
        problems.setdefault("slug", []).append(_duplicate_slug(organization.slug))
    try:
        admin, generated = _admin_account(username=admin_username, email=email, password=password)
    except ValidationError as error:
        problems.update(error.message_dict)
    if problems:
        raise ValidationError(problems)
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError:  # another operator took the slug since the check above
        raise ValidationError(
            {"slug": ValidationError(_duplicate_slug(organization.slug), code="duplicate_slug")}
        ) from None
    audit_record(
        action="organization.create",
        actor=actor,
        organization=organization,
        target=organization,
        details={"name": organization.name, "slug": organization.slug},
    )
    tenant_create(organization=organization, name=DEFAULT_TENANT_NAME, actor=actor)
    if admin.pk is None:
        _account_save(
            admin,
            password=password or generated,
            organization=organization,
            actor=actor,
            key="admin_username",
        )
    membership_set(organization=organization, user=admin, role=Membership.Role.ADMIN, actor=actor)
    return organization, generated


def _refuse_nul(**values: str) -> None:
    """NUL in any typed value, refused before it reaches a query (PostgreSQL refuses NUL in
    text, as a 500); the site's forms leave validation to the services."""
    found = {
        field: ["Null characters are not allowed."] for field, v in values.items() if "\0" in v
    }
    if found:
        raise ValidationError(found)


def _duplicate_slug(slug: str) -> str:
    return f"An organization with the slug “{slug}” already exists."


def _admin_account(*, username: str, email: str, password: str | None):
    """The account that becomes a new organization's administrator, and its generated
    password: an existing account as it is (None), or a new one, checked but unsaved."""
    username, email = username.strip(), email.strip()
    user = get_user_model().objects.filter(username=username).first()
    if user is not None:
        problems = {}
        if password is not None:
            problems["password"] = [
                f"“{username}” already has an account; its password is not changed here."
            ]
        if email and email != user.email:
            problems["email"] = [
                f"“{username}” already has an account with another email address; leave "
                "the email empty to make that account the administrator."
            ]
        if problems:
            raise ValidationError(problems)
        return user, None
    user = _new_account(username=username, email=email, key="admin_username")
    if password is None:
        return user, secrets.token_urlsafe(12)
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    return user, None


@transaction.atomic
def tenant_create(*, organization: Organization, name: str, actor: Actor) -> Tenant:
    tenant = Tenant(organization=organization, name=name)
    tenant.full_clean()
    tenant.save()
    audit_record(
        action="tenant.create", actor=actor, tenant=tenant, target=tenant, details={"name": name}
    )
    # The apps above this one give a tenant what it starts with (its database credential
    # store); named in settings so that tenants imports none of them.
    for hook in getattr(settings, "TENANT_CREATED_HOOKS", []):
        import_string(hook)(tenant=tenant, actor=actor)
    return tenant


@transaction.atomic
def tenant_rename(*, tenant: Tenant, name: str, actor: Actor) -> Tenant:
    """Renames the tenant; its `{tenant}` URL segment changes with it."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    diff = apply_changes(tenant, {"name": name})
    if not diff:
        return tenant
    tenant.full_clean()
    save_unique_name(
        tenant,
        constraint="tenant_name_unique_in_organization",
        message="A tenant with this name already exists.",
    )
    audit_record(action="tenant.rename", actor=actor, tenant=tenant, target=tenant, details=diff)
    return tenant


@transaction.atomic
def organization_rename(*, organization: Organization, name: str, actor: Actor) -> Organization:
    """Changes the organization's display name (its slug, in every URL, stays)."""
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    diff = apply_changes(organization, {"name": name.strip()})
    if not diff:
        return organization
    organization.full_clean()
    organization.save(update_fields=["name"])
    audit_record(
        action="organization.rename",
        actor=actor,
        organization=organization,
        target=organization,
        details=diff,
    )
    return organization


def _keep_an_admin(organization: Organization, leaving) -> None:
    """Refuses a change that would leave the organization without an administrator, or
    that settings.ADMIN_LEAVING_CHECKS (the apps above this one) refuse for `leaving`.
    The caller holds the organization's row lock, so two admins cannot each remove the
    other at once."""
    others = Membership.objects.filter(organization=organization, role=Membership.Role.ADMIN)
    if not others.exclude(user=leaving).exists():
        raise ValidationError(
            {"role": "The organization's last administrator cannot be removed or demoted."},
            code="last_admin",
        )
    for check in getattr(settings, "ADMIN_LEAVING_CHECKS", []):
        import_string(check)(organization=organization, user=leaving)


@transaction.atomic
def membership_set(*, organization: Organization, user, role: str, actor: Actor) -> Membership:
    """Adds the user to the organization with `role`, or changes the role they have; the
    last administrator cannot be demoted."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role “{role}”."}, code="invalid_choice")
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    membership, created = Membership.objects.select_for_update().get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    before = None if created else membership.role
    if before == role:
        return membership
    if before == Membership.Role.ADMIN:
        _keep_an_admin(organization, user)
    if not created:
        membership.role = role
        membership.save(update_fields=["role"])
    audit_record(
        action="membership.set",
        actor=actor,
        organization=organization,
        target=_user_target(user),
        details={"role": {"before": before, "after": role}},
    )
    return membership


def _new_account(*, username: str, email: str = "", key: str = "username"):
    """An unsaved account named `username`, checked as the user model requires; its
    problems are keyed `key` (the caller's name for the username) and `email`."""
    user = get_user_model()(username=username, email=email)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        found = error.message_dict
        problems = {key: found.get("username", []), "email": found.get("email", [])}
        raise ValidationError({k: v for k, v in problems.items() if v}) from None
    return user


def _account_save(
    user, *, password: str | None, organization: Organization, actor: Actor, key: str = "username"
) -> None:
    """Saves a new account (from _new_account) with `password` (None: no usable password
    until its owner sets one), audited in the organization it is created for. An account
    of that name made by a concurrent request since the caller looked is a refusal keyed
    `key`, never a change to that account."""
    user.set_password(password)  # None sets an unusable one
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError(
            {key: [f"An account named “{user.get_username()}” was just created; try again."]}
        ) from None
    audit_record(
        action="user.create", actor=actor, organization=organization, target=_user_target(user)
    )


@transaction.atomic
def member_add(
    *,
    organization: Organization,
    username: str,
    role: str,
    actor: Actor,
    email: str = "",
    site_url: str = "",
) -> "MemberAdded":
    """Adds the user named `username` to the organization, creating the account when no
    user has that name. A new account, on a server that sends mail (EMAIL_URL), gets no
    password: an invitation to set one goes to `email`, which it then needs (the link is
    under `site_url`, the site's `https://host`); without mail, its generated password is
    returned, once. An existing account only gains the membership (an `email`
    other than its own is refused); an existing member is refused: their role is changed
    with membership_set."""
    _refuse_nul(username=username, email=email)
    username, email = username.strip(), email.strip()
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    password, invite = None, False
    if user is None:
        invite = mail.mail_configured()
        if invite and not email:
            raise ValidationError(
                {"email": "A new account needs an email address: its invitation is sent there."},
                code="required",
            )
        user = _new_account(username=username, email=email)
        if invite:
            _account_save(user, password=None, organization=organization, actor=actor)
            invitation_send(user=user, organization=organization, site_url=site_url, actor=actor)
        else:
            password = secrets.token_urlsafe(12)
            _account_save(user, password=password, organization=organization, actor=actor)
    elif Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationError(
            {"username": f"“{username}” is already a member."}, code="already_member"
        )
    elif email and email != user.email:
        raise ValidationError(
            {
                "email": f"“{username}” already has an account with another email address; "
                "leave the email empty to add that account."
            }
        )
    membership = membership_set(organization=organization, user=user, role=role, actor=actor)
    return MemberAdded(membership, password, invite)


def invitation_pending(user) -> bool:
    """Whether `user` may get an invitation: never signed in, no password, an address."""
    return bool(user.email) and user.last_login is None and not user.has_usable_password()


class MemberAdded(NamedTuple):
    membership: Membership
    password: str | None  # a new account's generated password, without mail
    invited: bool  # a new account invited by email


@transaction.atomic
def invitation_send(*, user, organization: Organization, site_url: str, actor: Actor) -> None:
    """Mails `user` a one-time link to set their password (tenants.invitations), after the
    commit; audited `user.invited`. Only for an account that is still waiting for its first
    password (`invitation_pending`): one with a password signs in with it or recovers it
    (identity_server.recovery), and one that signed in through an identity provider does
    not gain a local password this way."""
    if not invitation_pending(user):
        raise ValidationError(
            "Only an account that has never signed in, has no password yet and has an "
            "email address can be invited.",
            code="not_invitable",
        )
    invitations.invitation_mail_on_commit(
        user=user, organization=organization, site_url=site_url, inviter=actor.name
    )
    audit_record(
        action="user.invited",
        actor=actor,
        organization=organization,
        target=_user_target(user),
        details={"email": user.email},
    )


@transaction.atomic
def membership_remove(*, organization: Organization, user, actor: Actor) -> None:
    """Removes the user from the organization (the account stays); never its last
    administrator."""
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    membership = (
        Membership.objects.select_for_update().filter(organization=organization, user=user).first()
    )
    if membership is None:
        return
    if membership.role == Membership.Role.ADMIN:
        _keep_an_admin(organization, user)
    membership.delete()
    audit_record(
        action="membership.remove",
        actor=actor,
        organization=organization,
        target=_user_target(user),
        details={"role": membership.role},
    )


@transaction.atomic
def setting_set(*, tenant: Tenant, key: str, value: Any, actor: Actor) -> Setting:
    """Stores a known setting's value after checking it against its definition; saving the
    value a tenant already has changes and audits nothing."""
    definition = SETTING_DEFINITIONS.get(key)
    if definition is None:
        raise ValidationError({"key": f"Unknown setting “{key}”."}, code="unknown_setting")
    try:
        clean = definition.clean(value)
    except ValidationError as error:
        raise ValidationError({"value": error.messages}) from None
    setting = Setting.objects.select_for_update().filter(tenant=tenant, key=key).first()
    before = setting.value if setting else definition.default
    if setting is not None and setting.value == clean:
        return setting
    if setting is None:
        setting = Setting.objects.create(tenant=tenant, key=key, value=clean)
    else:
        setting.value = clean
        setting.save(update_fields=["value", "updated_at"])
    audit_record(
        action="setting.update",
        actor=actor,
        tenant=tenant,
        target=AuditTarget("setting", key, key),
        details={"value": {"before": before, "after": clean}},
    )
    return setting


@transaction.atomic
def settings_update(*, tenant: Tenant, values: dict[str, Any], actor: Actor) -> list[str]:
    """Stores several settings at once through setting_set, all or none, and returns the
    keys that changed: a value equal to the tenant's current one (stored or default) is
    left alone, so a form that sends every setting stores and audits only its changes.
    Every invalid value is reported, keyed by its setting, and nothing is saved."""
    current = setting_values(tenant=tenant)
    changed, problems = [], {}
    for key, value in values.items():
        definition = SETTING_DEFINITIONS.get(key)
        try:
            if definition is not None and definition.clean(value) == current[key]:
                continue
        except ValidationError:
            pass  # setting_set reports it, as it does for the API
        try:
            with transaction.atomic():
                setting_set(tenant=tenant, key=key, value=value, actor=actor)
        except ValidationError as error:
            problems[key] = error.message_dict.get("value") or error.messages
        else:
            changed.append(key)
    if problems:
        raise ValidationError(problems)
    return changed
