"""Every write of the federation app, each in one transaction with its audit event.

An external application owns an `external_app` OAuth client (identity_server.services):
created with it (a confidential one with its first secret), renamed with it, deleted with
it, which revokes every token the client holds. Its secrets are managed with
identity_server.services.client_secret_create / client_secret_delete.

A federated credential is checked without the network first (its fields; the application
is confidential; the limit of CREDENTIALS_PER_APP; its name and its (issuer, subject,
audience) not taken in the application), so a refused request costs no outbound call. Its
issuer is then fetched (federation.jwks, the guarded fetcher), outside any transaction: a
slow provider must not hold the application's row lock. The limit is checked again with
that row locked, and both uniquenesses are the database's constraints, so all three hold
under concurrent requests. Every change to a credential tells every process to drop its cached
copy of the application's client (identity_server.clients.client_changed), which the
token endpoint matches assertions against.

A credential has a subject or a claims-matching expression (SPEC §11), checked with its
guard rails for the issuer (federation.expressions); and its trust-policy tests, sample
claim sets that must match or must not, run against the new definition before any save: a
change that breaks one is refused, naming the sample.
"""

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from federation import jwks, keys, relying_party, selectors
from federation.assertions import CREDENTIAL_MATCHES, ParsedAssertion
from federation.expressions import ExpressionError, expression_parse, expression_validate
from federation.models import (
    CREDENTIALS_PER_APP,
    KEYS_PER_APP,
    PEM_MAX_LENGTH,
    AppKey,
    ExternalApp,
    ExternalIdentity,
    FederatedCredential,
    IdentityProvider,
)
from identity_server.clients import client_changed
from identity_server.encryption import decrypt, encrypt
from identity_server.models import OAuthClient
from identity_server.registration import (
    clean_registration,
    registration_of,
    stored_registration,
)
from identity_server.services import (
    QUOTA_FIELDS,
    client_create,
    client_create_with_secret,
    client_delete,
    client_update,
)
from identity_server.signin import OPENID as OPENID_SCOPE
from tenants.models import AuditEvent, Membership, Organization
from tenants.services import (
    REDACTED,
    Actor,
    AuditTarget,
    apply_changes,
    audit_record,
    duplicate_name,
    membership_set,
    save_unique_name,
    sign_in_record,
)

# The user sign-in fields (SPEC §8), kept on the client and checked by
# identity_server.registration; lists here, as the API takes them.
SIGN_IN_FIELDS = (
    "user_scopes",
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_origins",
    "backchannel_logout_uri",
)
APP_FIELDS = ("name", "scopes", "confidential", *SIGN_IN_FIELDS)
CREDENTIAL_FIELDS = (
    "name",
    "description",
    "issuer",
    "audience",
    "subject",
    "claims_matching_expression",
    "must_match",
    "must_not_match",
)
# Matched byte for byte against a token's claims: surrounding blanks are always a mistake.
_EXACT_FIELDS = ("issuer", "audience", "subject")
# What makes two credentials accept the same tokens (the claims constraint).
_MATCH_FIELDS = ("issuer", "audience", "subject", "claims_matching_expression")
SAMPLE_FIELDS = ("must_match", "must_not_match")
SAMPLES_MAX = 10  # per list
SAMPLE_MAX_CHARACTERS = 4096  # one sample, as compact JSON
_NAME_CONSTRAINT = "federated_credential_name_unique_in_app"
_CLAIMS_CONSTRAINT = "federated_credential_claims_unique_in_app"


# --- external applications --------------------------------------------------------------


def _validate_app(app: ExternalApp) -> None:
    app.full_clean(exclude=["organization", "client"], validate_unique=False)


def _registration_json(registration: dict) -> dict:
    """A clean registration (identity_server.registration) as the audit log shows it:
    lists rather than DOT's space-separated strings."""
    return {
        field: value.split()
        if isinstance(value, str) and field != "backchannel_logout_uri"
        else value
        for field, value in registration.items()
    }


@transaction.atomic
def external_app_create(
    *,
    organization: Organization,
    name: str,
    actor: Actor,
    scopes=(),
    confidential: bool = True,
    user_scopes=(),
    redirect_uris=(),
    post_logout_redirect_uris=(),
    allowed_origins=(),
    backchannel_logout_uri: str = "",
    **quota,
) -> tuple[ExternalApp, str | None]:
    """A new application and its client; a confidential one also gets its first secret.
    Returns the application and that secret's plaintext (None for a public one), which is
    never stored and cannot be shown again. `scopes` are its application scopes
    (client credentials), `user_scopes` those a signed-in user may grant it (SPEC §8);
    `quota` sets the client's token quotas (QUOTA_FIELDS)."""
    if set(quota) - set(QUOTA_FIELDS):
        raise TypeError(
            f"external_app_create: unknown fields {sorted(set(quota) - set(QUOTA_FIELDS))}"
        )
    app = ExternalApp(organization=organization, name=name)
    _validate_app(app)
    registration = clean_registration(
        confidential=confidential,
        scopes=list(scopes),
        user_scopes=list(user_scopes),
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris),
        allowed_origins=list(allowed_origins),
        backchannel_logout_uri=backchannel_logout_uri or "",
    )
    client_fields = {
        "organization": organization,
        "name": name,
        "kind": OAuthClient.Kind.EXTERNAL_APP,
        "scopes": list(scopes),
        "confidential": confidential,
        "registration": registration,
    }
    plaintext = None
    if confidential:
        app.client, plaintext = client_create_with_secret(actor=actor, **client_fields)
    else:
        app.client = client_create(actor=actor, **client_fields)
    if quota:
        client_update(client=app.client, actor=actor, **quota)
    app.save()
    audit_record(
        action="external_app.create",
        actor=actor,
        organization=organization,
        target=app,
        details={
            "name": app.name,
            "client_id": app.client.client_id,
            "confidential": confidential,
            "scopes": app.client.scopes,
            **_registration_json(registration),
        },
    )
    return app, plaintext


