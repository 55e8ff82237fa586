"""The one settings module. Everything comes from the environment (or a `.env` file).

Production-safe by default: DEBUG is off unless set, SECRET_KEY has no default outside
DEBUG, cookies are secure when HTTPS is on.
"""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` beside manage.py fills in what the real environment does not set.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set in the environment (or .env) when DEBUG is off.")


SECRET_KEY = _secret("SECRET_KEY", "dev-only-insecure-secret-key-change-me-0123456789abcdef")
# rotation: the previous key(s) here keep sessions and reset links valid until they expire (docs/operations.md)
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "accounts",
    "keys",
    "trading",
    "risk",
    "notifications",
    "ops",
]

MIDDLEWARE = [
    "config.errors.OutageMiddleware",  # PostgreSQL or Redis unreachable: 503 + Retry-After, not a 500
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",  # Content-Security-Policy, Permissions-Policy
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.PasswordChangeRequiredMiddleware",  # the first-run account sets its own password first
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context.platform",
                "risk.context.kill_switch",
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default="postgres://platform@127.0.0.1:55432/platform"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
# A pool of PostgreSQL connections per process (psycopg_pool), for the web: under ASGI each request runs in a
# thread of its own, so without it every request opened a new connection (a backend fork on the server).
# config/asgi.py turns it on for uvicorn's processes; Celery workers (forked) and tests keep plain connections.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool and persistent connections exclude each other
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": min(2, DB_POOL_MAX_SIZE), "max_size": DB_POOL_MAX_SIZE,
                                               "timeout": env.float("DB_POOL_TIMEOUT", default=3.0)}
# HTTP under the ASGI server (config/asgi_http.py): request threads per web process, and which handler runs
# them: "threads" (Django's WSGI handler, one thread hop per request) or "django-asgi" (Django's own ASGI
# handler, several hops per request; kept for comparisons: bench/api_cpu.py --handler).
WEB_THREADS = env.int("WEB_THREADS", default=4)
WEB_HTTP_HANDLER = env.str("WEB_HTTP_HANDLER", default="threads")
if WEB_HTTP_HANDLER not in {"threads", "django-asgi"}:
    raise ImproperlyConfigured("WEB_HTTP_HANDLER must be threads or django-asgi.")
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:56379/0")
# Under pytest-xdist (`make test` runs the suite in parallel) each test worker gets a Redis database and a
# channel prefix of its own: tests flush their database between tests, and pub/sub spans databases. The
# processes a test starts inherit the variable and so land on the same database.
_TEST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _TEST_WORKER.startswith("gw"):
    REDIS_URL = f"{REDIS_URL.rsplit('/', 1)[0]}/{2 + int(_TEST_WORKER[2:])}"

CACHES = {
    "default": {
        "BACKEND": "config.cache.RedisCache",  # one redis client per process (config/cache.py)
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tp"),
        # one pool per process, not one per request (config/cache.py)
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2, "pool_class": "config.cache.SharedConnectionPool"},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_PREFIX", default="tp") + _TEST_WORKER},
    }
}

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "accounts.hashers.PlatformArgon2PasswordHasher",  # argon2 on one core (accounts/hashers.py)
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# uvicorn does not serve static files; in development the ASGI app does, behind nginx it's nginx.
SERVE_STATIC = env.bool("SERVE_STATIC", default=DEBUG)

# --- HTTPS and cookies -------------------------------------------------------------
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^api/health/"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = env.str("CONTENT_SECURITY_POLICY", default="; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:", "font-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'self'",
    "form-action 'self'", "frame-ancestors 'none'",
]))
PERMISSIONS_POLICY = env.str("PERMISSIONS_POLICY",
                             default="camera=(), microphone=(), geolocation=(), payment=(), usb=()")

# Proxies whose X-Forwarded-For is believed (config/proxy.py): addresses/networks, "unix" for a unix-socket peer.
# Empty by default (make run: nobody); production: "unix" (nginx on the web socket).
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=[])

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

# --- API -------------------------------------------------------------------------
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)  # deeper JSON bodies get 400
# bodies above this get 413 under /api/ (Django's own default size, 2.5 MB)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.PlatformJWTAuthentication",  # + token version and logout denylist
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",  # + DELETE bodies where declared
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_RATES": {
        "auth_ip": env.str("THROTTLE_AUTH_IP", default="20/min"),
        "auth_username": env.str("THROTTLE_AUTH_USERNAME", default="5/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    # every API view without its own throttles: the per-user request quota (risk/throttles.py, risk/quotas.py)
    "DEFAULT_THROTTLE_CLASSES": ["risk.throttles.UserRequestThrottle"],
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

# Sign-in brakes (accounts/login.py): failures per IP and per (username, IP) refuse; per username only slow.
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_MAX_FAILURES_PER_IP = env.int("LOGIN_MAX_FAILURES_PER_IP", default=30)
LOGIN_MAX_FAILURES_PER_CLIENT = env.int("LOGIN_MAX_FAILURES_PER_CLIENT", default=5)
LOGIN_SLOW_AFTER_FAILURES = env.int("LOGIN_SLOW_AFTER_FAILURES", default=10)
LOGIN_SLOW_MAX_SECONDS = env.float("LOGIN_SLOW_MAX_SECONDS", default=2.0)
LOGIN_NOTIFY_AFTER_FAILURES = env.int("LOGIN_NOTIFY_AFTER_FAILURES", default=10)

# With two-factor codes on, a correct password yields a challenge this long-lived, good for this many codes.
TOTP_CHALLENGE_SECONDS = env.int("TOTP_CHALLENGE_SECONDS", default=300)
TOTP_CHALLENGE_MAX_TRIES = env.int("TOTP_CHALLENGE_MAX_TRIES", default=5)

WS_TICKET_SECONDS = env.int("WS_TICKET_SECONDS", default=30)  # a /ws/ ticket's life (single use)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_REFRESH_SERIALIZER": "accounts.tokens.PlatformRefreshSerializer",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Trading platform API",
    "DESCRIPTION": "Paper-first crypto trading bots.\n\n"
    "**Getting a token.** `POST /api/auth/login/` with `{\"username\": …, \"password\": …}` answers "
    "`access_token` and `refresh_token` (with two-factor sign-in on, it answers a `challenge`: send it with "
    "your 6-digit `code` to `POST /api/auth/login/totp/`). Send `Authorization: Bearer <access_token>` on every "
    "call; when it expires, `POST /api/auth/refresh/` with the `refresh_token` gives a new pair. On this page: "
    "**Authorize** → **bearerAuth** → paste the `access_token`.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # info/warning/critical is one choice set shared by risk events and notification channels
    "ENUM_NAME_OVERRIDES": {"SeverityEnum": "notifications.models.SEVERITIES",
                            "BotTimeframeEnum": "trading.engine.candles.TIMEFRAME_CHOICES",
                            "PromotionStatusEnum": "trading.models.PromotionRequest.Status",
                            "SupportedExchangeEnum": "config.settings.SUPPORTED_EXCHANGES",
                            "HealthStatusEnum": "ops.api.STATUSES"},
    # every operation documents its error answers in the one error shape (config/schema.py)
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.schema.add_error_responses"],
}

