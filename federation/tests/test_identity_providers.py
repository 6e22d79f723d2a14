"""The organization's sign-in identity providers (SPEC §9): federation.services'
identity_provider_create / update / delete and the selectors, against the test identity
provider on loopback HTTPS (tests/idp.py) for the issuer's discovery and keys."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404

from federation import selectors, services
from federation.models import ExternalIdentity, IdentityProvider
from federation.relying_party import SignInRefused
from identity_server.encryption import decrypt
from identity_server.tests.factories import TEST_ACTOR
from tenants.models import AuditEvent, Membership
from tenants.services import membership_remove, membership_set
from tenants.tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-from-the-provider"


@pytest.fixture
def oidc_issuer(identity_provider):
    """The test provider's `gcp` issuer, whose discovery also names the code flow's
    endpoints (as a real OpenID provider's does)."""
    base = identity_provider.issuer("gcp")
    identity_provider.discovery_fields(
        "gcp", authorization_endpoint=f"{base}/authorize", token_endpoint=f"{base}/token"
    )
    return base


def _create(organization, issuer=None, **fields):
    return services.identity_provider_create(
        organization=organization,
        actor=TEST_ACTOR,
        **{"name": "Corp SSO", "issuer": issuer, "client_id": "site", "client_secret": SECRET}
        | fields,
    )


def test_create_stores_the_secret_encrypted_and_audits_it_redacted(admin_membership, oidc_issuer):
    # given
    organization = admin_membership.organization

    # when
    provider = _create(organization, oidc_issuer, allowed_email_domains=["Example.COM", "@a.org"])

    # then
    assert SECRET not in provider.client_secret_encrypted
    assert decrypt(services.IDP_SECRET_PURPOSE, provider.client_secret_encrypted) == SECRET
    assert provider.allowed_email_domains == ["example.com", "a.org"]
    assert provider.scopes == "openid email profile" and provider.subject_claim == "sub"
    event = AuditEvent.objects.get(action="identity_provider.created")
    assert event.organization == organization and SECRET not in str(event.details)
    assert event.details["after"]["client_secret"] == "[redacted]"
    assert event.details["after"]["issuer"] == oidc_issuer


def test_entra_defaults_the_subject_to_oid_and_refuses_the_multitenant_issuers(admin_membership):
    # given
    organization = admin_membership.organization

    # when / then: refused before any fetch
    for issuer in (
        "https://login.microsoftonline.com/common/v2.0",
        "https://login.microsoftonline.com/organizations/v2.0",
        "https://login.microsoftonline.com/Consumers/v2.0",
    ):
        with pytest.raises(ValidationError) as refused:
            _create(organization, issuer, kind="entra")
        assert refused.value.message_dict["issuer"] == [services.IDP_ENTRA_MULTITENANT]
    assert not IdentityProvider.objects.exists()


def test_create_refuses_an_unreachable_issuer_and_audits_why(admin_membership, identity_provider):
    # given: the github issuer's discovery names no authorization endpoint
    organization = admin_membership.organization

    # when
    with pytest.raises(ValidationError) as refused:
        _create(organization, identity_provider.issuer("github"))

    # then
    assert "authorization_endpoint" in refused.value.message_dict["issuer"][0]
    event = AuditEvent.objects.get(action="identity_provider.created")
    assert event.outcome == "failure" and event.reason_code == "endpoint_missing"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"client_secret": ""}, "client_secret", id="no secret"),
        pytest.param({"scopes": "email profile"}, "scopes", id="no openid"),
        pytest.param(
            {"allowed_email_domains": ["not a domain"]}, "allowed_email_domains", id="domain"
        ),
        pytest.param({"issuer": "http://idp.example.com"}, "issuer", id="not https"),
        pytest.param({"provisioning": "anyone"}, "provisioning", id="provisioning"),
        pytest.param({"enforced": True}, "break_glass_user", id="enforced without break-glass"),
        pytest.param({"subject_claim": "a b"}, "subject_claim", id="claim name"),
    ],
)
def test_create_refuses_invalid_fields(admin_membership, oidc_issuer, fields, field):
    # when
    with pytest.raises(ValidationError) as refused:
        _create(admin_membership.organization, **{"issuer": oidc_issuer, **fields})

    # then
    assert field in refused.value.message_dict
    assert not IdentityProvider.objects.exists()


