"""CaseViewer settings, read from the environment with defaults that work on a laptop."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


DEBUG = env_bool("DEBUG", False)
# Production is served over HTTPS (TLS at the proxy); the laptop demo over plain http.
HTTPS = env_bool("HTTPS", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if HTTPS or env_bool("REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # Laptop default: fine for the demo and tests, never for a deployment (the
    # "django-insecure-" prefix makes `check --deploy` say so).
    SECRET_KEY = "django-insecure-caseviewer-development-key-change-me-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "caseviewer.apps.CaseViewerAdminConfig",  # django.contrib.admin, on CaseViewer's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",
    "django_htmx",
    "allauth",
    "allauth.account",
    "django_tasks_db",
    "cases",
]

MIDDLEWARE = [
    "caseviewer.operations.request_logging",
    "django.middleware.security.SecurityMiddleware",
    # Above whitenoise, so static files carry the policy and headers too.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "caseviewer.middleware.security_headers",
    # Before anything reads the request: a NUL is a 400 here, never a database error.
    "caseviewer.middleware.nul_refused",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Published images, like static files, before sessions and accounts.
    "cases.imaging.middleware.published_images",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # /preview/...: staff see a page as an anonymous learner would (cases/preview.py).
    "cases.preview.preview_mode",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "caseviewer.urls"
WSGI_APPLICATION = "caseviewer.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "caseviewer.context_processors.theme",
            ],
        },
    },
]

# Widget templates live in templates/ like every other template.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        # A persistent connection the database dropped is replaced, not an error page.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's, plus the planner's statistics gathered as connections close (caseviewer/sqlite).
    DATABASES["default"]["ENGINE"] = "caseviewer.sqlite"
    # Persistent too: opening SQLite and running the PRAGMAs costs more than a render.
    DATABASES["default"]["OPTIONS"] = {
        # Several gunicorn workers share one file: WAL, wait for locks, write up front.
        # Memory-mapped reads: a search's counts look up each matching case by id, each
        # case's row (its whole article) on pages of its own, more pages than SQLite's own
        # cache per connection holds; mapped, they are read in place from the system's
        # cache, which every worker shares, instead of copied in at each query.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            " PRAGMA analysis_limit=400; PRAGMA mmap_size=268435456;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file, not memory: the browser tests' live server answers Chromium's
    # parallel requests in threads, and an in-memory database would be one connection
    # shared between them.
    # One file per test process, so two runs side by side never share it.
    test_db = Path(tempfile.gettempdir()) / f"caseviewer-test-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(test_db)}

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "caseviewer",
        }
    }
else:
    # Per process: each worker keeps its own library version and counts (cases.library.version).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# Media is never served from a public URL: images go through cases.views (permission checks).
MEDIA_URL = "/media-not-served/"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Media on S3-compatible object storage (django-storages), shared by every app server, when a
# bucket is named; django-storages' own variable names. The bucket stays private: images are
# only ever served through the app's permission checks, never by a bucket URL.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
    AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None
    AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
    # Self-hosted stores (SeaweedFS, MinIO, Ceph) answer on one host name: path-style URLs.
    AWS_S3_ADDRESSING_STYLE = env_str(
        "AWS_S3_ADDRESSING_STYLE", "path" if AWS_S3_ENDPOINT_URL else "auto"
    )
    if AWS_S3_ADDRESSING_STYLE not in {"auto", "path", "virtual"}:
        raise ImproperlyConfigured(
            "AWS_S3_ADDRESSING_STYLE must be auto, path or virtual, "
            f"not {AWS_S3_ADDRESSING_STYLE!r}"
        )
    AWS_DEFAULT_ACL = None
    # As on disk: a new file under a taken name gets a new name, never replaces the old one.
    AWS_S3_FILE_OVERWRITE = False
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Accounts (django-allauth): sign-up with a verified e-mail, log-in by username or e-mail,
# password reset, and throttled failed log-ins (through the cache, so shared via Redis).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[CaseViewer] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("ACCOUNT_LOGIN_FAILED_LIMIT", "10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}

# E-mail: SMTP to EMAIL_HOST when it is set, or in production (HTTPS) to the machine's own
# mail server; otherwise (the laptop demo) printed to the console.
_email_host = env_str("EMAIL_HOST")
if _email_host or env_bool("HTTPS", False):
    _email_port = env_int("EMAIL_PORT", 587 if _email_host else 25)
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host or "localhost",
                "port": _email_port,
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", _email_port == 587),
                "use_ssl": env_bool("EMAIL_USE_SSL", _email_port == 465),
                "timeout": env_int("EMAIL_TIMEOUT", 10),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "CaseViewer <caseviewer@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Background work (notification e-mails) is queued in the database and run by `manage.py
# worker` (`make worker`): it outlives a restart, and a task of a killed worker runs again
# once that worker has missed three heartbeats.
TASKS = {
    "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
    "background": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}
TASKS_HEARTBEAT_SECONDS = env_int("TASKS_HEARTBEAT_SECONDS", 10)

# The DICOM receiver (manage.py dicom_listen) and the inbox of received studies. Calling AE
# titles allowed to send, "AE" or "AE@address" (comma-separated); empty lets only loopback
# peers in, and only in development (with HTTPS on, empty refuses everyone).
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "CASEVIEWER")
DICOM_PORT = env_int("DICOM_PORT", 11112)
DICOM_BIND = env_str("DICOM_BIND", "127.0.0.1")
DICOM_ALLOWED_AES = env_list("DICOM_ALLOWED_AES", [])
# A study is made a draft case when its association ends, or after this long without news.
INBOX_IDLE_SECONDS = env_int("INBOX_IDLE_SECONDS", 120)
# Unclaimed studies are deleted after this many days (manage.py inbox_clean).
INBOX_KEEP_DAYS = env_int("INBOX_KEEP_DAYS", 2)
# Who is e-mailed when a study arrives; empty: every active staff member with an address.
INBOX_NOTIFY = env_list("INBOX_NOTIFY", [])
# The key of patient pseudonyms and new UIDs (SECRET_KEY when empty). Changing it means a
# later study of a known patient gets a new pseudonym: keep it as long as the inbox lives.
DEID_PSEUDONYM_KEY = env_str("DEID_PSEUDONYM_KEY")
# DICOMweb pull (manage.py import_dicomweb): credentials come from here, never from the URL.
DICOMWEB_USERNAME = env_str("DICOMWEB_USERNAME")
DICOMWEB_PASSWORD = env_str("DICOMWEB_PASSWORD")
DICOMWEB_TOKEN = env_str("DICOMWEB_TOKEN")
# The PACS the admin's "Pull from DICOMweb" page offers (comma-separated base URLs).
DICOMWEB_SERVERS = env_list("DICOMWEB_SERVERS", [])

# Discussion threads.
DISCUSSION_REQUIRES_LOGIN = env_bool("DISCUSSION_REQUIRES_LOGIN", True)
DISCUSSION_MAX_CHARS = env_int("DISCUSSION_MAX_CHARS", 10_000)
DISCUSSION_POSTS_PER_MINUTE = env_int("DISCUSSION_POSTS_PER_MINUTE", 5)
DISCUSSION_POSTS_PER_HOUR = env_int("DISCUSSION_POSTS_PER_HOUR", 60)
DISCUSSION_EDIT_MINUTES = env_int("DISCUSSION_EDIT_MINUTES", 15)
DISCUSSION_PAGE_SIZE = 50

# Uploads and image rendering.
DATA_UPLOAD_MAX_NUMBER_FILES = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 64_000_000)

# Security headers on every response (tests/test_security_headers.py walks every URL).
# Scripts only from this origin, no inline script: the templates have none, and htmx is told
# not to inject its indicator <style> nor to eval (the htmx-config meta in base.html).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "upgrade-insecure-requests": HTTPS,
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# HTTPS (production): TLS ends at the proxy, which says so in a header such as
# X-Forwarded-Proto; then http is redirected, cookies are Secure and HSTS is sent.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proxy_ssl_header.upper().replace("-", "_"),
        env_str("SECURE_PROXY_SSL_VALUE", "https"),
    )
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a promise to browsers that is slow to take back: opt in, never by default.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
# The CSRF token reaches htmx through hx-headers in the page, never from the cookie.
CSRF_COOKIE_HTTPONLY = True
if HTTPS:
    # __Host- cookies are Secure, host-only and path=/: a sibling subdomain cannot set them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 60 * 60)
# Error reports by e-mail (with DEBUG off): comma-separated addresses.
ADMINS = env_list("ADMINS", [])

# Structured logs: one JSON object per line on stderr (LOG_FORMAT=text for plain lines);
# every request is logged by caseviewer.operations.request_logging at REQUEST_LOG_LEVEL.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "caseviewer.operations.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "text" if env_str("LOG_FORMAT") == "text" else "json",
        }
    },
    "loggers": {
        "caseviewer.request": {
            "handlers": ["console"],
            "level": env_str("REQUEST_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # Errors are logged once, by the request log, with the traceback from django.request.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