# --- Celery ------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# kombu's Redis transport with the fix that keeps a worker alive when Redis drops it (config/broker.py)
if CELERY_BROKER_URL.split("://", 1)[0] in ("redis", "rediss"):
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's DatabaseScheduler behind a Redis lease: a second beat started by mistake stands by (ops/beat.py)
CELERY_BEAT_SCHEDULER = "ops.beat:SingleBeatScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Alert delivery (up to 5 s per DingTalk call, retries) runs on its own worker ("alerts" queue), so a slow or
# failing alert channel can never hold up price polls, paper fills or the risk monitor on the main worker.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"notifications.*": {"queue": "alerts"}, "accounts.email.*": {"queue": "alerts"}}  # mail too
# How often each worker proves it is alive (a beat-scheduled task on its queue), and how old its heartbeat (and
# beat's last run) may get before /api/health/ says "degraded": about three intervals, so one late beat is not
# an alarm and a frozen worker shows within ~15 s.
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=5)
HEARTBEAT_MAX_AGE_SECONDS = env.float("HEARTBEAT_MAX_AGE_SECONDS", default=3 * HEARTBEAT_INTERVAL_SECONDS)

# --- Feature flags -----------------------------------------------------------------
ENABLE_TRADING = env.bool("ENABLE_TRADING", default=True)
ENABLE_LIVE_TRADING = env.bool("ENABLE_LIVE_TRADING", default=False)
ENABLE_SCHEDULERS = env.bool("ENABLE_SCHEDULERS", default=True)

