"""The task workers that are alive, as each one last said (``cases.tasks.worker``)."""

from __future__ import annotations

from django.db import models


class TaskWorker(models.Model):
    """A running ``manage.py worker``: it writes ``seen_at`` every heartbeat while it lives.

    A task claimed by a worker that stopped beating (killed, its machine lost) goes back in
    the queue; the worker's own row is deleted when it stops cleanly.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"worker {self.worker_id} on {self.host} (pid {self.pid})"
