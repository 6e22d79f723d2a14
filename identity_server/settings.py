"""Settings, read from the environment in this one place.

Every variable is listed in README.md. Unsafe combinations for production are refused by
the system checks in identity_server/checks.py, which wsgi.py runs before serving.
"""

from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from identity_server.env import (
    email_settings,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

# The development key is refused outside DEBUG by checks.check_production_safety.
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
# Earlier keys, still accepted for sessions and still able to decrypt stored signing keys.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", LOOPBACK_HOSTS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# JSON under the API prefixes, Django's page elsewhere.
CSRF_FAILURE_VIEW = "identity_server.errors.csrf_failure"

# Public base URL of the identity service (the `iss` of the tokens it signs).
IDENTITY_ISSUER = env_str("IDENTITY_ISSUER", "http://127.0.0.1:8000/identity_").rstrip("/")

# Access tokens (SPEC §3): their `aud`, their lifetime, and where the signing key comes
# from. Without IDENTITY_SIGNING_KEY_FILE, keys are generated, stored encrypted with a key
# derived from SECRET_KEY, and rotated by `manage.py rotate_signing_key`.
IDENTITY_AUDIENCE = env_str("IDENTITY_AUDIENCE", "identity_server.api")
ACCESS_TOKEN_LIFETIME = 3600
IDENTITY_SIGNING_KEY_FILE = env_str("IDENTITY_SIGNING_KEY_FILE", "") or None
IDENTITY_SIGNING_KEY_PREVIOUS_FILES = env_list("IDENTITY_SIGNING_KEY_PREVIOUS_FILES", [])
# What every token we sign is signed with (access tokens, id_tokens, logout tokens): RS256
# (RSA 2048, what UiPath's clients expect) or ES256 (EC P-256, several times cheaper to sign).
# New keys follow it; keys of the other algorithm stay published until their tokens expire.
IDENTITY_SIGNING_ALGORITHM = env_choice("IDENTITY_SIGNING_ALGORITHM", ("RS256", "ES256"), "RS256")
# User sign-in (SPEC §8): refresh tokens slide IDENTITY_REFRESH_TOKEN_DAYS from their last
# use, never past IDENTITY_REFRESH_TOKEN_MAX_DAYS from the sign-in; the official `uipath`
# CLI's public client exists only when an operator enables it.
IDENTITY_REFRESH_TOKEN_DAYS = env_int("IDENTITY_REFRESH_TOKEN_DAYS", 30)
IDENTITY_REFRESH_TOKEN_MAX_DAYS = env_int("IDENTITY_REFRESH_TOKEN_MAX_DAYS", 90)
IDENTITY_UIPATH_CLI_CLIENT = env_bool("IDENTITY_UIPATH_CLI_CLIENT", False)

# Outbound fetches to identity providers (SPEC §5): `host:port` pairs of non-public
# providers that may be fetched, a PEM file of extra trusted CAs, and the one deadline of
# a discovery + JWKS fetch.
FEDERATION_OUTBOUND_ALLOWLIST = env_list("FEDERATION_OUTBOUND_ALLOWLIST", [])
FEDERATION_CA_BUNDLE = env_str("FEDERATION_CA_BUNDLE", "") or None
FEDERATION_FETCH_TIMEOUT_SECONDS = env_int("FEDERATION_FETCH_TIMEOUT_SECONDS", 5)
# Accept each federated token (its issuer and `jti`) once until it expires. Off by default:
# several providers' tokens are legitimately presented more than once while valid.
FEDERATION_ASSERTION_REPLAY_PROTECTION = env_bool("FEDERATION_ASSERTION_REPLAY_PROTECTION", False)
# Issuers whose tokens are GitHub Actions' or a Kubernetes cluster's (SPEC §11: which claims
# an expression may use), beyond those recognised by their address (federation.expressions).
FEDERATION_GITHUB_ISSUERS = env_list("FEDERATION_GITHUB_ISSUERS", [])
FEDERATION_KUBERNETES_ISSUERS = env_list("FEDERATION_KUBERNETES_ISSUERS", [])

# GET /metrics (SPEC §10, identity_server.operations): off unless one of these is set; with
# both, a scrape needs the token and an allowed address. The address is read as the audit
# log reads it (NUM_PROXIES).
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN", "")
METRICS_ALLOWED_ADDRESSES = env_networks("METRICS_ALLOWED_ADDRESSES")

# Search in a tenant (tenants.search): each result type and the dotted path of its source.
TENANT_SEARCH_SOURCES = {
    "machine": "machines.selectors.machine_search",
    "robot": "machines.selectors.robot_search",
    "external_app": "federation.selectors.external_app_search",
    "federated_credential": "federation.selectors.federated_credential_search",
}
# The admin site's page of each search result type: the dotted path of
# `url(*, organization, tenant, result) -> str | None` (None: the result is not a link).
TENANT_SEARCH_PAGES = {
    "machine": "machines.site_urls.search_result_url",
    "robot": "machines.site_urls.search_result_url",
    "external_app": "federation.site_urls.search_result_url",
    "federated_credential": "federation.site_urls.search_result_url",
}

# What each new tenant starts with beyond its row (tenants.services.tenant_create): dotted
# paths of `hook(*, tenant, actor)`, called in the tenant's transaction.
TENANT_CREATED_HOOKS = ["machines.credential_stores.credential_store_database_create"]
# Called before an administrator of an organization is demoted or removed; each may refuse
# with a ValidationError: the break-glass account of an identity provider stays an admin.
ADMIN_LEAVING_CHECKS = ["federation.services.break_glass_admin_leaving_check"]
# Robot credential stores (SPEC §12): `host:port` pairs that may be reached over plain
# HTTP or on a port other than 443 (machines.vaults), and the deadline of one vault call.
CREDENTIAL_STORE_OUTBOUND_ALLOWLIST = env_list("CREDENTIAL_STORE_OUTBOUND_ALLOWLIST", [])
CREDENTIAL_STORE_TIMEOUT_SECONDS = env_int("CREDENTIAL_STORE_TIMEOUT_SECONDS", 5)

# Mail (SPEC §9): invitations and password recovery (tenants.mail sends). EMAIL_URL names
# the SMTP server, `smtp://user:password@host:port`, `smtp+tls://…` (STARTTLS) or
# `smtps://…` (implicit TLS); unset, mails are printed to the console under DEBUG (`make
# run`) and otherwise dropped with a log line that leaves their links out, and a new member
# gets a generated password shown once instead of an invitation (EMAIL_CONFIGURED). A bad
# URL stops start-up here (identity_server.env.email_settings).
_email = email_settings(env_str("EMAIL_URL", ""), debug=DEBUG)
MAILERS = _email["MAILERS"]
EMAIL_CONFIGURED = _email["EMAIL_CONFIGURED"]
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Identity Server <identity@localhost>")
# Password reset links work once, for an hour; invitation links once, for a week.
PASSWORD_RESET_TIMEOUT = 3600
INVITATION_TIMEOUT = 7 * 24 * 3600

INSTALLED_APPS = [
    "identity_server.apps.SuperuserAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "identity_server",
    "tenants",
    "machines",
    "federation",
]

MIDDLEWARE = [
    # First: a token request leaves this chain for TOKEN_MIDDLEWARE (identity_server.token_routes).
    "identity_server.token_routes.TokenRouteMiddleware",
    # Every response carries X-Request-Id and every request gets its log line.
    "identity_server.requestlog.RequestLogMiddleware",
    # /healthz, /readyz and /metrics, answered before the host check and HTTPS redirects
    # (load balancers and scrapers call by address, over plain HTTP).
    "identity_server.operations.OperationsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The token routes' chain: what a token request needs of the one above, no more (the module
# says what is skipped and why).
TOKEN_MIDDLEWARE = [
    "identity_server.requestlog.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "identity_server.urls"
WSGI_APPLICATION = "identity_server.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.site",
            ],
        },
    },
]

