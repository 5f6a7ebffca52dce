"""Production settings come from the environment; the laptop defaults keep plain http working.

Settings are read with ``runpy`` under a chosen environment, so each test sees what a fresh
process with that environment would, without touching the running test settings.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "caseviewer" / "settings.py"
SETTING_VARIABLES = (
    "DEBUG",
    "HTTPS",
    "SECRET_KEY",
    "REQUIRE_SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_PROXY_SSL_VALUE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "ADMINS",
)
PRODUCTION = {
    "HTTPS": "true",
    "SECRET_KEY": "x7Jq2mVd9Lr4Tz8Wc1Nf6Hb3Ks5Pg0Ye7Ua2Qi9Oo4Xe1Rw8Zt3Cv6Bn5Ml0Dk",
    "ALLOWED_HOSTS": "cases.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://cases.example.org",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "EMAIL_HOST": "smtp.example.org",
    "ADMINS": "it@example.org, radiology@example.org",
}


def settings_with(monkeypatch, **env: str) -> dict:
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for this process; production does not.
    leave_out = {*SETTING_VARIABLES, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in leave_out}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_silent_with_the_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_about_the_laptop_defaults():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for check in ("security.W004", "security.W008", "security.W009", "security.W012"):
        assert check in output, check


def test_production_is_https_only(monkeypatch):
    s = settings_with(monkeypatch, **PRODUCTION)
    assert s["DEBUG"] is False
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert s["SECURE_HSTS_SECONDS"] == 365 * 24 * 60 * 60
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert s["SESSION_COOKIE_SECURE"] is True and s["CSRF_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert s["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert s["SECURE_CSP"]["upgrade-insecure-requests"] is True
    assert s["ALLOWED_HOSTS"] == ["cases.example.org"]
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://cases.example.org"]
    assert s["ADMINS"] == ["it@example.org", "radiology@example.org"]
    assert s["MAILERS"]["default"]["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert s["MAILERS"]["default"]["OPTIONS"]["host"] == "smtp.example.org"


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        settings_with(monkeypatch, **env)


def test_laptop_defaults_serve_plain_http_with_debug_off(monkeypatch):
    s = settings_with(monkeypatch)
    assert s["DEBUG"] is False
    assert s["SECURE_SSL_REDIRECT"] is False
    assert s["SECURE_HSTS_SECONDS"] == 0
    assert s["SESSION_COOKIE_SECURE"] is False and s["CSRF_COOKIE_SECURE"] is False
    assert "SESSION_COOKIE_NAME" not in s  # Django's plain "sessionid"
    assert s["SECURE_CSP"]["upgrade-insecure-requests"] is False
    assert "127.0.0.1" in s["ALLOWED_HOSTS"]
    # The development key is marked so that `check --deploy` refuses it.
    assert s["SECRET_KEY"].startswith("django-insecure-")


def test_hsts_preload_is_opt_in(monkeypatch):
    assert settings_with(monkeypatch, **PRODUCTION)["SECURE_HSTS_PRELOAD"] is False
    preload = settings_with(monkeypatch, **PRODUCTION, SECURE_HSTS_PRELOAD="yes")
    assert preload["SECURE_HSTS_PRELOAD"] is True
    assert "security.W021" not in preload.get("SILENCED_SYSTEM_CHECKS", [])


def test_bad_values_fail_at_start_with_the_variable_named(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="SECURE_HSTS_SECONDS"):
        settings_with(monkeypatch, **PRODUCTION, SECURE_HSTS_SECONDS="a year")
    with pytest.raises(ImproperlyConfigured, match="HTTPS"):
        settings_with(monkeypatch, HTTPS="sometimes")


@pytest.mark.django_db
def test_behind_the_proxy_http_is_redirected_and_https_is_served(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    plain = client.get("/u/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/u/"
    secure = client.get("/u/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"


@pytest.mark.django_db
def test_plain_http_sessions_work_with_the_laptop_defaults(client, published_case):
    form = client.get("/accounts/login/")
    assert form.cookies["csrftoken"]["secure"] == ""
    assert form.cookies["csrftoken"]["httponly"] is True
    # Progress through an unknown case lives in the session: a plain-http cookie.
    step = client.get(f"/u/{published_case.public_id}/")
    assert step.status_code == 200
    assert step.cookies["sessionid"]["secure"] == ""
    assert step.cookies["sessionid"]["httponly"] is True
    assert step.cookies["sessionid"]["samesite"] == "Lax"
