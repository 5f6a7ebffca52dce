from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest

from caseviewer.operations import JsonFormatter

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_cache_object_store_and_task_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "object_store": "ok",
        "task_queue": "ok",
        "task_workers": 0,
    }
    assert "no-cache" in response["Cache-Control"]


def test_healthz_counts_the_task_workers_alive(client):
    from django.utils import timezone

    from cases.tasks.models import TaskWorker

    now = timezone.now()
    TaskWorker.objects.create(worker_id="w1", host="h", pid=1, started_at=now, seen_at=now)
    gone = now - timezone.timedelta(minutes=5)
    TaskWorker.objects.create(worker_id="w2", host="h", pid=2, started_at=gone, seen_at=gone)
    assert client.get("/healthz").json()["task_workers"] == 1


def test_healthz_is_503_when_media_cannot_be_written(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = blocker / "media"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["object_store"] == "failing"


def test_healthz_is_503_when_the_task_queue_cannot_be_read(client, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    def broken(*args, **kwargs):
        raise ConnectionError("queue down")

    monkeypatch.setattr(DBTaskResult.objects, "exists", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["task_queue"] == "failing"


def test_healthz_is_503_and_says_what_fails(client, monkeypatch):
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "set", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() | {"task_workers": None} == {
        "status": "failing",
        "database": "ok",
        "cache": "failing",
        "object_store": "ok",
        "task_queue": "ok",
        "task_workers": None,
    }


def test_every_request_is_logged_as_structured_fields(client, caplog):
    with caplog.at_level(logging.INFO, logger="caseviewer.request"):
        client.get("/no-such-page/")
        client.get("/healthz")
    records = [r for r in caplog.records if r.name == "caseviewer.request"]
    assert [(r.path, r.status, r.levelname) for r in records] == [
        ("/no-such-page/", 404, "WARNING"),
        ("/healthz", 200, "INFO"),
    ]
    assert all(r.duration_ms >= 0 and r.method == "GET" for r in records)


def test_json_formatter_writes_one_object_per_line_with_extras():
    record = logging.makeLogRecord(
        {"name": "caseviewer.request", "levelname": "INFO", "msg": "GET / 200", "status": 200}
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET / 200" and entry["status"] == 200
    assert entry["logger"] == "caseviewer.request"


def test_gunicorn_configuration_has_sane_timeouts(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    path = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf", path)
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.bind == "127.0.0.1:8123"
    assert 10 <= conf.timeout <= 120 and conf.graceful_timeout >= 10
    assert conf.max_requests > 0 and conf.worker_class == "sync"


def test_pages_name_an_icon_and_favicon_ico_leads_to_it(client):
    from django.contrib.staticfiles import finders
    from django.templatetags.static import static

    icon = static("favicon.svg")
    page = client.get("/").content.decode()
    assert f'<link rel="icon" href="{icon}" type="image/svg+xml">' in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == icon
    assert Path(finders.find("favicon.svg")).read_text().lstrip().startswith("<svg")
