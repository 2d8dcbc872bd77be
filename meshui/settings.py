"""meshui settings: one module, driven by the environment, with safe defaults.

Every knob is an environment variable read through the small typed helpers below
(the pattern of healthchecks' hc/settings.py). Nothing secret lives in the repository.
"""

import contextlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from policies.ownership import DEFAULT_RECONCILER_MANAGERS
from policies.traffic_queries import window_seconds_parse

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("MESHUI_DEBUG", False)
# This key is public (it is right here), so it only does for meshui on this machine alone;
# see "Served to others" below for where meshui refuses to start with it.
BUILT_IN_SECRET_KEY = "meshui-insecure-local-development-key-change-me"  # noqa: S105 (public)
SECRET_KEY = env_str("MESHUI_SECRET_KEY") or BUILT_IN_SECRET_KEY
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
ALLOWED_HOSTS = env_list("MESHUI_ALLOWED_HOSTS", ",".join(LOOPBACK_HOSTS))
CSRF_TRUSTED_ORIGINS = env_list("MESHUI_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "policies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After messages (the login page says why a session ended) and htmx (HX-Redirect).
    "policies.middleware.SessionLimitsMiddleware",
    "policies.middleware.PasswordChangeRequiredMiddleware",
    "policies.middleware.NoStoreForLoggedInMiddleware",
    # Before axes, so its 400 page passes through CSP and frame headers.
    "policies.bad_requests.NulByteRefusalMiddleware",
    # Which cluster of the fleet the request shows (?cluster=, kept in the session).
    "policies.middleware_fleet.ClusterScopeMiddleware",
    # Last, as axes asks: it turns a login refused for lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "meshui.urls"
WSGI_APPLICATION = "meshui.wsgi.application"

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
                "policies.context_processors.meshui",
            ],
            "builtins": ["django_htmx.templatetags.django_htmx"],
        },
    }
]

