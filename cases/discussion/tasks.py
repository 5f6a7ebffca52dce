"""A task backend that runs each task on a small thread pool, so the request never waits."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.db import close_old_connections, connections
from django.tasks.backends.immediate import ImmediateBackend
from django.tasks.base import TaskResult, TaskResultStatus
from django.utils.crypto import get_random_string

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="caseviewer-task")
_pending: set[Future] = set()
_lock = threading.Lock()


class ThreadPoolBackend(ImmediateBackend):
    """ImmediateBackend, but each task runs on a pool thread and ``enqueue`` returns at once.

    Enough for notification e-mails on one machine: a task lost to a worker restart is an
    e-mail not sent, never a comment lost. A queue-backed backend can replace it through the
    ``TASKS`` setting without touching the callers.
    """

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        task_result = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        future = _executor.submit(self._run, task_result)
        with _lock:
            _pending.add(future)
        future.add_done_callback(_forget)
        return task_result

    def _run(self, task_result: TaskResult) -> None:
        close_old_connections()
        try:
            self._execute_task(task_result)
        finally:
            # The pool thread owns its connections; leave none open behind it.
            connections.close_all()


def _forget(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def tasks_wait(timeout: float = 10) -> None:
    """Block until every task submitted so far has finished (for tests and commands)."""
    with _lock:
        futures = set(_pending)
    wait(futures, timeout=timeout)