# --- Promotion to live (defaults of the platform promotion policy; staff edit that row in admin) --------
PROMOTION_MIN_PAPER_DAYS = env.int("PROMOTION_MIN_PAPER_DAYS", default=7)
PROMOTION_MIN_CLOSED_TRADES = env.int("PROMOTION_MIN_CLOSED_TRADES", default=25)
PROMOTION_MIN_WIN_RATE_PCT = Decimal(env.str("PROMOTION_MIN_WIN_RATE_PCT", default="52"))
PROMOTION_MIN_PROFIT_PCT = Decimal(env.str("PROMOTION_MIN_PROFIT_PCT", default="3"))
PROMOTION_REQUIRE_STAFF_APPROVAL = env.bool("PROMOTION_REQUIRE_STAFF_APPROVAL", default=True)
PROMOTION_REQUEST_TTL_HOURS = env.int("PROMOTION_REQUEST_TTL_HOURS", default=24)
# a request reads the key's balance on the exchange: at most this many such reads per user and hour
PROMOTION_BALANCE_CHECKS_PER_HOUR = env.int("PROMOTION_BALANCE_CHECKS_PER_HOUR", default=10)

# --- Live execution (docs/live-trading.md) -------------------------------------------------------
# reconciliation: every N s for keys/symbols with live orders; a full check (orders, trades, balance) of
# quiet ones every QUIET s; an order the exchange does not have is sent again (same client id) only after
# RESEND_AFTER s, when its first request can no longer be on its way
LIVE_RECONCILE_SECONDS = env.int("LIVE_RECONCILE_SECONDS", default=10)
LIVE_RECONCILE_QUIET_SECONDS = env.int("LIVE_RECONCILE_QUIET_SECONDS", default=120)
LIVE_RESEND_AFTER_SECONDS = env.int("LIVE_RESEND_AFTER_SECONDS", default=30)
LIVE_RECONCILE_WORKERS = env.int("LIVE_RECONCILE_WORKERS", default=8)  # threads over independent keys

# --- Secrets at rest ---------------------------------------------------------------
# Fernet keys, newest first, comma separated. Required outside DEBUG.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
KEY_ROTATE_AFTER_DAYS = env.int("KEY_ROTATE_AFTER_DAYS", default=90)

# --- Per-user quotas (defaults; staff override them in admin: risk "Quotas", platform row or per user) ---
QUOTA_BOTS = env.int("QUOTA_BOTS", default=50)
QUOTA_RUNNING_BOTS = env.int("QUOTA_RUNNING_BOTS", default=50)
QUOTA_WATCHLIST_SYMBOLS = env.int("QUOTA_WATCHLIST_SYMBOLS", default=100)
QUOTA_API_REQUESTS_PER_MINUTE = env.int("QUOTA_API_REQUESTS_PER_MINUTE", default=1200)

# --- Exchanges ---------------------------------------------------------------------
CCXT_OVERRIDES = env.json("CCXT_OVERRIDES", default={})
CCXT_TIMEOUT_MS = env.int("CCXT_TIMEOUT_MS", default=10000)
SUPPORTED_EXCHANGES = env.list(
    "SUPPORTED_EXCHANGES", default=["binance", "kraken", "okx", "coinbase", "luno"]
)

# --- Market data -----------------------------------------------------------------
MARKET_DATA_SOURCE = env.str("MARKET_DATA_SOURCE", default="ccxt")  # ccxt | replay | synthetic
if MARKET_DATA_SOURCE not in {"ccxt", "replay", "synthetic"}:
    raise ImproperlyConfigured("MARKET_DATA_SOURCE must be one of: ccxt, replay, synthetic.")
