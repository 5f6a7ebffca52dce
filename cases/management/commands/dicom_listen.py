"""manage.py dicom_listen [--port 11112] [--ae-title CASEVIEWER] [--bind 127.0.0.1]."""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from cases.inbox.receive import studies_assemble_idle, study_assemble
from cases.inbox.scp import receiver_from_settings, studies_pending_assemble

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run the DICOM receiver (Storage SCP): studies sent to it are de-identified on arrival "
        "and become draft cases in the inbox. Runs until SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE)
        parser.add_argument("--bind", default=settings.DICOM_BIND)
        parser.add_argument(
            "--sweep-seconds",
            type=float,
            default=30.0,
            help="How often idle studies are looked for (INBOX_IDLE_SECONDS says when one is).",
        )

    def handle(self, *args, port: int, ae_title: str, bind: str, sweep_seconds: float, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        # A receiver stopped mid-study left it unassembled: finish it before listening.
        for study_id in studies_pending_assemble():
            study_assemble(study_id=study_id)
        receiver = receiver_from_settings(ae_title=ae_title)
        receiver.start(bind=bind, port=port)
        allowed = ", ".join(receiver.allowed) or (
            "loopback peers only" if receiver.development else "nobody (set DICOM_ALLOWED_AES)"
        )
        self.stdout.write(
            f"DICOM receiver {ae_title} listening on {bind}:{port}; allowed: {allowed}"
        )
        self.stdout.flush()
        try:
            while not stop.wait(sweep_seconds):
                try:
                    studies_assemble_idle()
                except Exception:
                    logger.exception("idle sweep failed")
                finally:
                    connections.close_all()
        finally:
            receiver.stop()
            self.stdout.write("DICOM receiver stopped")
