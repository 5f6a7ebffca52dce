"""The background worker (``manage.py worker``): killed mid-task, nothing is lost or sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from cases.discussion.notify import comment_notify
from cases.discussion.services import comment_create, follow_set
from cases.tasks.models import TaskWorker

from .conftest import member_build

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database, as DATABASE_URL names it for a subprocess."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_start(mail_dir: Path, *, hold_for: str = "") -> subprocess.Popen:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": database_url(),
        "TASKS_HEARTBEAT_SECONDS": "1",
        "TEST_MAIL_DIR": str(mail_dir),
        "TEST_MAIL_HOLD_FOR": hold_for,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.2", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, *, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def addresses_mailed(mail_dir: Path) -> list[str]:
    return sorted(
        line.removeprefix("To: ").strip()
        for path in mail_dir.glob("*.log")
        for line in path.read_text().splitlines()
        if line.startswith("To: ")
    )


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_loses_nothing_and_sends_each_email_once(settings, tmp_path):
    settings.TASKS = settings.TASKS | {"background": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from .conftest import case_build

    case = case_build(slug="durable")
    author = member_build("author1")
    first, second = member_build("first"), member_build("second")
    for user in (first, second):
        follow_set(case=case, user=user, following=True)
    comment, _ = comment_create(case=case, author=author, body="Look")
    DBTaskResult.objects.all().delete()
    result = comment_notify.enqueue(comment.pk, "http://testserver")
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()

    worker = worker_start(mail_dir, hold_for="second@example.org")
    killed_pid = worker.pid
    try:
        wait_for((mail_dir / "holding").exists)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert addresses_mailed(mail_dir) == ["first@example.org"]
    assert DBTaskResult.objects.get(pk=result.id).status == "RUNNING"

    worker = worker_start(mail_dir)
    try:
        wait_for(lambda: DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    assert addresses_mailed(mail_dir) == ["first@example.org", "second@example.org"]
    assert len(DBTaskResult.objects.get(pk=result.id).worker_ids) == 2
    # A worker stopped cleanly removes its heartbeat; the killed one's is left to expire.
    assert list(TaskWorker.objects.values_list("pid", flat=True)) == [killed_pid]