# SQLite is the embedded default; production points DATABASE_URL at PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'meshui.sqlite3'}"),
        conn_max_age=env_int("MESHUI_DB_CONN_MAX_AGE", 60),
    )
}
# Parallel test runs on one PostgreSQL server each name their own test database.
if env_str("MESHUI_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env_str("MESHUI_TEST_DB_NAME")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Celery workers write beside the web server, each on its own connection. SQLite's
    # default (deferred) transaction takes the write lock only at its first write and then
    # fails at once if another connection holds it; IMMEDIATE takes the lock when the
    # transaction begins, so a busy database is waited for (up to `timeout` seconds).
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    # Django's SQLite test database is in memory with a shared cache, whose locks are per
    # table and never waited for: a worker thread's write then fails with "database table
    # is locked". A file (one per test process, in the temporary directory, removed after
    # the run) locks as above.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(Path(tempfile.gettempdir()) / f"meshui-test-{os.getpid()}.sqlite3")
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "policies:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("MESHUI_STATIC_ROOT", str(BASE_DIR / "var" / "static")))
# collectstatic fills STATIC_ROOT in images; a checkout serves straight from the finders, and
# WhiteNoise warns on every start when the directory is missing, so make it (if we may).
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("MESHUI_MANIFEST_STATIC", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# WhiteNoise serves meshui's own assets from the app process: no CDN, no separate web server,
# so the same image works in an air-gapped cluster.
WHITENOISE_USE_FINDERS = True

# --- Security -------------------------------------------------------------------------------
# Served over HTTPS (the production default): secure cookies, HSTS, redirect to HTTPS.
MESHUI_HTTPS = env_bool("MESHUI_HTTPS", False)
SESSION_COOKIE_SECURE = MESHUI_HTTPS
CSRF_COOKIE_SECURE = MESHUI_HTTPS
SECURE_SSL_REDIRECT = MESHUI_HTTPS and env_bool("MESHUI_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("MESHUI_HSTS_SECONDS", 31536000) if MESHUI_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = MESHUI_HTTPS
SECURE_HSTS_PRELOAD = MESHUI_HTTPS
MESHUI_BEHIND_PROXY = env_bool("MESHUI_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if MESHUI_BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie: the token travels in <body hx-headers>.
X_FRAME_OPTIONS = "DENY"

# Served to others: over HTTPS, or answering to a host name beyond this machine's loopback
# names. Anyone holding the key can forge what Django signs, so the public built-in key stops
# the start (a web worker, a Celery worker, manage.py) instead of a warning in `check --deploy`.
# The embedded default (`make run`, tests) and MESHUI_DEBUG=1 are for one person's machine.
MESHUI_SERVED_TO_OTHERS = MESHUI_HTTPS or any(host not in LOOPBACK_HOSTS for host in ALLOWED_HOSTS)
if SECRET_KEY == BUILT_IN_SECRET_KEY and MESHUI_SERVED_TO_OTHERS and not DEBUG:
    served_how = (
        "MESHUI_HTTPS=1" if MESHUI_HTTPS else "MESHUI_ALLOWED_HOSTS=" + ",".join(ALLOWED_HOSTS)
    )
    raise ImproperlyConfigured(
        f"MESHUI_SECRET_KEY is not set, and meshui will not serve others ({served_how}) with its "
        "public built-in key: set MESHUI_SECRET_KEY to a long random string, e.g. "
        "`openssl rand -hex 32`."
    )

# Only meshui's own scripts and styles; no inline script, no third-party origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Refused attempts (403s) the audit log records per user and minute; past it one summary
# entry, then none until the minute has passed, so a script cannot flood the log. 0: no limit.
MESHUI_AUDIT_DENIED_PER_MINUTE = env_int("MESHUI_AUDIT_DENIED_PER_MINUTE", 30)

# --- Logins ---------------------------------------------------------------------------------
# Local accounts are the default. Set MESHUI_OIDC_ENABLED=1 and the OIDC_* variables to
# delegate login to an OpenID Connect provider; MESHUI_OIDC_ROLE_CLAIM maps a claim to a role.
MESHUI_OIDC_ENABLED = env_bool("MESHUI_OIDC_ENABLED", False)
# The throttle comes first: it refuses a locked-out login before any backend checks it.
AUTHENTICATION_BACKENDS = [
    "policies.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
if MESHUI_OIDC_ENABLED:
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.insert(1, "policies.oidc.RoleMappingOIDCBackend")
    OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
    OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
    OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
MESHUI_OIDC_ROLE_CLAIM = env_str("MESHUI_OIDC_ROLE_CLAIM", "groups")
# "claim value=role" pairs, e.g. "mesh-admins=admin,sre=oncall,audit=auditor".
MESHUI_OIDC_ROLE_MAP = dict(
    pair.split("=", 1) for pair in env_list("MESHUI_OIDC_ROLE_MAP") if "=" in pair
)

# A login ends after MESHUI_SESSION_IDLE_MINUTES without a request, and MESHUI_SESSION_MAX_HOURS
# after it began however busy (policies/middleware.py); the cookie lasts no longer either.
MESHUI_SESSION_IDLE_MINUTES = env_int("MESHUI_SESSION_IDLE_MINUTES", 30)
MESHUI_SESSION_MAX_HOURS = env_int("MESHUI_SESSION_MAX_HOURS", 12)
SESSION_COOKIE_AGE = MESHUI_SESSION_MAX_HOURS * 3600

# Failed logins (django-axes, policies/login_throttle.py): after MESHUI_LOGIN_FAILURE_LIMIT
# failures for one username or from one address, logins there wait MESHUI_LOGIN_COOLOFF_MINUTES
# (0: until an admin runs `manage.py axes_reset_username NAME` or `axes_reset_ip ADDRESS`).
MESHUI_LOGIN_FAILURE_LIMIT = env_int("MESHUI_LOGIN_FAILURE_LIMIT", 5)
MESHUI_LOGIN_COOLOFF_MINUTES = env_int("MESHUI_LOGIN_COOLOFF_MINUTES", 15)
AXES_FAILURE_LIMIT = MESHUI_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = (
    timedelta(minutes=MESHUI_LOGIN_COOLOFF_MINUTES) if MESHUI_LOGIN_COOLOFF_MINUTES > 0 else None
)
AXES_LOCKOUT_PARAMETERS = "policies.login_throttle.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "policies.login_throttle.client_address"
AXES_LOCKOUT_CALLABLE = "policies.login_throttle.lockout_response"
# A success leaves the counts alone: otherwise one working account would let its holder
# reset their address's count between guesses at everyone else's.
AXES_RESET_ON_SUCCESS = False
# axes would log its version on every manage.py command; failures are still logged.
AXES_VERBOSE = False

# --- The cluster ----------------------------------------------------------------------------
MESHUI_KUBECONFIG = env_str("MESHUI_KUBECONFIG")
MESHUI_KUBE_CONTEXT = env_str("MESHUI_KUBE_CONTEXT")


# Where an admin registering a cluster may point meshui for a kubeconfig, token or CA file
# (README, Registering clusters): paths outside these directories, symlinks resolved, are
# refused, so no one can make meshui send its own service-account token to a server they
# control. Default: var/clusters, the mount deploy/meshui.yaml makes for the Secret
# meshui-clusters, and the directories of MESHUI_KUBECONFIG.
def cluster_credential_dirs_default(kubeconfig: str) -> list[str]:
    return [
        str(BASE_DIR / "var" / "clusters"),
        "/var/run/secrets/meshui/clusters",
        *dict.fromkeys(
            str(Path(path).parent) for path in kubeconfig.split(os.pathsep) if path.strip()
        ),
    ]


MESHUI_CLUSTER_CREDENTIAL_DIRS = env_list(
    "MESHUI_CLUSTER_CREDENTIAL_DIRS", ",".join(cluster_credential_dirs_default(MESHUI_KUBECONFIG))
)
MESHUI_ROOT_NAMESPACE = env_str("MESHUI_ROOT_NAMESPACE", "istio-system")
# `posture --manifests` refuses files larger than this (bytes).
MESHUI_MANIFEST_MAX_BYTES = env_int("MESHUI_MANIFEST_MAX_BYTES", 50 * 1024 * 1024)
# Outside every on-call scope unless an admin names them in one (README, On-call scopes); the
# root namespace is always one of them.
MESHUI_SYSTEM_NAMESPACES = env_list(
    "MESHUI_SYSTEM_NAMESPACES", "kube-system,kube-public,kube-node-lease,istio-system"
)
MESHUI_CLUSTER_NAME = env_str("MESHUI_CLUSTER_NAME")
MESHUI_KUBE_TIMEOUT_SECONDS = env_int("MESHUI_KUBE_TIMEOUT_SECONDS", 30)
MESHUI_KUBE_PAGE_SIZE = env_int("MESHUI_KUBE_PAGE_SIZE", 500)
MESHUI_SYNC_INTERVAL = env_int("MESHUI_SYNC_INTERVAL", 60)
# A sync first watches each kind from its last list for at most this long (seconds): nothing
# new means "no change" without listing everything again (README, keeping in sync); 0 = always
# list. kube-apiserver sends its bookmark 2 s before a watch's timeout, so keep it above 2.
MESHUI_SYNC_WATCH_SECONDS = env_int("MESHUI_SYNC_WATCH_SECONDS", 3)
# How often due timed namespace-mode restores are looked for (seconds): beat's sweep with
# Redis, serve's thread without. A restore pending this long past its time is "overdue".
MESHUI_RESTORE_SWEEP_INTERVAL = env_int("MESHUI_RESTORE_SWEEP_INTERVAL", 30)
MESHUI_SNAPSHOT_RETENTION_DAYS = env_int("MESHUI_SNAPSHOT_RETENTION_DAYS", 90)
# The compare page keeps what changed between the pairs of snapshots it compared (about 11 MB
# a pair at 10,000 namespaces when two thirds of the workloads changed): the newest this many.
MESHUI_COMPARISONS_KEPT = env_int("MESHUI_COMPARISONS_KEPT", 20)
MESHUI_DEMO_CLUSTER = env_bool("MESHUI_DEMO_CLUSTER", False)
# With the demo cluster, start a second one and register it: a demo fleet (`make run` sets it).
MESHUI_DEMO_FLEET = env_bool("MESHUI_DEMO_FLEET", False)
# A sync is cut short after the soft limit (recorded as failed) and killed at the hard one.
MESHUI_SYNC_SOFT_TIME_LIMIT = env_int("MESHUI_SYNC_SOFT_TIME_LIMIT", 240)
MESHUI_SYNC_TIME_LIMIT = env_int("MESHUI_SYNC_TIME_LIMIT", 300)
MESHUI_SYNC_MAX_RETRIES = env_int("MESHUI_SYNC_MAX_RETRIES", 3)
# Field managers whose changes come back by themselves (GitOps controllers, Helm, Terraform):
# on-call is told before the toggle form that a change to a policy they manage would be
# reverted, and may not take its mode over (policies/ownership.py lists the defaults and why).
MESHUI_RECONCILER_MANAGERS = env_list(
    "MESHUI_RECONCILER_MANAGERS", ",".join(DEFAULT_RECONCILER_MANAGERS)
)
# Let on-call apply over a reconciler's policy anyway, only as a timed emergency change.
MESHUI_ONCALL_EMERGENCY_OVER_RECONCILER = env_bool("MESHUI_ONCALL_EMERGENCY_OVER_RECONCILER", False)
# Keys meshui keeps in Redis (the sync lock) start with this; one Redis can serve two meshuis.
MESHUI_REDIS_KEY_PREFIX = env_str("MESHUI_REDIS_KEY_PREFIX", "meshui:")

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without Redis, tasks run in-process (the embedded default); with it, a real worker runs them.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 5}
CELERY_BEAT_SCHEDULE = {
    "sync-cluster": {
        "task": "policies.sync_cluster",
        "schedule": float(MESHUI_SYNC_INTERVAL),
        "options": {"expires": float(MESHUI_SYNC_INTERVAL)},
    },
    # One sync task per registered cluster of the fleet, each when its own interval is due
    # (policies.selectors.fleet.FLEET_SCHEDULE_SECONDS).
    "sync-fleet": {
        "task": "policies.sync_fleet",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    # Timed namespace-mode restores are queued with an eta; this sweep catches any the broker
    # lost or that fell due while the worker was down. (Without Redis, serve sweeps itself.)
    "restore-namespace-modes": {
        "task": "policies.restore_namespace_mode",
        "schedule": float(MESHUI_RESTORE_SWEEP_INTERVAL),
        "options": {"expires": float(MESHUI_RESTORE_SWEEP_INTERVAL)},
    },
}

# --- Metrics --------------------------------------------------------------------------------
MESHUI_METRICS_TOKEN = env_str("MESHUI_METRICS_TOKEN")
MESHUI_METRICS_NETWORKS = env_list("MESHUI_METRICS_NETWORKS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("MESHUI_LOG_LEVEL", "INFO")},
    "loggers": {
        "kubernetes": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # axes logs every login and clean-up at INFO; failures and lockouts are WARNINGs.
        "axes": {"level": "WARNING"},
    },
}

# --- Traffic from Prometheus (issue 14) ----------------------------------------------------
# Off unless MESHUI_PROMETHEUS_URL points at the Prometheus that scrapes Istio's proxies.
MESHUI_PROMETHEUS_URL = env_str("MESHUI_PROMETHEUS_URL")
MESHUI_PROMETHEUS_BEARER_TOKEN = env_str("MESHUI_PROMETHEUS_BEARER_TOKEN")
MESHUI_PROMETHEUS_USERNAME = env_str("MESHUI_PROMETHEUS_USERNAME")
MESHUI_PROMETHEUS_PASSWORD = env_str("MESHUI_PROMETHEUS_PASSWORD")
MESHUI_PROMETHEUS_CA_FILE = env_str("MESHUI_PROMETHEUS_CA_FILE")
MESHUI_PROMETHEUS_TIMEOUT_SECONDS = env_int("MESHUI_PROMETHEUS_TIMEOUT_SECONDS", 30)
# A preview's own fresh query waits at most this long, then uses the stored read.
MESHUI_PROMETHEUS_PREVIEW_TIMEOUT_SECONDS = env_int("MESHUI_PROMETHEUS_PREVIEW_TIMEOUT_SECONDS", 2)
MESHUI_PROMETHEUS_MAX_MB = env_int("MESHUI_PROMETHEUS_MAX_MB", 256)
# Seconds between traffic reads, and the window each read looks back over (a duration such
# as 7d, 36h or 90m).
MESHUI_TRAFFIC_INTERVAL = env_int("MESHUI_TRAFFIC_INTERVAL", 600)
try:
    MESHUI_TRAFFIC_WINDOW_SECONDS = window_seconds_parse(env_str("MESHUI_TRAFFIC_WINDOW", "7d"))
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from error
if MESHUI_PROMETHEUS_URL:
    CELERY_BEAT_SCHEDULE["read-traffic"] = {
        "task": "policies.traffic_read",
        "schedule": float(MESHUI_TRAFFIC_INTERVAL),
        "options": {"expires": float(MESHUI_TRAFFIC_INTERVAL)},
    }