# PostgreSQL in production, a SQLite file by default. Connections persist between
# requests: opening one per request costs a third of a small request's time.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A transaction takes SQLite's write lock when it begins, so that concurrent writers
    # wait their turn (the busy timeout) rather than fail "database is locked" when a
    # transaction that has read turns to writing.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis when REDIS_URL is set (shared by every process), else this process's memory.
# Short socket timeouts: a Redis that hangs must not hang requests (identity_server.shared_cache).
REDIS_URL = env_str("REDIS_URL", "")
SHARED_CACHE_TIMEOUT_SECONDS = env_int("SHARED_CACHE_TIMEOUT_MS", 500) / 1000
CACHES = {
    "default": (
        {
            "BACKEND": "identity_server.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "idsrv"),
            "OPTIONS": {
                "socket_connect_timeout": SHARED_CACHE_TIMEOUT_SECONDS,
                "socket_timeout": SHARED_CACHE_TIMEOUT_SECONDS,
            },
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# django-oauth-toolkit keeps the protocol; clients, client authentication and tokens are
# ours (identity_server.validators). Client credentials, and users' authorization code and
# refresh token grants (SPEC §8); the authorization endpoint is identity_server.authorize.
OAUTH2_PROVIDER_APPLICATION_MODEL = "identity_server.OAuthClient"
OAUTH2_PROVIDER = {
    "OAUTH2_SERVER_CLASS": "identity_server.oauth.Server",
    "OAUTH2_VALIDATOR_CLASS": "identity_server.validators.IdentityValidator",
    "OAUTH2_BACKEND_CLASS": "identity_server.oauth.OAuthLibCore",
    "ACCESS_TOKEN_GENERATOR": "identity_server.tokens.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "identity_server.tokens.refresh_token_generator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_LIFETIME,
    # RFC 9700 (OAuth 2.0 Security BCP) everywhere (implicit and password grants are not
    # served), so `check --deploy` stays quiet about DOT's legacy defaults.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# Rate limits at the token, introspection and revocation endpoints (identity_server.ratelimit):
# refused requests a window allows per client address and per (client ID, address).
TOKEN_FAILURES_PER_ADDRESS = env_int("TOKEN_FAILURES_PER_ADDRESS", 60)
TOKEN_FAILURES_PER_CLIENT_ADDRESS = env_int("TOKEN_FAILURES_PER_CLIENT_ADDRESS", 10)
TOKEN_FAILURE_WINDOW_SECONDS = env_int("TOKEN_FAILURE_WINDOW_SECONDS", 60)
# The windows of clients' token quotas: an hour and a day (tests shorten them).
TOKEN_QUOTA_HOUR_SECONDS = 3600
TOKEN_QUOTA_DAY_SECONDS = 86400

# Who checks a JWT client assertion (RFC 7523) for the validator: federated credentials.
CLIENT_ASSERTION_AUTHENTICATOR = "federation.assertions.client_assertion_authenticate"
# SPEC §9: what the sign-in page offers ("Sign in with {name}") and what a local password
# may do where an organization signs in through its own identity provider only.
SIGN_IN_PROVIDER_CHOICES = "federation.sign_in.provider_choices"
SIGN_IN_PASSWORD_POLICY = "federation.sign_in.password_policy"  # noqa: S105

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG

# Browser hardening; cookies are HTTPS-only outside DEBUG.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response: scripts, styles and everything else from this
# origin only, no inline script or style (the pages keep theirs in static/), no framing.
# `data:` images are Swagger UI's icons.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (see README).
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["identity_server.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # How many reverse proxies stand in front; the client address in the audit log is
    # taken from X-Forwarded-For only that deep.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "DEFAULT_SCHEMA_CLASS": "identity_server.openapi.ScopedAutoSchema",
}

# The OpenAPI schema (identity_server.openapi); Swagger UI's files come from the sidecar
# package through our own static files, not from a CDN.
SPECTACULAR_SETTINGS = {
    "TITLE": "Identity server API",
    "DESCRIPTION": "Organizations' external applications, federated credentials, machines "
    "and tenant resources; UiPath-compatible routes (SPEC §2).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # The request log (identity_server.requestlog): each line is the JSON object alone.
        "json_lines": {"class": "logging.StreamHandler", "formatter": "message"},
    },
    "loggers": {
        "identity_server.requests": {
            "handlers": ["json_lines"],
            "level": env_str("REQUEST_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # The vault clients' libraries log requests, bodies included (a robot's password
        # being written), at DEBUG: held at WARNING whatever LOG_LEVEL says.
        **{
            name: {"level": "WARNING"}
            for name in ("botocore", "boto3", "hvac", "azure", "msal", "urllib3")
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
