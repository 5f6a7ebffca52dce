"""Run the background worker: ``manage.py worker`` (``make worker``)."""

from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from cases.tasks.worker import HeartbeatWorker, worker_id_new


class Command(DbWorkerCommand):
    help = (
        "Run the tasks queued in the database (notification e-mails). Several may run, on "
        "several machines; a task of a worker that was killed runs again on another."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(backend_name="background", queue_name="*", reload=False, worker_id=None)

    def handle(self, *, verbosity: int, queue_name: str, interval: float, batch: bool,
               backend_name: str, startup_delay: bool, max_tasks: int | None,
               exclude_queues: str, **options) -> None:  # fmt: skip
        self.configure_logging(verbosity)
        worker = HeartbeatWorker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=options.get("worker_id") or worker_id_new(),
            excluded_queue_names=exclude_queues.split(",") if exclude_queues else [],
        )
        worker.configure_signals()
        worker.run()
