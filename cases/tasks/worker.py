"""The background worker: django-tasks-db's, with a heartbeat so no claimed task is lost.

django-tasks-db claims a task by marking it RUNNING inside a locked transaction, so two
workers never run the same task. A worker killed while it runs one (SIGKILL, the machine
lost) leaves it RUNNING for ever. Here every worker writes a heartbeat row; any worker puts
back in the queue the RUNNING tasks whose worker has not beaten for ``STALE_BEATS``
heartbeats. The task then runs again: tasks are written to be run again safely (the
notification e-mails record each recipient sent to, ``cases.discussion.notify``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.tasks.base import TaskResultStatus
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from .models import TaskWorker

logger = logging.getLogger(__name__)

STALE_BEATS = 3


def heartbeat_seconds() -> float:
    return float(settings.TASKS_HEARTBEAT_SECONDS)


def worker_id_new() -> str:
    """Unique across machines and readable in the admin: host, process, a random suffix."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(8)}"


def worker_beat(*, worker_id: str, started_at) -> None:
    """Say that ``worker_id`` is alive now."""
    now = timezone.now()
    TaskWorker.objects.update_or_create(
        worker_id=worker_id,
        defaults={"seen_at": now},
        create_defaults={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": started_at,
            "seen_at": now,
        },
    )


def workers_alive() -> set[str]:
    """The ids of the workers that beat within the last ``STALE_BEATS`` heartbeats."""
    cutoff = timezone.now() - timedelta(seconds=STALE_BEATS * heartbeat_seconds())
    return set(TaskWorker.objects.filter(seen_at__gte=cutoff).values_list("worker_id", flat=True))


def tasks_recover(*, backend_name: str) -> int:
    """Put back in the queue the tasks claimed by workers that stopped; return how many."""
    alive = workers_alive()
    orphaned = [
        result.pk
        for result in DBTaskResult.objects.running()
        .filter(backend_name=backend_name)
        .only("pk", "worker_ids")
        if not result.worker_ids or result.worker_ids[-1] not in alive
    ]
    if not orphaned:
        return 0
    # Only those still RUNNING: a task that finished meanwhile stays finished.
    count = DBTaskResult.objects.filter(pk__in=orphaned, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.READY, started_at=None
    )
    if count:
        logger.warning("%s task(s) of stopped workers put back in the queue", count)
    cutoff = timezone.now() - timedelta(seconds=10 * STALE_BEATS * heartbeat_seconds())
    TaskWorker.objects.filter(seen_at__lt=cutoff).delete()
    return count


class Heartbeat:
    """A thread that beats for a worker and recovers other workers' orphaned tasks."""

    def __init__(self, *, worker_id: str, backend_name: str) -> None:
        self.worker_id = worker_id
        self.backend_name = backend_name
        self.started_at = timezone.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task-heartbeat", daemon=True)

    def start(self) -> None:
        # The first beat comes before the worker claims anything: a claimed task must never
        # name a worker that others cannot see alive.
        worker_beat(worker_id=self.worker_id, started_at=self.started_at)
        tasks_recover(backend_name=self.backend_name)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=heartbeat_seconds() + 5)
        TaskWorker.objects.filter(worker_id=self.worker_id).delete()

    def _run(self) -> None:
        try:
            while not self._stop.wait(heartbeat_seconds()):
                try:
                    worker_beat(worker_id=self.worker_id, started_at=self.started_at)
                    tasks_recover(backend_name=self.backend_name)
                except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                    logger.exception("task worker heartbeat failed")
        finally:
            # This thread's own connection, never the worker's.
            connections.close_all()


class HeartbeatWorker(Worker):
    """django-tasks-db's worker, beating while it runs."""

    def run(self) -> None:
        heartbeat = Heartbeat(worker_id=self.worker_id, backend_name=self.backend_name)
        heartbeat.start()
        try:
            super().run()
        finally:
            heartbeat.stop()