MARKET_DATA_REPLAY_PATH = env.str("MARKET_DATA_REPLAY_PATH", default=str(BASE_DIR / "var" / "replay"))
MARKET_DATA_REPLAY_SPEED = env.int("MARKET_DATA_REPLAY_SPEED", default=1)  # candles per poll
MARKET_DATA_SYNTHETIC_SEED = env.int("MARKET_DATA_SYNTHETIC_SEED", default=42)
PRICE_POLL_SECONDS = env.float("PRICE_POLL_SECONDS", default=2.0)
PRICE_STALE_AFTER_SECONDS = env.float("PRICE_STALE_AFTER_SECONDS", default=30.0)
# ccxt source: 1m candles of minutes no poll saw (Redis, PostgreSQL or the workers down) are fetched from the
# exchange's OHLCV endpoint on the first poll after, at most this many back (trading.services.prices)
PRICE_BACKFILL_BARS = env.int("PRICE_BACKFILL_BARS", default=60)
# a running bot that no tick has evaluated for this long shows "stale prices" (poller or workers down)
BOT_TICK_STALE_SECONDS = env.float("BOT_TICK_STALE_SECONDS", default=180.0)
# a /ws/prices/ client whose socket has not taken a frame for this long is dropped
PRICE_WS_STALL_SECONDS = env.float("PRICE_WS_STALL_SECONDS", default=10.0)
# --- Paper bots (trading.services.ticks) -------------------------------------------
# Platform fill knobs over the engine's defaults, e.g. {"slippage_min": "0.001", "reject_rate": "0.03"};
# bots override them one by one (Bot.fill_overrides).
PAPER_FILL_CONFIG = env.json("PAPER_FILL_CONFIG", default={})
BOT_TICK_CHUNK = env.int("BOT_TICK_CHUNK", default=500)  # bots per tick transaction (one bot's writes never split)
# closed candles (replay steps) a bot missed (ticks lost in an outage) that the next tick evaluates in order, one
# by one, before the newest; a bot further behind (stopped for a while) goes on from the newest candle only
BOT_TICK_CATCHUP_BARS = env.int("BOT_TICK_CATCHUP_BARS", default=10)
# equity points: full detail (one a minute) this many days, then the last/lowest/highest of each hour
EQUITY_DETAIL_DAYS = env.int("EQUITY_DETAIL_DAYS", default=7)
EQUITY_COMPACT_WINDOW_DAYS = env.int("EQUITY_COMPACT_WINDOW_DAYS", default=30)  # how far back a nightly run looks
# tasks one exchange tick fans out to: by default one per process of the main worker, so a tick uses all of them
BOT_TICK_SHARDS = env.int("BOT_TICK_SHARDS", default=env.int("CELERY_CONCURRENCY", default=2))
# "exchange:SYMBOL" pairs everyone sees before they have a watchlist or a bot.
DEFAULT_WATCHLIST = env.list("DEFAULT_WATCHLIST", default=["binance:BTC/USDT", "binance:ETH/USDT"])

# --- Notifications -----------------------------------------------------------------
DASHBOARD_PUBLIC_URL = env.str("DASHBOARD_PUBLIC_URL", default="")
DINGTALK_WEBHOOK_URL = env.str("DINGTALK_WEBHOOK_URL", default="")
DINGTALK_SECRET = env.str("DINGTALK_SECRET", default="")
NOTIFICATION_ALLOWED_HOSTS = env.list("NOTIFICATION_ALLOWED_HOSTS", default=[])
# Delivery: wait a moment so a burst folds into one summary; retry transient failures with backoff.
NOTIFICATION_FOLD_SECONDS = env.float("NOTIFICATION_FOLD_SECONDS", default=3.0)
NOTIFICATION_FOLD_THRESHOLD = env.int("NOTIFICATION_FOLD_THRESHOLD", default=3)  # due messages -> one summary
NOTIFICATION_RETRY_BASE_SECONDS = env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=15)
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=8)

# --- Operations (ops app) ---------------------------------------------------------
# /metrics answers staff sessions and these client addresses or networks (e.g. the Prometheus host).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# manage.py backup: where the dumps go and how many of the newest it keeps
BACKUP_DIR = env.path("BACKUP_DIR", default=str(BASE_DIR / "var" / "backups"))
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)

# --- Logging -----------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "ccxt": {"level": "WARNING"},
        # their DEBUG lines quote request URLs, which for webhooks carry tokens
        "urllib3": {"level": "WARNING"},
        "apprise": {"level": "WARNING"},
    },
}

# --- Local run -------------------------------------------------------------------
# Mail (password resets, sign-in alerts): SMTP from EMAIL_URL (e.g. smtp+tls://user:pass@mail.example.com:587),
# else the console (development: the message is printed where `make run` runs).
if env.str("EMAIL_URL", default=""):
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    for _name in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS",
                  "EMAIL_USE_SSL"):
        if _name in _email:
            globals()[_name] = _email[_name]
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@localhost")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60 * 24)  # a reset link works one day
PASSWORD_RESET_WINDOW_SECONDS = env.int("PASSWORD_RESET_WINDOW_SECONDS", default=3600)
PASSWORD_RESET_MAX_PER_IP = env.int("PASSWORD_RESET_MAX_PER_IP", default=10)
PASSWORD_RESET_MAX_PER_EMAIL = env.int("PASSWORD_RESET_MAX_PER_EMAIL", default=3)