def test_break_glass_must_be_an_admin_of_the_organization(admin_membership, oidc_issuer):
    # given
    organization = admin_membership.organization
    member = MembershipFactory(organization=organization, role=Membership.Role.MEMBER).user
    stranger = UserFactory()

    # when / then
    for user in (member, stranger):
        with pytest.raises(ValidationError) as refused:
            _create(organization, oidc_issuer, enforced=True, break_glass_user=user)
        assert refused.value.message_dict["break_glass_user"] == [
            services.IDP_BREAK_GLASS_NOT_ADMIN
        ]
    provider = _create(
        organization, oidc_issuer, enforced=True, break_glass_user=admin_membership.user
    )
    assert provider.enforced and provider.break_glass_user == admin_membership.user


def test_the_break_glass_admin_is_neither_demoted_nor_removed_until_another_is_named(
    admin_membership, oidc_issuer
):
    # given: an enforced provider whose break-glass account is one of two admins
    organization = admin_membership.organization
    break_glass = admin_membership.user
    other = MembershipFactory(organization=organization, role=Membership.Role.ADMIN).user
    provider = _create(organization, oidc_issuer, enforced=True, break_glass_user=break_glass)
    message = (
        f"“{break_glass.username}” is the break-glass administrator of the identity provider "
        "“Corp SSO”: name another one there first."
    )

    # when / then: neither demoting nor removing is allowed, and nothing changes
    for change in (
        lambda: membership_set(
            organization=organization, user=break_glass, role="member", actor=TEST_ACTOR
        ),
        lambda: membership_remove(organization=organization, user=break_glass, actor=TEST_ACTOR),
    ):
        with pytest.raises(ValidationError) as refused:
            change()
        assert refused.value.message_dict == {"role": [message]}
        assert refused.value.error_dict["role"][0].code == "break_glass_admin"
    assert Membership.objects.get(organization=organization, user=break_glass).role == "admin"

    # when: the provider names the other admin, the first may go
    services.identity_provider_update(provider=provider, actor=TEST_ACTOR, break_glass_user=other)
    membership_remove(organization=organization, user=break_glass, actor=TEST_ACTOR)

    # then
    assert not Membership.objects.filter(organization=organization, user=break_glass).exists()
    with pytest.raises(ValidationError):
        membership_set(organization=organization, user=other, role="member", actor=TEST_ACTOR)


def test_naming_a_break_glass_account_checks_it_again_under_the_organization_lock(
    admin_membership, oidc_issuer
):
    # given: the account passed the early check, then stopped being an admin before the save
    organization = admin_membership.organization
    candidate = MembershipFactory(organization=organization, role=Membership.Role.ADMIN)
    provider = _create(organization, oidc_issuer)
    provider.break_glass_user = candidate.user
    services._validate_identity_provider(provider, None)
    Membership.objects.filter(pk=candidate.pk).update(role=Membership.Role.MEMBER)

    # when / then
    with pytest.raises(ValidationError) as refused:
        services._break_glass_locked_check(provider)
    assert refused.value.message_dict == {"break_glass_user": [services.IDP_BREAK_GLASS_NOT_ADMIN]}


def _claims(email: str, subject: str = "subject-1", verified: bool = True):
    return services.ExternalClaims(subject, email, verified, "Kim")