@transaction.atomic
def external_app_update(*, app: ExternalApp, actor: Actor, **changes) -> ExternalApp:
    """Changes `name`, `scopes` or the user sign-in fields (SIGN_IN_FIELDS; one left out
    stays as it is); tokens already issued keep their scopes. Or the client's token quotas
    (QUOTA_FIELDS, audited as the client's). Whether the application is confidential is
    fixed at creation: `confidential` may only repeat it. The audit event has each changed
    field before and after."""
    quota = {field: changes.pop(field) for field in QUOTA_FIELDS if field in changes}
    unknown = set(changes) - set(APP_FIELDS)
    if unknown:
        raise TypeError(f"external_app_update: unknown fields {sorted(unknown)}")
    app = ExternalApp.objects.select_for_update().select_related("client").get(pk=app.pk)
    client = app.client
    if changes.pop("confidential", client.is_confidential) != client.is_confidential:
        raise ValidationError(
            {"confidential": "An application's type is set when it is created; create another."}
        )
    wanted = registration_of(client)
    wanted.update({f: changes[f] for f in ("scopes", *SIGN_IN_FIELDS) if f in changes})
    registration = clean_registration(**wanted)
    before = stored_registration(client)
    diff = apply_changes(app, {"name": changes["name"]} if "name" in changes else {})
    if diff:
        _validate_app(app)
        app.save(update_fields=[*diff, "updated_at"])
    client_changes = {f: value for f, value in registration.items() if value != before[f]}
    client_changes.update(quota)
    if "scopes" in changes:
        client_changes["scopes"] = changes["scopes"]
    if "name" in diff:
        client_changes["name"] = app.name
    scopes_before = list(client.scopes)
    client_update(client=client, actor=actor, **client_changes)
    if client.scopes != scopes_before:
        diff["scopes"] = {"before": scopes_before, "after": client.scopes}
    shown_before, shown_after = _registration_json(before), _registration_json(registration)
    for field in SIGN_IN_FIELDS:
        if shown_before[field] != shown_after[field]:
            diff[field] = {"before": shown_before[field], "after": shown_after[field]}
    if diff:
        if "name" not in diff:
            app.save(update_fields=["updated_at"])
        audit_record(
            action="external_app.update",
            actor=actor,
            organization=app.organization,
            target=app,
            details=diff,
        )
    return app


@transaction.atomic
def external_app_delete(*, app: ExternalApp, actor: Actor) -> None:
    """Deletes the application, its federated credentials, its client and the client's
    secrets, and revokes every token the client holds."""
    client = app.client
    audit_record(
        action="external_app.delete",
        actor=actor,
        organization=app.organization,
        target=app,
        details={
            "client_id": client.client_id,
            "federated_credentials": list(app.federated_credentials.values_list("name", flat=True)),
            "keys": list(app.keys.values_list("name", flat=True)),
        },
    )
    app.delete()
    client_delete(client=client, actor=actor)


# --- federated credentials ---------------------------------------------------------------


_NAME_TAKEN = "A federated credential with this name already exists in this application."
CLAIMS_TAKEN_MESSAGE = (
    "Another federated credential of this application already has this issuer, subject and "
    "audience."
)
CREDENTIAL_LIMIT_MESSAGE = (
    f"An application has at most {CREDENTIALS_PER_APP} federated credentials; delete one first."
)
PUBLIC_APP_MESSAGE = (
    "A public (non-confidential) application cannot have federated credentials: only a "
    "confidential client may use the client credentials grant (RFC 6749 §4.4). Use a "
    "confidential application."
)


def _credentials_error(message: str, code: str) -> ValidationError:
    """An error about the application's credentials as a whole, not one field (the site
    shows it on top of the form)."""
    return ValidationError({"federatedCredentials": ValidationError(message, code=code)})


def _claims_taken() -> ValidationError:
    return ValidationError({"subject": ValidationError(CLAIMS_TAKEN_MESSAGE, code="duplicate")})


def _limit_check(app: ExternalApp) -> None:
    if FederatedCredential.objects.filter(app=app).count() >= CREDENTIALS_PER_APP:
        raise _credentials_error(CREDENTIAL_LIMIT_MESSAGE, "limit_reached")


