"""Settings for the MES, read from the environment with working localhost defaults.

Every knob a deployment needs is an environment variable; `.env.example` lists them.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_days(name: str, default: str) -> float:
    """Days of a retention setting: 0 (keep forever) when empty."""
    value = os.environ.get(name, default).strip()
    return float(value) if value else 0.0


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


DEBUG = env_bool("DJANGO_DEBUG", False)

# The secret key signs sessions, password-reset links and signed values. With DEBUG off the
# process refuses to start without a real one: a key anyone can read is no key.
SECRET_KEY_MIN_LENGTH = 50
DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-only-used-while-DJANGO_DEBUG-is-true"
PUBLIC_SECRET_KEYS = {
    DEVELOPMENT_SECRET_KEY,
    "insecure-development-key-change-me-in-production-0123456789",  # the key of old releases
}
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip()
if not DEBUG and (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or SECRET_KEY in PUBLIC_SECRET_KEYS
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is unset, public or shorter than "
        f"{SECRET_KEY_MIN_LENGTH} characters and DJANGO_DEBUG is false. Set it to a long random "
        "value, the same on every host and kept secret, e.g. "
        "DJANGO_SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\" "
        "(make run generates one into var/secret-key), or set DJANGO_DEBUG=true for development."
    )
if not SECRET_KEY:
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list(
    "DJANGO_CSRF_TRUSTED_ORIGINS", "http://localhost:8000,http://127.0.0.1:8000"
)
# Origins (scheme://host[:port]) whose pages may open websockets besides the socket's own
# origin (mes_site/origin.py); unset: the CSRF trusted origins.
WEBSOCKET_ALLOWED_ORIGINS = env_list(
    "DJANGO_WEBSOCKET_ALLOWED_ORIGINS", ",".join(CSRF_TRUSTED_ORIGINS)
)

# HTTPS, cookies and sessions (docs/deploy.md, "Production settings"). The defaults keep
# `make run` working on http://127.0.0.1; a production host behind TLS turns the rest on.
# HSTS is only ever sent on HTTPS responses, so it is on by default without DEBUG.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_SSL_HOST = os.environ.get("DJANGO_SECURE_SSL_HOST") or None
SECURE_REDIRECT_EXEMPT = env_list("DJANGO_SECURE_REDIRECT_EXEMPT", "")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# "HEADER,value", e.g. HTTP_X_FORWARDED_PROTO,https: only behind a proxy that always sets it.
_proxy_ssl_header = env_list("DJANGO_SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "DJANGO_SECURE_PROXY_SSL_HEADER must be HEADER,value, e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
SECURE_CONTENT_TYPE_NOSNIFF = env_bool("DJANGO_SECURE_CONTENT_TYPE_NOSNIFF", True)
SECURE_REFERRER_POLICY = os.environ.get("DJANGO_SECURE_REFERRER_POLICY") or "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = (
    os.environ.get("DJANGO_SECURE_CROSS_ORIGIN_OPENER_POLICY") or "same-origin"
)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
# Session timeouts (mes_site/session_timeout.py, docs/deploy.md "Sessions"): a logged-in
# session ends after SESSION_IDLE_TIMEOUT_S without activity (SESSION_HMI_IDLE_TIMEOUT_S while
# the user's last page is an operator HMI page) and SESSION_ABSOLUTE_TIMEOUT_S after the login,
# however active. Live updates the page fetches by itself are not activity.
SESSION_IDLE_TIMEOUT_S = env_int("SESSION_IDLE_TIMEOUT_S", 30 * 60)
SESSION_HMI_IDLE_TIMEOUT_S = env_int("SESSION_HMI_IDLE_TIMEOUT_S", 8 * 3600)
SESSION_ABSOLUTE_TIMEOUT_S = env_int("SESSION_ABSOLUTE_TIMEOUT_S", 12 * 3600)
SESSION_HMI_PATH_PREFIXES = env_list("SESSION_HMI_PATH_PREFIXES", "/hmi/")
# Last activity is written at most this often (one session write per minute, not per request).
SESSION_ACTIVITY_RESOLUTION_S = env_int("SESSION_ACTIVITY_RESOLUTION_S", 60)
if not 0 < SESSION_IDLE_TIMEOUT_S <= SESSION_ABSOLUTE_TIMEOUT_S or not (
    0 < SESSION_HMI_IDLE_TIMEOUT_S <= SESSION_ABSOLUTE_TIMEOUT_S
):
    raise ImproperlyConfigured(
        "SESSION_IDLE_TIMEOUT_S and SESSION_HMI_IDLE_TIMEOUT_S must be positive and at most "
        f"SESSION_ABSOLUTE_TIMEOUT_S ({SESSION_ABSOLUTE_TIMEOUT_S} s)."
    )
# The cookie and the stored session live as long as the absolute limit allows; the middleware
# ends idle ones sooner.
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_S
SESSION_SAVE_EVERY_REQUEST = False

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Ours, from the bottom layer up (docs/architecture.md); mes_site for its receivers.
    "mes_site",
    "integration",
    "autonomy",
    "production",
    "traceability",
    "inventory",
    "quality",
    "maintenance",
    "planning",
    "workers",
    "connectors",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one: every response, the API's early refusals included, gets the policy.
    "mes_site.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # A badge/PIN session: narrowed to its station's line, kept to that station's HMI.
    "live.station_session.StationSessionMiddleware",
    "mes_site.mfa.MfaRequiredMiddleware",
    "mes_site.middleware.ApiEdgeMiddleware",
    "mes_site.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "mes_site.session_timeout.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a lockout found while authenticating into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp; docs/security.md "Browser security"). No inline script,
# style or event handler anywhere: scripts and styles come from our static files only
# (tests/test_csp.py keeps it so). The websocket origin of the requested host is added to
# connect-src per request (mes_site/csp.py).
CSP_VIOLATION_REPORT_URI = os.environ.get("DJANGO_CSP_REPORT_URI", "/csp-report/").strip()
# Violation reports logged per minute at most (the rest are counted and dropped).
CSP_VIOLATION_REPORTS_PER_MINUTE = env_int("DJANGO_CSP_REPORTS_PER_MINUTE", 60)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the small SVG icons Swagger UI's stylesheet carries inline.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "upgrade-insecure-requests": SECURE_SSL_REDIRECT,
        "report-uri": [CSP_VIOLATION_REPORT_URI] if CSP_VIOLATION_REPORT_URI else None,
    },
}

ROOT_URLCONF = "mes_site.urls"
ASGI_APPLICATION = "mes_site.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# Database: PostgreSQL in production (DATABASE_URL); an embedded SQLite file when unset.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    # Several processes (web, worker, beat, bridge) write: wait for the lock, use WAL.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    # SQLite cannot enforce NULLS NOT DISTINCT; PostgreSQL (production) does.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_PASSWORD_VALIDATION = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_PASSWORD_VALIDATION}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_PASSWORD_VALIDATION}.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": f"{_PASSWORD_VALIDATION}.CommonPasswordValidator"},
    {"NAME": f"{_PASSWORD_VALIDATION}.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Django keeps, computes and serialises in UTC. The environment's TIME_ZONE is the plant's
# zone (PLANT_TIME_ZONE), used only at the edges: shift calendars and display.
TIME_ZONE = "UTC"
PLANT_TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(exist_ok=True)

# Authentication (docs/security.md "Authentication and sessions", docs/deploy.md).
# django-axes watches every password check (login page, admin, signature re-entry): after
# AUTH_LOCKOUT_FAILURES failures of one user name from one address, that pair is locked for
# AUTH_LOCKOUT_COOLOFF_S seconds, the right password included.
# The badge/PIN of the HMI station login (docs/live.md "Station login") is checked by the
# last backend, behind axes too (the badge is its user name: mes_site.lockout).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "production.auth_backends.StationPinBackend",
]
AXES_FAILURE_LIMIT = env_int("AUTH_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("AUTH_LOCKOUT_COOLOFF_S", 900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "mes_site.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "mes_site.lockout.client_ip"
AXES_USERNAME_CALLABLE = "mes_site.lockout.lockout_username"
AXES_SENSITIVE_PARAMETERS = ["username", "password", "token", "otp_token", "code", "pin"]
# Proxies in front of the web servers that append to X-Forwarded-For (0: use the peer address;
# never more than really exist, or clients choose their own address).
AUTH_TRUSTED_PROXY_COUNT = env_int("AUTH_TRUSTED_PROXY_COUNT", 0)
# Second factor (TOTP, django-otp): required for these roles ("admin" also means staff and
# superusers), optional for everyone else. Empty: nobody is asked (the local demo only).
MFA_REQUIRED_ROLES = env_list("MFA_REQUIRED_ROLES", "admin,supervisor,quality")
MFA_RECOVERY_CODE_COUNT = 10
OTP_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "Open MES")

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Services
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
# Timeouts of every direct Redis client (mes_site.redis): a lost Redis fails fast everywhere.
REDIS_SOCKET_TIMEOUT_S = float(os.environ.get("REDIS_SOCKET_TIMEOUT_S", "5"))
REDIS_CONNECT_TIMEOUT_S = float(os.environ.get("REDIS_CONNECT_TIMEOUT_S", "2"))
MQTT_URL = os.environ.get("MQTT_URL", "mqtt://localhost:1883")
MQTT_UNS_ROOT = os.environ.get("MQTT_UNS_ROOT", "")
# Credentials when MQTT_URL carries none, and TLS files for mqtts:// (docs/ingest.md).
MQTT_USERNAME = os.environ.get("MQTT_USERNAME") or None
MQTT_PASSWORD = os.environ.get("MQTT_PASSWORD") or None
MQTT_CA_FILE = os.environ.get("MQTT_CA_FILE") or None
MQTT_CERT_FILE = os.environ.get("MQTT_CERT_FILE") or None
MQTT_KEY_FILE = os.environ.get("MQTT_KEY_FILE") or None

CACHES = {
    "default": {
        # Django's Redis backend, keeping one client per pool instead of one per call.
        "BACKEND": "mes_site.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mes",
    }
}

# Redis connections of the channel layer per ASGI process: a handshake or broadcast that
# finds all in use waits up to CHANNEL_LAYER_POOL_TIMEOUT_S for one (docs/deploy.md
# "Channel layer sizing"), instead of closing the socket with 1011.
CHANNEL_LAYER_MAX_CONNECTIONS = int(os.environ.get("CHANNEL_LAYER_MAX_CONNECTIONS", "100"))
CHANNEL_LAYER_POOL_TIMEOUT_S = float(os.environ.get("CHANNEL_LAYER_POOL_TIMEOUT_S", "20"))
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "mes_site.channel_layer.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    # redis-py 8 closes idle sockets unless socket_timeout is None.
                    "socket_timeout": None,
                    "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    "timeout": CHANNEL_LAYER_POOL_TIMEOUT_S,
                }
            ]
        },
    }
}

# Celery
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "workers.tasks.ingest_*": {"queue": "ingest"},
    "production.tasks.schedule_*": {"queue": "scheduling"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE["oee-snapshots-maintain"] = {
    "task": "production.tasks.oee_snapshots_maintain",
    "schedule": 60.0,
}

# REST API
# Seconds an Idempotency-Key and its stored response live (docs/api.md "Retries and
# idempotency"); beat purges expired keys every hour.
IDEMPOTENCY_KEY_TTL_S = int(os.environ.get("IDEMPOTENCY_KEY_TTL_S", str(24 * 3600)))
CELERY_BEAT_SCHEDULE["idempotency-keys-purge"] = {
    "task": "traceability.tasks.idempotency_keys_purge",
    "schedule": 3600.0,
}

# Audit trail (docs/operations.md "Audit trail"): beat verifies the hash chain every
# AUDIT_VERIFY_INTERVAL_S and logs an ERROR when it is broken. AUDIT_RETENTION_DAYS is how long
# events stay in the database before an operator archives them (`audit_archive`); nothing is
# ever deleted automatically.
AUDIT_VERIFY_INTERVAL_S = float(os.environ.get("AUDIT_VERIFY_INTERVAL_S", "3600"))
AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", str(7 * 365)))
CELERY_BEAT_SCHEDULE["audit-chain-check"] = {
    "task": "traceability.tasks.audit_chain_check",
    "schedule": AUDIT_VERIFY_INTERVAL_S,
}
# API tokens (docs/api.md "Authentication"): hashed at rest, each with an expiry. A new token
# lives API_TOKEN_DEFAULT_TTL_DAYS unless its creator picks 1 to API_TOKEN_MAX_TTL_DAYS; after a
# rotation the old token keeps working API_TOKEN_ROTATION_GRACE_S so the client can switch.
API_TOKEN_DEFAULT_TTL_DAYS = env_int("API_TOKEN_DEFAULT_TTL_DAYS", 90)
API_TOKEN_MAX_TTL_DAYS = env_int("API_TOKEN_MAX_TTL_DAYS", 365)
API_TOKEN_ROTATION_GRACE_S = env_int("API_TOKEN_ROTATION_GRACE_S", 24 * 3600)
API_TOKEN_LAST_USED_RESOLUTION_S = env_int("API_TOKEN_LAST_USED_RESOLUTION_S", 60)
# The token authentication, also used by the websocket handshake (mes_site/auth_middleware.py).
API_TOKEN_AUTHENTICATION = "traceability.authentication.ApiTokenAuthentication"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        API_TOKEN_AUTHENTICATION,
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mes_site.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "mes_site.filters.FilterBackend",  # django-filter's, skipped when no filter is named
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    # JSON only, with size, depth and NUL checks (docs/api.md "Limits").
    "DEFAULT_PARSER_CLASSES": ["mes_site.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_PAGINATION_CLASS": "mes_site.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mes_site.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Request rates (docs/deploy.md "Authentication"); "auth" covers the endpoints that check
    # a password or hand out credentials (mes_site/throttles.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON_RATE", "60/minute"),
        "user": os.environ.get("API_THROTTLE_USER_RATE", "3000/minute"),
        "auth": os.environ.get("API_THROTTLE_AUTH_RATE", "20/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Open MES API",
    "DESCRIPTION": "REST API of the open-source MES: master data, work orders, telemetry, "
    "OEE, maintenance and scheduling. Errors use one format: {code, message, detail}.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No online validator badge: it would send the schema's URL to a third party.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mes_site.api.schema_document_idempotency_keys",
        "mes_site.openapi.schema_document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "WorkOrderStateEnum": "production.choices.WorkOrderState",
        "OperationStateEnum": "production.choices.OperationState",
        "WorkOrderSourceEnum": "production.choices.WorkOrderSource",
        "StateSourceEnum": "production.choices.StateSource",
        "PlannedDowntimeKindEnum": "production.choices.PlannedDowntimeKind",
        "CustomerOrderStateEnum": "planning.choices.CustomerOrderState",
        "AlertStateEnum": "production.choices.AlertState",
        "ActionKindEnum": "autonomy.choices.ActionKind",
        "CapaActionKindEnum": "quality.choices.CapaActionKind",
        "AutonomyModeEnum": "autonomy.choices.AutonomyMode",
        "ActionStatusEnum": "autonomy.choices.ActionStatus",
        "ScheduleRunStatusEnum": "planning.choices.ScheduleRunStatus",
        "MaintenanceStateEnum": "maintenance.choices.MaintenanceState",
        "MaintenanceKindEnum": "maintenance.choices.MaintenanceKind",
        "MaintenancePriorityEnum": "maintenance.choices.MaintenancePriority",
        "LotStatusEnum": "traceability.choices.LotStatus",
        "SerialStatusEnum": "traceability.choices.SerialStatus",
        "LotOriginEnum": "traceability.choices.LotOrigin",
        "ItemKindEnum": "inventory.choices.ItemKind",
        "MovementKindEnum": "inventory.choices.MovementKind",
        "InspectionSourceEnum": "quality.choices.InspectionSource",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Telemetry ingest (workers app; docs/ingest.md explains each knob).
MQTT_BRIDGE_CLIENT_ID = os.environ.get("MQTT_BRIDGE_CLIENT_ID", "mes-bridge")
MQTT_SESSION_EXPIRY_S = int(os.environ.get("MQTT_SESSION_EXPIRY_S", "86400"))
MQTT_RECEIVE_MAXIMUM = int(os.environ.get("MQTT_RECEIVE_MAXIMUM", "20000"))
MQTT_KEEPALIVE_S = int(os.environ.get("MQTT_KEEPALIVE_S", "30"))
SPARKPLUG_HOST_ID = os.environ.get("SPARKPLUG_HOST_ID", "mes")
SPARKPLUG_HOST_ENABLED = env_bool("SPARKPLUG_HOST_ENABLED", True)
# The Sparkplug groups the host owns (comma-separated). Empty: the groups the plant knows —
# those of the Sparkplug node mappings and <enterprise>_<site> of every site (the simulator's).
SPARKPLUG_GROUPS = [
    group.strip() for group in os.environ.get("SPARKPLUG_GROUPS", "").split(",") if group.strip()
]
SPARKPLUG_REORDER_TIMEOUT_S = float(os.environ.get("SPARKPLUG_REORDER_TIMEOUT_S", "2.0"))
# Data messages: the host checks order and metric keys, the ingest workers decode the metrics.
SPARKPLUG_DEFER_DATA_DECODING = os.environ.get("SPARKPLUG_DEFER_DATA_DECODING", "1") != "0"
INGEST_QUEUE = os.environ.get("INGEST_QUEUE", "ingest")
INGEST_BATCH_MAX_MESSAGES = int(os.environ.get("INGEST_BATCH_MAX_MESSAGES", "2000"))
INGEST_BATCH_MAX_WAIT_MS = int(os.environ.get("INGEST_BATCH_MAX_WAIT_MS", "100"))
INGEST_BATCH_MAX_BYTES = int(os.environ.get("INGEST_BATCH_MAX_BYTES", str(4 * 1024 * 1024)))
INGEST_MAX_PAYLOAD_BYTES = int(os.environ.get("INGEST_MAX_PAYLOAD_BYTES", str(256 * 1024)))
INGEST_RETENTION_DAYS = int(os.environ.get("INGEST_RETENTION_DAYS", "30"))
INGEST_ROLLUP_RETENTION_DAYS = int(os.environ.get("INGEST_ROLLUP_RETENTION_DAYS", "400"))
INGEST_PARTITIONS_AHEAD_DAYS = int(os.environ.get("INGEST_PARTITIONS_AHEAD_DAYS", "3"))
INGEST_MAX_FUTURE_S = float(os.environ.get("INGEST_MAX_FUTURE_S", "3600"))
INGEST_MAX_TEXT_LENGTH = int(os.environ.get("INGEST_MAX_TEXT_LENGTH", "1000"))
INGEST_SIGNAL_CACHE_TTL_S = float(os.environ.get("INGEST_SIGNAL_CACHE_TTL_S", "60"))
INGEST_DEAD_LETTER_KEEP_PAYLOADS = int(os.environ.get("INGEST_DEAD_LETTER_KEEP_PAYLOADS", "20"))
# Distinct (source, topic, reason) dead-letter groups kept; past it new topics are counted in
# one overflow group per source and reason (topic "#"). 0: no cap.
INGEST_DEAD_LETTER_MAX_GROUPS = int(os.environ.get("INGEST_DEAD_LETTER_MAX_GROUPS", "1000"))
INGEST_DEAD_LETTER_EXCERPT_BYTES = int(os.environ.get("INGEST_DEAD_LETTER_EXCERPT_BYTES", "512"))
INGEST_BATCH_LEDGER_RETENTION_S = int(os.environ.get("INGEST_BATCH_LEDGER_RETENTION_S", "86400"))
INGEST_ALERTS_DEBOUNCE_S = float(os.environ.get("INGEST_ALERTS_DEBOUNCE_S", "1.0"))
INGEST_HEALTH_REFRESH_DEBOUNCE_S = float(os.environ.get("INGEST_HEALTH_REFRESH_DEBOUNCE_S", "10"))
INGEST_SERIES_RAW_MAX_RANGE_S = float(os.environ.get("INGEST_SERIES_RAW_MAX_RANGE_S", "21600"))
INGEST_SERIES_RAW_MAX_POINTS = int(os.environ.get("INGEST_SERIES_RAW_MAX_POINTS", "200000"))
INGEST_REDIS_PREFIX = os.environ.get("INGEST_REDIS_PREFIX", "mes:ingest")
# Queue of the ingest's follow-up tasks (alerts, health refresh); unset: the task routes.
INGEST_FOLLOWUP_QUEUE = os.environ.get("INGEST_FOLLOWUP_QUEUE") or None
CELERY_ACCEPT_CONTENT = ["json", "msgpack"]
# How long a task taken by a worker that died stays invisible before Redis hands it out again
# (docs/deploy.md "Workers: retries and redelivery"). It must outlast the longest time a live
# worker holds a task unacknowledged: the longest hard time limit (telemetry_maintain, 900 s)
# plus the longest countdown a retry waits on the worker (300 s), plus a margin; a test
# checks this against every task's time limit.
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = int(
    os.environ.get("CELERY_VISIBILITY_TIMEOUT_S", "1260")
)
# A task a worker took off the queue but died before recording as unacknowledged is in neither
# place: published again once it is this old and no longer waiting (see mes_site/celery.py).
CELERY_REDELIVER_AFTER_S = float(os.environ.get("CELERY_REDELIVER_AFTER_S", "60"))
CELERY_BEAT_SCHEDULE["ingest-lost-tasks-redeliver"] = {
    "task": "workers.tasks.lost_ingest_tasks_redeliver",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["telemetry-maintain"] = {
    "task": "workers.tasks.telemetry_maintain",
    "schedule": 3600.0,
}

# Maintenance: health model, closed loop, procurement outbox (maintenance/conf.py has every
# MAINTENANCE_* knob with its default; docs/maintenance.md explains them).
MAINTENANCE_ANOMALY_ALPHA = float(os.environ.get("MAINTENANCE_ANOMALY_ALPHA", "0.6"))
MAINTENANCE_EPISODE_COOLDOWN_H = float(os.environ.get("MAINTENANCE_EPISODE_COOLDOWN_H", "24"))
MAINTENANCE_PROCUREMENT_STALE_H = float(os.environ.get("MAINTENANCE_PROCUREMENT_STALE_H", "24"))
CELERY_BEAT_SCHEDULE["maintenance-health-refresh"] = {
    "task": "maintenance.tasks.health_refresh_all",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["maintenance-preventive-plans"] = {
    "task": "maintenance.tasks.preventive_plans_check",
    "schedule": 900.0,
}
CELERY_BEAT_SCHEDULE["maintenance-procurement-housekeeping"] = {
    "task": "maintenance.tasks.procurement_housekeeping",
    "schedule": 3600.0,
}
# Corrective orders from stops, sensor drift (docs/maintenance.md, sections of those names).
MAINTENANCE_UNCLASSIFIED_STOP_S = float(os.environ.get("MAINTENANCE_UNCLASSIFIED_STOP_S", "600"))
CELERY_BEAT_SCHEDULE["maintenance-corrective-orders"] = {
    "task": "maintenance.tasks.corrective_orders_open",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["maintenance-sensor-drift"] = {
    "task": "maintenance.tasks.sensor_drift_check_all",
    "schedule": 60.0,
}

# Scheduling and dispatch (docs/scheduling.md explains each knob).
SCHEDULING_DEBOUNCE_S = float(os.environ.get("SCHEDULING_DEBOUNCE_S", "3"))
SCHEDULING_RUN_TIMEOUT_S = float(os.environ.get("SCHEDULING_RUN_TIMEOUT_S", "600"))
SCHEDULING_BUSY_RETRY_S = float(os.environ.get("SCHEDULING_BUSY_RETRY_S", "5"))
SCHEDULING_CHECK_INTERVAL_S = float(os.environ.get("SCHEDULING_CHECK_INTERVAL_S", "60"))
SCHEDULING_REPLAN_INTERVAL_S = float(os.environ.get("SCHEDULING_REPLAN_INTERVAL_S", "1800"))
SCHEDULING_ANOMALY_THRESHOLD = float(os.environ.get("SCHEDULING_ANOMALY_THRESHOLD", "0.6"))
SCHEDULING_HEALTH_MAX_AGE_H = float(os.environ.get("SCHEDULING_HEALTH_MAX_AGE_H", "168"))
SCHEDULING_IMPROVEMENT_ITERATIONS = int(os.environ.get("SCHEDULING_IMPROVEMENT_ITERATIONS", "300"))
SCHEDULING_IMPROVEMENT_BUDGET_S = float(os.environ.get("SCHEDULING_IMPROVEMENT_BUDGET_S", "0.5"))
SCHEDULING_IMPROVEMENT_OBJECTIVE = os.environ.get(
    "SCHEDULING_IMPROVEMENT_OBJECTIVE", "max_lateness"
)
SCHEDULING_REROUTE_MIN_GAIN = float(os.environ.get("SCHEDULING_REROUTE_MIN_GAIN", "0.1"))
# Plan stability (docs/scheduling.md): no move back within the damping time unless a machine's
# state or health class changed; the health classes; the least δ the health penalty counts.
SCHEDULING_DAMPING_S = float(os.environ.get("SCHEDULING_DAMPING_S", "1800"))
SCHEDULING_DEGRADING_ALPHA = float(os.environ.get("SCHEDULING_DEGRADING_ALPHA", "0.4"))
SCHEDULING_HEALTH_PENALTY_FLOOR_PER_H = float(
    os.environ.get("SCHEDULING_HEALTH_PENALTY_FLOOR_PER_H", "1.0")
)
# What-if forecasts: a machine at α runs (1 + slowdown·α) slower; energy per working machine.
SCHEDULING_WHATIF_HEALTH_SLOWDOWN = float(
    os.environ.get("SCHEDULING_WHATIF_HEALTH_SLOWDOWN", "0.2")
)
SCHEDULING_WHATIF_MACHINE_POWER_KW = float(
    os.environ.get("SCHEDULING_WHATIF_MACHINE_POWER_KW", "10")
)
SCHEDULING_RETIME_TOLERANCE_S = float(os.environ.get("SCHEDULING_RETIME_TOLERANCE_S", "300"))
SCHEDULING_RUNS_KEPT_PER_SITE = int(os.environ.get("SCHEDULING_RUNS_KEPT_PER_SITE", "100"))
SCHEDULING_DISPATCH_BATCH_TIME_LIMIT_S = float(
    os.environ.get("SCHEDULING_DISPATCH_BATCH_TIME_LIMIT_S", "1.0")
)
SCHEDULING_FINISHED_GOODS_LOCATION = os.environ.get(
    "SCHEDULING_FINISHED_GOODS_LOCATION", "FG-STORE"
)
# Two fields named "trigger" (schedule runs, preventive plans) need their enums named.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["ScheduleTriggerEnum"] = (
    "planning.choices.ScheduleTrigger"
)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].setdefault(
    "PlanTriggerEnum", "maintenance.choices.PlanTrigger"
)
CELERY_TASK_ROUTES["planning.tasks.schedule_*"] = {"queue": "scheduling"}
CELERY_BEAT_SCHEDULE["scheduling-maintain"] = {
    "task": "planning.tasks.schedule_runs_maintain",
    "schedule": SCHEDULING_CHECK_INTERVAL_S,
}
CELERY_BEAT_SCHEDULE["dispatch-backlog-retry"] = {
    "task": "planning.tasks.dispatch_backlog_retry",
    "schedule": 60.0,
}

# Retention (docs/deploy.md "Retention"): days kept, 0 or empty = forever. Beat deletes in
# batches of RETENTION_BATCH_SIZE rows, each its own short transaction. The audit trail is
# never deleted here.
RETENTION_DEAD_LETTERS_DAYS = env_days("RETENTION_DEAD_LETTERS_DAYS", "30")
RETENTION_STATE_EVENTS_DAYS = env_days("RETENTION_STATE_EVENTS_DAYS", "400")
RETENTION_ALERTS_DAYS = env_days("RETENTION_ALERTS_DAYS", "400")
RETENTION_OEE_HOURLY_DAYS = env_days("RETENTION_OEE_HOURLY_DAYS", "90")
RETENTION_BATCH_SIZE = int(os.environ.get("RETENTION_BATCH_SIZE", "5000"))
CELERY_BEAT_SCHEDULE["dead-letters-retention"] = {
    "task": "workers.tasks.dead_letters_retention_apply",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["monitoring-retention"] = {
    "task": "production.tasks.monitoring_retention_apply",
    "schedule": 3600.0,
}
# Webhooks to the ERP (integration/, docs/api.md "Webhooks"). The sender claims due deliveries
# for WEBHOOK_CLAIM_S (a sender that dies leaves them to others after that), POSTs with the
# timeouts below, and retries with exponential backoff and full jitter (base doubling per
# attempt up to the cap) until WEBHOOK_RETRY_WINDOW_S after the event; then the delivery is
# parked (the admin can replay it).
WEBHOOK_QUEUE = os.environ.get("WEBHOOK_QUEUE", "default")
WEBHOOK_REDIS_PREFIX = os.environ.get("WEBHOOK_REDIS_PREFIX", "mes-webhooks")
WEBHOOK_CONNECT_TIMEOUT_S = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT_S", "3"))
WEBHOOK_TIMEOUT_S = float(os.environ.get("WEBHOOK_TIMEOUT_S", "10"))
WEBHOOK_CLAIM_S = float(os.environ.get("WEBHOOK_CLAIM_S", "60"))
WEBHOOK_RETRY_BASE_DELAY_S = float(os.environ.get("WEBHOOK_RETRY_BASE_DELAY_S", "5"))
WEBHOOK_RETRY_MAX_DELAY_S = float(os.environ.get("WEBHOOK_RETRY_MAX_DELAY_S", "3600"))
WEBHOOK_RETRY_WINDOW_S = float(os.environ.get("WEBHOOK_RETRY_WINDOW_S", str(24 * 3600)))
WEBHOOK_SEND_BATCH = env_int("WEBHOOK_SEND_BATCH", 100)
WEBHOOK_RECORD_BATCH = env_int("WEBHOOK_RECORD_BATCH", 20)
WEBHOOK_SEND_BUDGET_S = float(os.environ.get("WEBHOOK_SEND_BUDGET_S", "60"))
WEBHOOK_KICK_TTL_S = env_int("WEBHOOK_KICK_TTL_S", 60)
WEBHOOK_SWEEP_INTERVAL_S = float(os.environ.get("WEBHOOK_SWEEP_INTERVAL_S", "10"))
WEBHOOK_RETENTION_S = float(os.environ.get("WEBHOOK_RETENTION_S", str(30 * 24 * 3600)))
CELERY_BEAT_SCHEDULE["webhook-deliveries-sweep"] = {
    "task": "integration.tasks.deliveries_sweep",
    "schedule": WEBHOOK_SWEEP_INTERVAL_S,
}
CELERY_BEAT_SCHEDULE["webhook-outbox-purge"] = {
    "task": "integration.tasks.outbox_events_purge",
    "schedule": 24 * 3600.0,
}
# Prometheus metrics (docs/observability.md). GET /metrics answers only a scraper that sends
# "Authorization: Bearer <METRICS_BEARER_TOKEN>"; unset (the default), the route is 404.
# Multiprocess mode: set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped before the
# processes start) in the environment of the web server, the bridge and the workers alike.
METRICS_BEARER_TOKEN = os.environ.get("METRICS_BEARER_TOKEN", "")
# The Celery queues whose depth /metrics reports; empty: ingest, default, scheduling and the
# webhook / follow-up queues.
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", "")
