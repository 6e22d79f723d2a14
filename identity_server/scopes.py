"""The scope catalogue (SPEC §3, §5): every scope a client may be granted, in one place.

A resource scope `X` covers both reading and writing; `X.Read` and `X.Write` cover one
each. Views name what they need as `X.Read` or `X.Write` (identity_server.permissions),
and `scope_satisfied` accepts either that exact scope or the whole-resource `X`.
"""

from dataclasses import dataclass

# What robots request with a machine's client credentials (seed 000).
ROBOT_SCOPE = "OrchestratorApiUserAccess"

# Lets a resource server introspect tokens issued to other clients (RFC 7662 §4).
INTROSPECTION_SCOPE = "Identity.Introspection"

# Resource scopes, each also offered as `.Read` and `.Write`, grouped by resource server.
RESOURCES = {
    # UiPath's published Orchestrator application scopes, so an app registered here can be
    # granted what a UiPath admin would grant it and get tokens for resource servers beyond
    # ours (the `uipath` CLI asks for OR.Execution by default). Only Machines, Robots,
    # Settings and Audit guard routes of this server.
    "Orchestrator": {
        "OR.Administration": "Orchestrator administration",
        "OR.Analytics": "Analytics",
        "OR.Assets": "Assets",
        "OR.Audit": "The audit log",
        "OR.BackgroundTasks": "Background tasks",
        "OR.Execution": "Processes, packages and their execution",
        "OR.Folders": "Folders",
        "OR.Hypervisor": "Hypervisor",
        "OR.Jobs": "Jobs",
        "OR.License": "Licenses",
        "OR.Machines": "Machines and their client secrets",
        "OR.ML": "Machine learning skills",
        "OR.Monitoring": "Monitoring",
        "OR.Queues": "Queues",
        "OR.Robots": "Robots and unattended sessions",
        "OR.Settings": "Tenant settings",
        "OR.Tasks": "Action Center tasks",
        "OR.TestDataQueues": "Test data queues",
        "OR.TestSetExecutions": "Test set executions",
        "OR.TestSetSchedules": "Test set schedules",
        "OR.TestSets": "Test sets",
        "OR.Users": "Users and roles",
        "OR.Webhooks": "Webhooks",
    },
    "Platform management": {
        "PM.OAuthApp": "External applications and their federated credentials",
        "PM.OAuthAppSecret": "External applications' client secrets",
        # SPEC §9: who may sign in to the organization and how; its own scope rather than
        # PM.OAuthApp, so a deployment script that manages apps cannot also redirect the
        # admins' sign-in to an identity provider of its choosing.
        "PM.IdentityProviders": "The organization's sign-in identity providers",
    },
}

# Scopes without a read/write split, grouped the same way.
STANDALONE = {
    "Orchestrator": {
        "OR.Default": "Orchestrator defaults for an external application",
        ROBOT_SCOPE: "Unattended robot access (machine clients)",
    },
    "Identity": {
        INTROSPECTION_SCOPE: "Introspect any token of the organization",
    },
}

# Asking for it means asking for a refresh token, which client credentials never issue.
OFFLINE_ACCESS = "offline_access"


@dataclass(frozen=True)
class Scope:
    name: str
    resource: str  # the resource server it is for, as UiPath groups scopes
    description: str


def _catalogue() -> dict[str, Scope]:
    scopes = {}
    for resource, entries in RESOURCES.items():
        for name, description in entries.items():
            scopes[name] = Scope(name, resource, description)
            scopes[f"{name}.Read"] = Scope(f"{name}.Read", resource, f"{description} (read)")
            scopes[f"{name}.Write"] = Scope(f"{name}.Write", resource, f"{description} (write)")
    for resource, entries in STANDALONE.items():
        for name, description in entries.items():
            scopes[name] = Scope(name, resource, description)
    return scopes


CATALOGUE: dict[str, Scope] = _catalogue()


def scopes_by_resource(names) -> dict[str, list[str]]:
    """`names` grouped by the resource server each is for (as UiPath groups scopes), in the
    order given; a name that is not in the catalogue under ""."""
    groups: dict[str, list[str]] = {}
    for name in names:
        scope = CATALOGUE.get(name)
        groups.setdefault(scope.resource if scope else "", []).append(name)
    return groups


def scopes_satisfying(required: str) -> list[str]:
    """The scopes that cover `required` (`X.Read`, `X.Write` or a plain scope): the exact
    scope, and for `X.Read` or `X.Write` the whole-resource scope `X`."""
    for suffix in (".Read", ".Write"):
        if required.endswith(suffix):
            return [required, required.removesuffix(suffix)]
    return [required]


def scope_satisfied(required: str, granted) -> bool:
    """Whether the `granted` scopes cover `required` (`scopes_satisfying`)."""
    return any(scope in granted for scope in scopes_satisfying(required))


def unknown_scopes(scopes) -> list[str]:
    return sorted(set(scopes) - CATALOGUE.keys())