def _validate_credential(credential: FederatedCredential, *, creating: bool) -> None:
    """The checks without the network, before the issuer is fetched: the application is
    confidential; a new credential is within the limit; lengths, required values,
    characters and the issuer's form; the name (any case) and the (issuer, subject,
    audience) not taken in the application (in a race, the database's constraints settle
    both, and the row lock the limit)."""
    # RFC 6749 §4.4: the token endpoint would refuse its assertions (unauthorized_client).
    if not credential.app.client.is_confidential:
        raise _credentials_error(PUBLIC_APP_MESSAGE, "public_application")
    if creating:
        _limit_check(credential.app)
    errors = {}
    try:
        credential.full_clean(exclude=["app"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        errors = error.message_dict
    for field in _EXACT_FIELDS:
        value = getattr(credential, field)
        if field not in errors and value != value.strip():
            errors[field] = ["Must not begin or end with blanks; it is compared exactly."]
    if "issuer" not in errors:
        problem = jwks.issuer_uri_problem(credential.issuer)
        if problem:
            errors["issuer"] = [problem]
    _validate_matching(credential, errors)
    for field in SAMPLE_FIELDS:
        if field not in errors and (problem := _samples_problem(getattr(credential, field))):
            errors[field] = [problem]
    if errors:
        raise ValidationError(errors)
    _trust_policy_run(credential)
    others = FederatedCredential.objects.filter(app=credential.app).exclude(pk=credential.pk)
    if others.alias(name_ci=Lower("name")).filter(name_ci=credential.name.lower()).exists():
        raise duplicate_name(_NAME_TAKEN)
    claims = {field: getattr(credential, field) for field in _MATCH_FIELDS}
    if others.filter(**claims).exists():
        raise _claims_taken()


SUBJECT_OR_EXPRESSION_MESSAGE = "Give a subject or a claims-matching expression."
BOTH_MESSAGE = "Give a subject or a claims-matching expression, not both."


def _validate_matching(credential: FederatedCredential, errors: dict) -> None:
    """Exactly one of subject and expression (SPEC §11); the expression's grammar and guard
    rails for the issuer, with where it is wrong."""
    expression = credential.claims_matching_expression
    if "subject" in errors or "claims_matching_expression" in errors:
        return
    if credential.subject and expression:
        errors["claims_matching_expression"] = [BOTH_MESSAGE]
    elif not credential.subject and not expression:
        errors["subject"] = [SUBJECT_OR_EXPRESSION_MESSAGE]
    elif expression:
        try:
            # The guard rails depend on the issuer; the grammar does not.
            if "issuer" in errors:
                expression_parse(expression)
            else:
                expression_validate(expression, issuer=credential.issuer)
        except ExpressionError as error:
            errors["claims_matching_expression"] = [str(error)]


def _samples_problem(samples) -> str | None:
    if not isinstance(samples, list):
        return "Must be a list of sample claim sets (JSON objects)."
    if len(samples) > SAMPLES_MAX:
        return f"At most {SAMPLES_MAX} samples."
    for index, sample in enumerate(samples):
        if not isinstance(sample, dict) or not sample:
            return f"Sample {index} must be a non-empty JSON object of claims."
        if len(json.dumps(sample, separators=(",", ":"))) > SAMPLE_MAX_CHARACTERS:
            return f"Sample {index} is longer than {SAMPLE_MAX_CHARACTERS} characters as JSON."
        aud = sample.get("aud")
        if "iss" in sample and not isinstance(sample["iss"], str):
            return f"Sample {index}: `iss` must be a string."
        if "aud" in sample and not (
            isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
        ):
            return f"Sample {index}: `aud` must be a string or a list of strings."
    return None


def sample_matches(credential, sample: dict) -> bool:
    """Whether a token with these claims would match the credential, by the token path's
    own comparisons (federation.assertions.CREDENTIAL_MATCHES); a sample without `iss` or
    `aud` is taken to have the credential's."""
    claims = {"iss": credential.issuer, "aud": credential.audience, **sample}
    parsed = ParsedAssertion({}, claims, b"", b"")
    return all(matches(credential, parsed) for _, matches in CREDENTIAL_MATCHES)


def _sample_label(field: str, index: int, sample: dict) -> str:
    name = {"must_match": "mustMatch", "must_not_match": "mustNotMatch"}[field]
    subject = sample.get("sub")
    return f"{name}[{index}]" + (f" (sub {subject!r})" if isinstance(subject, str) else "")


def _trust_policy_run(credential: FederatedCredential) -> None:
    """SPEC §11: every sample of `must_match` matches, none of `must_not_match`; otherwise
    the first that fails, named, keyed by its list."""
    for field, wanted in (("must_match", True), ("must_not_match", False)):
        for index, sample in enumerate(getattr(credential, field)):
            if sample_matches(credential, sample) != wanted:
                label = _sample_label(field, index, sample)
                verdict = "does not match" if wanted else "matches"
                raise ValidationError(
                    {
                        field: ValidationError(
                            f"Trust-policy test {label} {verdict} this credential, and it must"
                            f"{'' if wanted else ' not'}: the change is refused.",
                            code="trust_policy_test_failed",
                        )
                    }
                )


def _issuer_reachable(credential: FederatedCredential, *, action: str, actor: Actor) -> None:
    """SPEC §5: the issuer's discovery document and JWKS must answer, now. The caller gets
    the precise and safe cause (federation.jwks.IssuerUnreachable); the audit log also gets
    its reason code and the operator's detail."""
    try:
        jwks.issuer_keys_fetch(credential.issuer)
    except jwks.IssuerUnreachable as error:
        audit_record(
            action=action,
            actor=actor,
            organization=credential.app.organization,
            target=credential.app,
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=error.reason,
            details={"name": credential.name, "issuer": credential.issuer, "detail": error.detail},
        )
        raise ValidationError(
            {"issuer": ValidationError(error.message, code="issuer_unreachable")}
        ) from None


def _save(credential: FederatedCredential, **options) -> None:
    """Saves in a savepoint; a unique constraint that a concurrent request satisfied first
    is the same 400 as the check before the fetch."""
    try:
        save_unique_name(credential, constraint=_NAME_CONSTRAINT, message=_NAME_TAKEN, **options)
    except IntegrityError as error:
        if _CLAIMS_CONSTRAINT in str(error):
            raise _claims_taken() from None
        raise


def _credential_details(credential: FederatedCredential) -> dict:
    return {field: getattr(credential, field) for field in CREDENTIAL_FIELDS}


def federated_credential_create(
    *,
    app: ExternalApp,
    actor: Actor,
    name: str,
    issuer: str,
    audience: str,
    subject: str = "",
    description: str = "",
    claims_matching_expression: str = "",
    must_match: list | None = None,
    must_not_match: list | None = None,
) -> FederatedCredential:
    """A credential with a `subject` or a `claims_matching_expression` (one of them), and
    its trust-policy tests, which must pass."""
    credential = FederatedCredential(
        app=app,
        name=name,
        description=description or "",
        issuer=issuer,
        audience=audience,
        subject=subject or "",
        claims_matching_expression=claims_matching_expression or "",
        must_match=[] if must_match is None else must_match,
        must_not_match=[] if must_not_match is None else must_not_match,
    )
    _validate_credential(credential, creating=True)
    _issuer_reachable(credential, action="federated_credential.create", actor=actor)
    with transaction.atomic():
        # Again with the application's row locked: concurrent requests all passed the
        # check before the fetch.
        ExternalApp.objects.select_for_update().only("pk").get(pk=app.pk)
        _limit_check(app)
        _save(credential, force_insert=True)
        client_changed(app.client.client_id)
        audit_record(
            action="federated_credential.create",
            actor=actor,
            organization=app.organization,
            target=credential,
            details={"client_id": app.client.client_id, **_credential_details(credential)},
        )
    return credential


def federated_credential_update(
    *, credential: FederatedCredential, actor: Actor, **changes
) -> FederatedCredential:
    """Seed 004's PUT: every field is given; an absent description becomes empty, and so
    does the one of subject and expression not given. Absent trust-policy tests are kept
    (a client that knows nothing of them must not drop them) and run against the change.
    The issuer is fetched again, as at creation."""
    unknown = set(changes) - set(CREDENTIAL_FIELDS)
    if unknown:
        raise TypeError(f"federated_credential_update: unknown fields {sorted(unknown)}")
    changes["description"] = changes.get("description") or ""
    for field in ("subject", "claims_matching_expression"):
        changes[field] = changes.get(field) or ""
    for field in SAMPLE_FIELDS:
        if changes.get(field) is None:
            changes.pop(field, None)
    candidate = FederatedCredential(pk=credential.pk, app=credential.app)
    for field in CREDENTIAL_FIELDS:
        setattr(candidate, field, changes.get(field, getattr(credential, field)))
    _validate_credential(candidate, creating=False)
    _issuer_reachable(candidate, action="federated_credential.update", actor=actor)
    with transaction.atomic():
        credential = (
            FederatedCredential.objects.select_for_update()
            .select_related("app__organization", "app__client")
            .get(pk=credential.pk)
        )
        diff = apply_changes(credential, changes)
        if diff:
            _save(credential, update_fields=[*diff, "updated_at"])
            client_changed(credential.app.client.client_id)
            audit_record(
                action="federated_credential.update",
                actor=actor,
                organization=credential.app.organization,
                target=credential,
                details={"client_id": credential.app.client.client_id, **diff},
            )
    return credential


@transaction.atomic
def federated_credential_delete(*, credential: FederatedCredential, actor: Actor) -> None:
    """Seed 004: new exchanges stop at once; tokens already issued stay valid until they
    expire."""
    audit_record(
        action="federated_credential.delete",
        actor=actor,
        organization=credential.app.organization,
        target=credential,
        details={"client_id": credential.app.client.client_id, **_credential_details(credential)},
    )
    credential.delete()
    client_changed(credential.app.client.client_id)


# --- the application's own keys (SPEC §11) -------------------------------------------------
#
# Checked like a credential: everything without the network first (the application is
# confidential, the limit, the name, the PEM), then a JWKS URL is fetched through the guarded
# fetcher outside any transaction, then the limit again with the application's row locked.

KEY_SOURCES = {
    "public_key_pem": AppKey.Kind.PUBLIC_KEY,
    "certificate_pem": AppKey.Kind.CERTIFICATE,
    "jwks_uri": AppKey.Kind.JWKS_URI,
}
_KEY_NAME_CONSTRAINT = "app_key_name_unique_in_app"
_KEY_NAME_TAKEN = "A key with this name already exists in this application."
KEY_LIMIT_MESSAGE = f"An application has at most {KEYS_PER_APP} keys; delete one first."
KEY_SOURCE_MESSAGE = "Give exactly one of publicKeyPem, certificatePem or jwksUri."
PUBLIC_APP_KEY_MESSAGE = (
    "A public (non-confidential) application cannot have keys: only a confidential client "
    "may use the client credentials grant (RFC 6749 §4.4)."
)


def _keys_error(message: str, code: str) -> ValidationError:
    return ValidationError({"keys": ValidationError(message, code=code)})


def _key_limit_check(app: ExternalApp) -> None:
    if AppKey.objects.filter(app=app).count() >= KEYS_PER_APP:
        raise _keys_error(KEY_LIMIT_MESSAGE, "limit_reached")


def _key_material(key: AppKey, source: str, value: str) -> None:
    """Reads the PEM into the key's JWK, description and expiry, or checks the JWKS URL's
    form; ValidationError keyed by the API's field."""
    field = {"public_key_pem": "publicKeyPem", "certificate_pem": "certificatePem"}.get(source)
    if field is not None and len(value) > PEM_MAX_LENGTH:
        raise ValidationError({field: f"At most {PEM_MAX_LENGTH} characters."})
    if source == "public_key_pem":
        key.jwk, key.description = keys.public_key_read(value)
        key.pem = value.strip()
    elif source == "certificate_pem":
        key.jwk, key.description, key.expires_at = keys.certificate_read(value)
        key.pem = value.strip()
    else:
        key.jwks_uri = value
        problem = jwks.issuer_uri_problem(value)
        if problem is not None:
            raise ValidationError({"jwksUri": problem.replace("The issuer", "The JWKS URL")})


def _jwks_uri_reachable(key: AppKey, *, actor: Actor) -> None:
    """The JWKS URL must serve a usable signing key now, fetched through the guarded
    fetcher; a refusal is audited with its reason code, as an issuer's is."""
    try:
        jwks.jwks_uri_keys_fetch(key.jwks_uri)
    except jwks.IssuerUnreachable as error:
        audit_record(
            action="app_key.create",
            actor=actor,
            organization=key.app.organization,
            target=key.app,
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=error.reason,
            details={"name": key.name, "jwks_uri": key.jwks_uri, "detail": error.detail},
        )
        raise ValidationError(
            {"jwksUri": ValidationError(error.message, code="jwks_unreachable")}
        ) from None


def _key_details(key: AppKey) -> dict:
    return {
        "client_id": key.app.client.client_id,
        "name": key.name,
        "kind": key.kind,
        "thumbprint": key.thumbprint,
        "description": key.description,
        "jwks_uri": key.jwks_uri,
    }


def app_key_create(
    *,
    app: ExternalApp,
    actor: Actor,
    name: str,
    public_key_pem: str = "",
    certificate_pem: str = "",
    jwks_uri: str = "",
) -> AppKey:
    """Registers one public key of the application's own; exactly one of the three
    sources. The private half never reaches this server (a pasted one is refused)."""
    given = {
        source: value
        for source, value in (
            ("public_key_pem", public_key_pem),
            ("certificate_pem", certificate_pem),
            ("jwks_uri", jwks_uri),
        )
        if value
    }
    if len(given) != 1:
        raise ValidationError({"key": ValidationError(KEY_SOURCE_MESSAGE, code="one_source")})
    # RFC 6749 §4.4: the token endpoint would refuse it anyway (unauthorized_client).
    if not app.client.is_confidential:
        raise _keys_error(PUBLIC_APP_KEY_MESSAGE, "public_application")
    _key_limit_check(app)
    [(source, value)] = given.items()
    key = AppKey(app=app, name=name, kind=KEY_SOURCES[source])
    key.full_clean(
        exclude=["app", "pem", "jwks_uri", "kind"],
        validate_unique=False,
        validate_constraints=False,
    )
    others = AppKey.objects.filter(app=app)
    if others.alias(name_ci=Lower("name")).filter(name_ci=name.lower()).exists():
        raise duplicate_name(_KEY_NAME_TAKEN)
    _key_material(key, source, value)
    same = next((k for k in others if k.jwk and k.thumbprint == key.thumbprint), None)
    if key.jwk and same is not None:
        field = "publicKeyPem" if source == "public_key_pem" else "certificatePem"
        raise ValidationError({field: f"This public key is already registered as {same.name!r}."})
    if key.kind == AppKey.Kind.JWKS_URI:
        _jwks_uri_reachable(key, actor=actor)
    with transaction.atomic():
        ExternalApp.objects.select_for_update().only("pk").get(pk=app.pk)
        _key_limit_check(app)
        save_unique_name(
            key, constraint=_KEY_NAME_CONSTRAINT, message=_KEY_NAME_TAKEN, force_insert=True
        )
        client_changed(app.client.client_id)
        audit_record(
            action="app_key.create",
            actor=actor,
            organization=app.organization,
            target=key,
            details=_key_details(key),
        )
    return key


@transaction.atomic
def app_key_delete(*, key: AppKey, actor: Actor) -> None:
    """Assertions signed with it stop authenticating at once; tokens already issued stay
    valid until they expire, as for a federated credential."""
    audit_record(
        action="app_key.delete",
        actor=actor,
        organization=key.app.organization,
        target=key,
        details=_key_details(key),
    )
    key.delete()
    client_changed(key.app.client.client_id)


# --- the organization's sign-in identity providers (SPEC §9) ----------------------------
#
# Checked like a credential: everything without the network first, then the provider's
# discovery document and keys through the guarded fetcher, outside any transaction (only
# when the issuer is new or changed), then the save with the row locked. The client secret
# is encrypted at rest (identity_server.encryption) and never leaves this module but to the
# token request (federation.relying_party); the audit log shows only that it changed.

IDP_SECRET_PURPOSE = "federation.identity-provider.client-secret"  # noqa: S105 (a salt)
IDP_FIELDS = (
    "name",
    "kind",
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "allowed_email_domains",
    "subject_claim",
    "email_claim",
    "name_claim",
    "provisioning",
    "enforced",
    "break_glass_user",
    "enabled",
)
IDP_DOMAINS_MAX = 50
IDP_CLIENT_SECRET_MAX_LENGTH = 1024
_IDP_NAME_CONSTRAINT = "identity_provider_name_unique_in_org"
_IDP_ENFORCED_CONSTRAINT = "identity_provider_one_enforced_per_org"
_IDP_NAME_TAKEN = "An identity provider with this name already exists in this organization."
IDP_ENFORCED_TAKEN = (
    "Another identity provider of this organization is already the only way to sign in; "
    "turn that off first."
)
IDP_BREAK_GLASS_REQUIRED = (
    "Choose a break-glass administrator: the one account that may still sign in with a "
    "local password when this provider is the only way in."
)
IDP_BREAK_GLASS_NOT_ADMIN = "The break-glass account must be an administrator of this organization."
IDP_ENFORCED_DISABLED = "A provider that is the only way to sign in must be enabled."
IDP_ENTRA_MULTITENANT = (
    "Entra ID's multi-tenant issuers (common, organizations, consumers) accept any "
    "Microsoft tenant's users; use your tenant's issuer, "
    "https://login.microsoftonline.com/{tenant-id}/v2.0."
)
IDP_SCOPES_OPENID = "The scopes must include `openid`."
IDP_SECRET_REQUIRED = "The client secret the provider gave for this site is required."  # noqa: S105
# Entra ID's issuers that stand for no one tenant (Microsoft identity platform docs,
# "Multi-tenant apps": the issuer must then be validated per tenant, which SPEC §9 refuses).
_ENTRA_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
    }
)
_ENTRA_MULTITENANT_SEGMENTS = frozenset({"common", "organizations", "consumers", "{tenantid}"})
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/-]+")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


