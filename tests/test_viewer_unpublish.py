"""A case returned to draft stops serving its images at once, in every worker and app server.

Two WSGI applications share one database: this test process (an author's app server) and
a separate Python process running ``caseviewer.wsgi`` (another worker). Whatever the other
process has served or stored, it answers 404 as soon as the author's unpublish is committed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from PIL import Image

from cases.imaging.ingest import slice_create_from_bytes
from cases.imaging.params import RenderParams
from cases.models import Case, Figure


def slice_image_url(image, **params) -> str:
    return RenderParams(image.token, **params).url()


pytestmark = pytest.mark.django_db(transaction=True)  # the other process reads committed rows

ROOT = Path(__file__).resolve().parent.parent

# Another worker: Django set up afresh from the environment, answering the URLs it reads on
# stdin through the production WSGI application (images before Django's handler included).
# Static files by their plain names, as in the tests (the 404 page names some).
WORKER = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "caseviewer.settings"
from django.conf import settings
settings.STORAGES = settings.STORAGES | {
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
}
from django.test import RequestFactory
from caseviewer.wsgi import application

for line in sys.stdin:
    started = []
    body = application(RequestFactory().get(line.strip()).environ,
                       lambda status, headers, exc_info=None: started.append(status))
    b"".join(body)
    if hasattr(body, "close"):
        body.close()
    print(started[0].split()[0], flush=True)
"""


def database_url() -> str:
    """The test database as a DATABASE_URL, for the other process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST'] or '127.0.0.1'}"
        f":{db['PORT'] or 5432}/{db['NAME']}"
    )


class Worker:
    """The other process: ``get(url)`` is the status it answers."""

    def __init__(self, media_root: Path):
        env = os.environ | {"DATABASE_URL": database_url(), "MEDIA_ROOT": str(media_root)}
        self.process = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", WORKER],  # whitenoise: no STATIC_ROOT
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def get(self, url: str) -> int:
        self.process.stdin.write(url + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(20)


@pytest.fixture
def worker(settings):
    worker = Worker(settings.MEDIA_ROOT)
    yield worker
    worker.stop()


@pytest.fixture
def stack() -> list:
    case = Case.objects.create(slug="stack", title="Stack", status=Case.Status.PUBLISHED)
    figure = Figure.objects.create(case=case, number=1)
    slices = []
    for position in range(3):
        buffer = io.BytesIO()
        Image.new("L", (64, 64), 40 * position).save(buffer, "PNG")
        slices.append(
            slice_create_from_bytes(
                figure=figure, name=f"{position}.png", data=buffer.getvalue(), position=position
            )
        )
    return slices


def test_an_unpublish_on_one_app_server_stops_another_serving_at_once(worker, stack, admin_client):
    seen = slice_image_url(stack[0], window_width=200, window_center=100)
    stored = slice_image_url(stack[1], window_width=200, window_center=100, fmt="jpeg")
    for _ in range(3):  # rendered, rendered again and stored, read from the store
        assert (worker.get(seen), worker.get(stored)) == (200, 200)

    case = stack[0].figure.case
    admin_client.post("/admin/cases/case/", {"action": "unpublish", "_selected_action": [case.pk]})
    assert Case.objects.get(pk=case.pk).status == Case.Status.DRAFT

    # At once, without waiting: what it served, what it stored, the rest of the stack.
    assert worker.get(seen) == 404
    assert worker.get(stored) == 404
    assert worker.get(slice_image_url(stack[2], window_width=90, window_center=40)) == 404
    assert worker.get(slice_image_url(stack[2])) == 404  # the figure's own window
