"""Settings for a worker that tests start as a subprocess (tests/test_task_worker.py).

E-mails go to files in ``TEST_MAIL_DIR``; with ``TEST_MAIL_HOLD_FOR`` set, sending to that
address first creates ``TEST_MAIL_DIR/holding`` and then waits for ever (to be killed).
"""

import os
import time
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend

from caseviewer.settings import *  # noqa: F403

MAILERS = {
    "default": {
        "BACKEND": "tests.worker_settings.HoldingFileBackend",
        "OPTIONS": {"file_path": os.environ["TEST_MAIL_DIR"]},
    }
}


class HoldingFileBackend(EmailBackend):
    def send_messages(self, email_messages):
        hold_for = os.environ.get("TEST_MAIL_HOLD_FOR")
        for message in email_messages:
            if hold_for and hold_for in message.to:
                (Path(self.file_path) / "holding").touch()
                while True:
                    time.sleep(1)
        return super().send_messages(email_messages)