def _entra_multitenant(issuer: str) -> bool:
    parts = urlsplit(issuer)
    segments = [s for s in parts.path.split("/") if s]
    return (
        (parts.hostname or "").lower() in _ENTRA_HOSTS
        and bool(segments)
        and (segments[0].lower() in _ENTRA_MULTITENANT_SEGMENTS)
    )


def _clean_domains(value, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors["allowed_email_domains"] = ["Must be a list of domain names."]
        return []
    domains = []
    for raw in value:
        domain = raw.strip().lower().removeprefix("@")
        if not _DOMAIN.fullmatch(domain):
            errors["allowed_email_domains"] = [f"“{raw[:100]}” is not a domain name."]
            return []
        if domain not in domains:
            domains.append(domain)
    if len(domains) > IDP_DOMAINS_MAX:
        errors["allowed_email_domains"] = [f"At most {IDP_DOMAINS_MAX} domains."]
    return domains


def _validate_identity_provider(provider: IdentityProvider, secret: str | None) -> None:
    """Every check without the network; ValidationError keyed by field. Normalizes the
    scopes (single spaces) and the domains (lower case, no duplicates) in place."""
    errors: dict = {}
    try:
        provider.full_clean(
            exclude=["organization", "break_glass_user", "allowed_email_domains"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as error:
        errors = error.message_dict
    for field in ("issuer", "client_id"):
        value = getattr(provider, field)
        if field not in errors and value != value.strip():
            errors[field] = ["Must not begin or end with blanks; it is compared exactly."]
    if "issuer" not in errors:
        problem = jwks.issuer_uri_problem(provider.issuer)
        if problem:
            errors["issuer"] = [problem]
        elif _entra_multitenant(provider.issuer):
            errors["issuer"] = [IDP_ENTRA_MULTITENANT]
    if "scopes" not in errors:
        scopes = provider.scopes.split()
        if not all(_SCOPE_TOKEN.fullmatch(s) for s in scopes):
            errors["scopes"] = ["Scopes are names without quotes or backslashes, space-separated."]
        elif OPENID_SCOPE not in scopes:
            errors["scopes"] = [IDP_SCOPES_OPENID]
        else:
            provider.scopes = " ".join(dict.fromkeys(scopes))
    for field in ("subject_claim", "email_claim", "name_claim"):
        if field not in errors and not _CLAIM_NAME.fullmatch(getattr(provider, field)):
            errors[field] = ["A claim name: letters, digits and _ . : / -"]
    provider.allowed_email_domains = _clean_domains(provider.allowed_email_domains, errors)
    if secret is not None and len(secret) > IDP_CLIENT_SECRET_MAX_LENGTH:
        errors["client_secret"] = [f"At most {IDP_CLIENT_SECRET_MAX_LENGTH} characters."]
    elif secret is not None and secret != secret.strip():
        errors["client_secret"] = ["Must not begin or end with blanks."]
    if not provider.client_secret_encrypted and not secret:
        errors.setdefault("client_secret", [IDP_SECRET_REQUIRED])
    user = provider.break_glass_user
    if not _break_glass_is_admin(provider):
        errors["break_glass_user"] = [IDP_BREAK_GLASS_NOT_ADMIN]
    if provider.enforced:
        if user is None:
            errors.setdefault("break_glass_user", [IDP_BREAK_GLASS_REQUIRED])
        if not provider.enabled:
            errors["enabled"] = [IDP_ENFORCED_DISABLED]
    if errors:
        raise ValidationError(errors)
    others = IdentityProvider.objects.filter(organization=provider.organization).exclude(
        pk=provider.pk
    )
    if others.alias(name_ci=Lower("name")).filter(name_ci=provider.name.lower()).exists():
        raise duplicate_name(_IDP_NAME_TAKEN)
    if provider.enforced and others.filter(enforced=True).exists():
        raise ValidationError({"enforced": [IDP_ENFORCED_TAKEN]})


def _break_glass_is_admin(provider: IdentityProvider) -> bool:
    """Whether the provider's break-glass account (if any) administers its organization."""
    return provider.break_glass_user_id is None or (
        Membership.objects.filter(
            organization_id=provider.organization_id,
            user_id=provider.break_glass_user_id,
            role=Membership.Role.ADMIN,
        ).exists()
    )


def _break_glass_locked_check(provider: IdentityProvider) -> None:
    """In the saving transaction: takes the organization's row lock, which membership
    changes hold (tenants.services), and checks the break-glass account again, so that the
    account cannot stop being an administrator between the check and the save."""
    if provider.break_glass_user_id is None:
        return
    Organization.objects.select_for_update().filter(pk=provider.organization_id).first()
    if not _break_glass_is_admin(provider):
        raise ValidationError({"break_glass_user": [IDP_BREAK_GLASS_NOT_ADMIN]})


def break_glass_admin_leaving_check(*, organization: Organization, user) -> None:
    """settings.ADMIN_LEAVING_CHECKS: an administrator whom one of the organization's
    providers names as its break-glass account stays one until the provider names another
    (or none): without it, an organization whose provider is the only way in would have
    no way in when the provider fails. Called with the organization's row lock held."""
    provider = (
        IdentityProvider.objects.filter(organization=organization, break_glass_user=user)
        .only("name")
        .first()
    )
    if provider is not None:
        message = (
            f"“{user.get_username()}” is the break-glass administrator of the identity "
            f"provider “{provider.name}”: name another one there first."
        )
        raise ValidationError({"role": ValidationError(message, code="break_glass_admin")})


def _provider_reachable(provider: IdentityProvider, *, action: str, actor: Actor) -> None:
    """SPEC §9: the provider's discovery document (with the code flow's endpoints) and its
    signing keys must answer, now, through the guarded fetcher."""
    try:
        relying_party.provider_configuration_fetch(provider.issuer)
        jwks.issuer_keys_fetch(provider.issuer)
    except jwks.IssuerUnreachable as error:
        audit_record(
            action=action,
            actor=actor,
            organization=provider.organization,
            target=AuditTarget("identityprovider", str(provider.pk or ""), provider.name),
            outcome=AuditEvent.Outcome.FAILURE,
            reason_code=error.reason,
            details={"name": provider.name, "issuer": provider.issuer, "detail": error.detail},
        )
        raise ValidationError(
            {"issuer": ValidationError(error.message, code="issuer_unreachable")}
        ) from None


def identity_provider_details(provider: IdentityProvider) -> dict:
    """The provider as the audit log shows it: every field, the secret only as whether one
    is set (and that key is redacted by audit_record anyway)."""
    user = provider.break_glass_user
    return {
        "name": provider.name,
        "kind": provider.kind,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": REDACTED,
        "scopes": provider.scopes,
        "allowed_email_domains": list(provider.allowed_email_domains),
        "subject_claim": provider.subject_claim,
        "email_claim": provider.email_claim,
        "name_claim": provider.name_claim,
        "provisioning": provider.provisioning,
        "enforced": provider.enforced,
        "break_glass_user": user.get_username() if user is not None else None,
        "enabled": provider.enabled,
    }


def identity_provider_client_secret(provider: IdentityProvider) -> str:
    """The plaintext client secret, for the token request only (federation.relying_party)."""
    return decrypt(IDP_SECRET_PURPOSE, provider.client_secret_encrypted)


def _idp_save(provider: IdentityProvider, **options) -> None:
    try:
        save_unique_name(
            provider, constraint=_IDP_NAME_CONSTRAINT, message=_IDP_NAME_TAKEN, **options
        )
    except IntegrityError as error:
        if _IDP_ENFORCED_CONSTRAINT in str(error):
            raise ValidationError({"enforced": [IDP_ENFORCED_TAKEN]}) from None
        raise


def _idp_unknown(function: str, fields) -> None:
    unknown = set(fields) - set(IDP_FIELDS)
    if unknown:
        raise TypeError(f"{function}: unknown fields {sorted(unknown)}")


def identity_provider_create(
    *, organization: Organization, actor: Actor, **fields
) -> IdentityProvider:
    """A new identity provider of the organization (IDP_FIELDS; `name`, `issuer`,
    `client_id` and `client_secret` required, the rest defaulted as the model says, and
    `subject_claim` `oid` for Entra ID unless given). Its issuer is fetched before it is
    saved. ValidationError keyed by field."""
    _idp_unknown("identity_provider_create", fields)
    secret = fields.pop("client_secret", None) or None
    if fields.get("kind") == IdentityProvider.Kind.ENTRA:
        fields.setdefault("subject_claim", "oid")
    provider = IdentityProvider(organization=organization, **fields)
    _validate_identity_provider(provider, secret)
    _provider_reachable(provider, action="identity_provider.created", actor=actor)
    provider.client_secret_encrypted = encrypt(IDP_SECRET_PURPOSE, secret)
    with transaction.atomic():
        _break_glass_locked_check(provider)
        _idp_save(provider, force_insert=True)
        audit_record(
            action="identity_provider.created",
            actor=actor,
            organization=organization,
            target=provider,
            details={"after": identity_provider_details(provider)},
        )
    return provider


def identity_provider_update(
    *, provider: IdentityProvider, actor: Actor, **fields
) -> IdentityProvider:
    """Changes the fields given (IDP_FIELDS); the others stay. `client_secret` None or
    empty keeps the secret. A changed issuer is fetched again, as at creation. The audit
    event has the provider before and after, and `changed`, the names of the fields that
    changed (`client_secret` among them when it did, its values never)."""
    _idp_unknown("identity_provider_update", fields)
    secret = fields.pop("client_secret", None) or None
    current = IdentityProvider.objects.select_related("organization", "break_glass_user").get(
        pk=provider.pk
    )
    candidate = IdentityProvider.objects.select_related("organization", "break_glass_user").get(
        pk=provider.pk
    )
    for field, value in fields.items():
        setattr(candidate, field, value)
    _validate_identity_provider(candidate, secret)
    if candidate.issuer != current.issuer:
        _provider_reachable(candidate, action="identity_provider.updated", actor=actor)
    with transaction.atomic():
        locked = (
            IdentityProvider.objects.select_for_update(of=("self",))
            .select_related("organization", "break_glass_user")
            .get(pk=provider.pk)
        )
        before = identity_provider_details(locked)
        changed = [
            f
            for f in IDP_FIELDS
            if f != "client_secret" and getattr(candidate, f) != getattr(locked, f)
        ]
        for field in changed:
            setattr(locked, field, getattr(candidate, field))
        if "break_glass_user" in changed:
            _break_glass_locked_check(locked)
        update_fields = list(changed)
        if "break_glass_user" in update_fields:
            update_fields[update_fields.index("break_glass_user")] = "break_glass_user_id"
        if secret is not None and secret != identity_provider_client_secret(locked):
            locked.client_secret_encrypted = encrypt(IDP_SECRET_PURPOSE, secret)
            changed.append("client_secret")
            update_fields.append("client_secret_encrypted")
        if changed:
            _idp_save(locked, update_fields=[*update_fields, "updated_at"])
            audit_record(
                action="identity_provider.updated",
                actor=actor,
                organization=locked.organization,
                target=locked,
                details={
                    "changed": changed,
                    "before": before,
                    "after": identity_provider_details(locked),
                },
            )
    return locked


@transaction.atomic
def identity_provider_delete(*, provider: IdentityProvider, actor: Actor) -> None:
    """Deletes the provider. The accounts bound through it keep their bindings
    (ExternalIdentity), so the same issuer registered again finds its people again."""
    audit_record(
        action="identity_provider.deleted",
        actor=actor,
        organization=provider.organization,
        target=provider,
        details={"before": identity_provider_details(provider)},
    )
    provider.delete()


# --- signing in through the organization's identity provider (SPEC §9) ------------------
#
# federation.relying_party has checked the flow and the id_token; here the claims become an
# account. The account is found by its binding (issuer, subject) alone; with none, on the
# first sign-in, an email links to an existing account only when the provider says it is
# verified and its domain is allowed; `link_only` then wants an existing member,
# `jit_member` makes one. Every refusal is a `user.sign_in` failure with its reason code in
# the provider's organization, written outside the transaction that was rolled back.

METHOD_PREFIX = "idp:"
EMAIL_UNVERIFIED = "email_unverified"
DOMAIN_NOT_ALLOWED = "domain_not_allowed"
NOT_A_MEMBER = "not_a_member"
ACCOUNT_DISABLED = "account_disabled"
SSO_ENFORCED = "sso_enforced"
ALREADY_BOUND = "already_bound"
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def sign_in_method(provider: IdentityProvider) -> str:
    return f"{METHOD_PREFIX}{provider.name}"


@dataclass(frozen=True)
class ExternalClaims:
    """What the sign-in takes from the id_token, by the provider's claim names."""

    subject: str
    email: str
    email_verified: bool
    name: str

    @classmethod
    def of(cls, provider: IdentityProvider, claims: dict) -> "ExternalClaims":
        subject = claims.get(provider.subject_claim)
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise relying_party.SignInRefused(
                relying_party.TOKEN_INVALID,
                f"the id_token has no usable `{provider.subject_claim}` claim",
            )
        email = claims.get(provider.email_claim)
        email = email.strip() if isinstance(email, str) and len(email) <= 254 else ""
        # OpenID Connect Core §5.1: a JSON boolean; some providers send the string.
        verified = claims.get("email_verified") in (True, "true")
        name = claims.get(provider.name_claim)
        return cls(subject, email, bool(email) and verified, name if isinstance(name, str) else "")


def _refuse(reason: str, detail: str = "", user=None):
    raise relying_party.SignInRefused(reason, detail, user=user)


def _new_external_account(provider: IdentityProvider, claims: ExternalClaims):
    """An unsaved account for a first sign-in under `jit_member`: named by its verified
    email (or the provider's subject), with no local password; an unverified email is not
    kept (it could later link a verified owner's identity to this account)."""
    user_model = get_user_model()
    base = claims.email if claims.email_verified else ""
    if not base:
        digest = hashlib.sha256(f"{provider.issuer} {claims.subject}".encode()).hexdigest()
        base = f"idp-{digest[:16]}"
    base = _USERNAME_UNSAFE.sub("-", base)[:130]
    username = base
    while user_model.objects.filter(username__iexact=username).exists():
        username = f"{base}-{secrets.token_hex(3)}"
    user = user_model(
        username=username,
        email=claims.email if claims.email_verified else "",
        first_name=claims.name[:150],
    )
    user.set_unusable_password()
    return user


def _account_for(provider: IdentityProvider, claims: ExternalClaims, binding):
    """The account these claims sign in to, or None for a new one; refusals as SPEC §9."""
    if binding is not None:
        return binding.user
    # First sign-in: link by email only when verified (and its domain allowed, checked).
    if not claims.email:
        return None
    same_email = list(get_user_model().objects.filter(email__iexact=claims.email)[:2])
    if not same_email:
        return None
    if not claims.email_verified:
        _refuse(
            EMAIL_UNVERIFIED,
            "an account has this email; the provider did not verify it",
            same_email[0] if len(same_email) == 1 else None,
        )
    if len(same_email) > 1:
        _refuse(NOT_A_MEMBER, "several accounts have this email; none is linked")
    user = same_email[0]
    # An account already bound at this issuer is found by that binding alone: an address
    # the provider gave to someone else since (a leaver's, reassigned) must not link them.
    if ExternalIdentity.objects.filter(user=user, issuer=provider.issuer).exists():
        _refuse(ALREADY_BOUND, "the account with this email is bound to another subject", user)
    return user


def identity_provider_sign_in(*, provider: IdentityProvider, claims: dict, actor: Actor):
    """The account the provider's checked id_token `claims` sign in to (SPEC §9), bound,
    provisioned and audited (`user.sign_in`, method `idp:{name}`); raises
    relying_party.SignInRefused after auditing its reason code. Logging in is the
    caller's."""
    method = sign_in_method(provider)
    user = None
    try:
        external = ExternalClaims.of(provider, claims)
        try:
            with transaction.atomic():
                user = _sign_in(provider, external, actor)
        except IntegrityError:
            # A concurrent first sign-in of the same person bound them (or took the new
            # account's name) first: this time the binding is there to be found.
            with transaction.atomic():
                user = _sign_in(provider, external, actor)
    except relying_party.SignInRefused as refusal:
        identity_provider_sign_in_refused(
            provider=provider,
            actor=actor,
            reason=refusal.reason,
            detail=refusal.detail,
            user=refusal.user,
        )
        raise
    sign_in_record(
        actor=actor,
        user=user,
        method=method,
        details={"provider_id": str(provider.pk), **break_glass_flag(user)},
    )
    return user


@dataclass(frozen=True)
class SignInOutcome:
    """What a sign-in with these claims comes to, before anything is written: the account
    (None: a new one is made), whether it is bound to the provider's subject already, and
    whether it becomes a member of the organization (`jit_member`)."""

    user: object | None
    bound: bool
    joins: bool


def _sign_in_outcome(
    provider: IdentityProvider, external: ExternalClaims, binding
) -> SignInOutcome:
    """SPEC §9's decision for `external` (`binding`: the subject's binding at the issuer,
    or None); raises SignInRefused with its reason code. Reads only."""
    allowed = provider.allowed_email_domains
    if allowed:
        # The domain says who may come in only if the provider vouches for the address.
        if not external.email:
            _refuse(DOMAIN_NOT_ALLOWED, "no email in the id_token; the provider allows domains")
        if not external.email_verified:
            _refuse(EMAIL_UNVERIFIED, "the provider did not verify the email")
        if selectors.email_domain(external.email) not in allowed:
            _refuse(DOMAIN_NOT_ALLOWED, f"domain {selectors.email_domain(external.email)!r}")
    user = _account_for(provider, external, binding)
    jit = provider.provisioning == IdentityProvider.Provisioning.JIT_MEMBER
    if user is None:
        if not jit:
            _refuse(NOT_A_MEMBER, "link_only: no account for this person")
        return SignInOutcome(user=None, bound=False, joins=True)
    if not user.is_active:
        _refuse(ACCOUNT_DISABLED, "the account is disabled", user)
    member = Membership.objects.filter(organization=provider.organization, user=user).exists()
    if not member and not jit:
        _refuse(NOT_A_MEMBER, "link_only: not a member", user)
    return SignInOutcome(user=user, bound=binding is not None, joins=not member)


def identity_provider_sign_in_preview(
    *, provider: IdentityProvider, external: ExternalClaims
) -> SignInOutcome:
    """The test sign-in's dry run: what identity_provider_sign_in would do with these
    claims, writing nothing; raises SignInRefused as it would (unaudited)."""
    binding = (
        ExternalIdentity.objects.select_related("user")
        .filter(issuer=provider.issuer, subject=external.subject)
        .first()
    )
    return _sign_in_outcome(provider, external, binding)


def _sign_in(provider: IdentityProvider, external: ExternalClaims, actor: Actor):
    binding = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=provider.issuer, subject=external.subject)
        .first()
    )
    outcome = _sign_in_outcome(provider, external, binding)
    system = Actor(
        AuditEvent.ActorKind.SYSTEM, "", sign_in_method(provider), actor.address, actor.user_agent
    )
    organization = provider.organization
    user = outcome.user
    if user is None:
        user = _new_external_account(provider, external)
        user.save()
        audit_record(
            action="user.create",
            actor=system,
            organization=organization,
            target=AuditTarget("user", str(user.pk), user.get_username()),
            details={"provider_id": str(provider.pk)},
        )
    if outcome.joins:
        membership_set(
            organization=organization, user=user, role=Membership.Role.MEMBER, actor=system
        )
    now = timezone.now()
    if binding is None:
        binding = ExternalIdentity.objects.create(
            issuer=provider.issuer,
            subject=external.subject,
            user=user,
            provider=provider,
            email=external.email,
            email_verified=external.email_verified,
            last_used_at=now,
        )
        audit_record(
            action="external_identity.bound",
            actor=system,
            organization=organization,
            target=AuditTarget("user", str(user.pk), user.get_username()),
            details={"issuer": provider.issuer, "subject": external.subject},
        )
    else:
        binding.email, binding.email_verified = external.email, external.email_verified
        binding.provider, binding.last_used_at = provider, now
        binding.save(update_fields=["email", "email_verified", "provider", "last_used_at"])
    return user


def identity_provider_sign_in_refused(
    *, provider: IdentityProvider, actor: Actor, reason: str, detail: str = "", user=None
) -> None:
    """A failed sign-in through `provider` in the audit log (SPEC §9 reason codes)."""
    sign_in_record(
        actor=actor,
        user=user,
        outcome=AuditEvent.Outcome.FAILURE,
        reason_code=reason,
        method=sign_in_method(provider),
        details={"provider_id": str(provider.pk), "detail": detail[:300]},
        organization=provider.organization,
    )


def break_glass_flag(user) -> dict:
    """`{"break_glass": True}` for the sign-in of an account that is the break-glass
    administrator of an organization whose provider is the only way in (SPEC §9: its every
    sign-in is shown to the other administrators); else empty."""
    for provider in selectors.enforcing_providers(user=user):
        if provider.break_glass_user_id == user.pk:
            return {"break_glass": True}
    return {}


def password_sign_in_refusal(user) -> IdentityProvider | None:
    """The provider that is the only way in for one of `user`'s organizations, when `user`
    is not its break-glass administrator: their local password sign-in is refused
    (`sso_enforced`). None when a password may sign them in."""
    for provider in selectors.enforcing_providers(user=user):
        if (
            provider.break_glass_user_id != user.pk
            or not Membership.objects.filter(
                organization=provider.organization, user=user, role=Membership.Role.ADMIN
            ).exists()
        ):
            return provider
    return None