def test_the_test_sign_ins_dry_run_says_what_a_sign_in_would_do_and_writes_nothing(
    admin_membership, oidc_issuer
):
    # given: a bound member, an account with a verified email that is no member, a stranger
    organization = admin_membership.organization
    provider = _create(
        organization, oidc_issuer, provisioning="jit_member", allowed_email_domains=["corp.example"]
    )
    member = MembershipFactory(organization=organization, user__email="ada@corp.example").user
    ExternalIdentity.objects.create(
        issuer=provider.issuer, subject="ada", user=member, provider=provider
    )
    outsider = UserFactory(email="bo@corp.example")
    written = (ExternalIdentity.objects.count(), Membership.objects.count())
    users, events = get_user_model().objects.count(), AuditEvent.objects.count()

    def preview(claims):
        return services.identity_provider_sign_in_preview(provider=provider, external=claims)

    # when / then
    assert preview(_claims("ada@corp.example", "ada")) == services.SignInOutcome(
        user=member, bound=True, joins=False
    )
    assert preview(_claims("bo@corp.example")) == services.SignInOutcome(
        user=outsider, bound=False, joins=True
    )
    assert preview(_claims("new@corp.example")) == services.SignInOutcome(
        user=None, bound=False, joins=True
    )
    for claims, reason in (
        (_claims("kim@elsewhere.example"), services.DOMAIN_NOT_ALLOWED),
        (_claims("bo@corp.example", verified=False), services.EMAIL_UNVERIFIED),
    ):
        with pytest.raises(SignInRefused) as refused:
            preview(claims)
        assert refused.value.reason == reason
    services.identity_provider_update(provider=provider, actor=TEST_ACTOR, provisioning="link_only")
    provider.refresh_from_db()
    with pytest.raises(SignInRefused) as refused:
        preview(_claims("bo@corp.example"))
    assert refused.value.reason == services.NOT_A_MEMBER
    assert (ExternalIdentity.objects.count(), Membership.objects.count()) == written
    assert get_user_model().objects.count() == users
    assert AuditEvent.objects.count() == events + 1  # the provider's update only


def test_names_are_unique_in_the_organization_and_one_provider_is_enforced(
    admin_membership, oidc_issuer
):
    # given
    organization = admin_membership.organization
    _create(organization, oidc_issuer, enforced=True, break_glass_user=admin_membership.user)

    # when / then
    with pytest.raises(ValidationError) as refused:
        _create(organization, oidc_issuer, name="corp sso")
    assert "name" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        _create(
            organization,
            oidc_issuer,
            name="Other",
            enforced=True,
            break_glass_user=admin_membership.user,
        )
    assert refused.value.message_dict["enforced"] == [services.IDP_ENFORCED_TAKEN]


def test_update_keeps_the_secret_unless_given_and_audits_before_and_after(
    admin_membership, oidc_issuer
):
    # given
    provider = _create(admin_membership.organization, oidc_issuer)

    # when
    provider = services.identity_provider_update(
        provider=provider, actor=TEST_ACTOR, name="Renamed", client_secret=""
    )

    # then
    assert services.identity_provider_client_secret(provider) == SECRET
    event = AuditEvent.objects.get(action="identity_provider.updated")
    assert event.details["changed"] == ["name"]
    assert event.details["before"]["name"] == "Corp SSO"
    assert event.details["after"]["name"] == "Renamed"

    # when: a new secret
    provider = services.identity_provider_update(
        provider=provider, actor=TEST_ACTOR, client_secret="another"
    )

    # then
    assert services.identity_provider_client_secret(provider) == "another"
    event = AuditEvent.objects.filter(action="identity_provider.updated").first()
    assert event.details["changed"] == ["client_secret"] and "another" not in str(event.details)


def test_delete_is_audited_and_selectors_keep_to_the_organization(
    admin_membership, other_admin_membership, oidc_issuer
):
    # given
    provider = _create(admin_membership.organization, oidc_issuer)
    other = other_admin_membership.organization

    # when / then
    with pytest.raises(Http404):
        selectors.identity_provider_get(organization=other, provider_id=str(provider.pk))
    with pytest.raises(Http404):
        selectors.identity_provider_get(organization=other, provider_id="not-a-uuid")
    found = selectors.identity_provider_get(
        organization=admin_membership.organization, provider_id=str(provider.pk)
    )
    services.identity_provider_delete(provider=found, actor=TEST_ACTOR)
    assert not IdentityProvider.objects.exists()
    assert AuditEvent.objects.get(action="identity_provider.deleted").details["before"]["name"]
