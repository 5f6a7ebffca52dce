"""Operations: the health check, JSON log lines and a log line per request."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

request_log = logging.getLogger("caseviewer.request")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when everything a request may need answers, 503 (saying which failed) when not.

    The balancer sends requests only to servers that answer 200. ``task_workers`` (the
    background workers alive) is reported, not checked: a server serves pages without one,
    and the e-mails wait in the queue.
    """
    checks = {
        "database": _database_ok(),
        "cache": _cache_ok(),
        "object_store": _object_store_ok(),
        "task_queue": _task_queue_ok(),
    }
    healthy = all(checks.values())
    body = {name: "ok" if ok else "failing" for name, ok in checks.items()}
    return JsonResponse(
        {"status": "ok" if healthy else "failing", **body, "task_workers": _task_workers()},
        status=200 if healthy else 503,
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        request_log.exception("health check: database")
        return False


def _cache_ok() -> bool:
    try:
        cache.set("healthz", "ok", timeout=10)
        return cache.get("healthz") == "ok"
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        request_log.exception("health check: cache")
        return False


def _object_store_ok() -> bool:
    """The media store answers: the bucket (S3), or a writable MEDIA_ROOT (local disk)."""
    try:
        if bucket := getattr(default_storage, "bucket_name", None):
            default_storage.connection.meta.client.head_bucket(Bucket=bucket)
            return True
        root = Path(default_storage.location)
        root.mkdir(parents=True, exist_ok=True)
        return os.access(root, os.W_OK)
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        request_log.exception("health check: object store")
        return False


def _task_queue_ok() -> bool:
    from django_tasks_db.models import DBTaskResult

    try:
        DBTaskResult.objects.exists()
        return True
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        request_log.exception("health check: task queue")
        return False


def _task_workers() -> int | None:
    from cases.tasks.worker import workers_alive

    try:
        return len(workers_alive())
    except Exception:  # noqa: BLE001 - reported by the task queue's check
        return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra`` fields the caller passed."""

    STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self.STANDARD and not key.startswith("_"):
                plain = value is None or isinstance(value, str | int | float | bool)
                entry[key] = value if plain else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def request_logging(get_response: Callable[[HttpRequest], HttpResponse]):
    """Log method, path, status and duration of every request (errors at WARNING/ERROR)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        # Set by a layer that did its work before this one (cases.imaging.middleware).
        started = getattr(request, "received", None) or time.perf_counter()
        response = get_response(request)
        status = response.status_code
        level = (
            logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        )
        user = getattr(request, "user", None)
        request_log.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
        return response

    return middleware
