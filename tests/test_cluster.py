"""Two app servers behind HAProxy, sharing the test database and the media folder.

What one server does, the other knows at once: an image uploaded through A renders through B,
a case returned to draft on A is refused by B, a conference step taken on A is what an
audience request on B gets. The same checks as ``make bench-cluster``, held by a test; the
bench adds PostgreSQL, Redis and the object store at full scale, and the failover.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from PIL import Image

from cases.conference import services
from cases.models import Case, Figure, Slice
from tests.conftest import case_build
from tests.seaweedfs import free_ports
from tests.test_admin_synonyms import admin_form_data
from tests.test_task_worker import database_url

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
HAPROXY = "/usr/sbin/haproxy"


def haproxy_config(port: int, servers: dict[str, int]) -> str:
    lines = "\n".join(
        f"    server {name} 127.0.0.1:{p} check inter 300ms fall 2 rise 1"
        for name, p in servers.items()
    )
    return f"""global
    maxconn 200

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:{port}
    default_backend app

backend app
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    http-response set-header X-Served-By %[srv_name]
{lines}
"""


def _wait_ok(url: str, process: subprocess.Popen, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        if process.poll() is not None:
            raise AssertionError(f"{process.args[:3]} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def cluster(tmp_path):
    """gunicorn A and B (one worker each) on the test database, and HAProxy before them."""
    if not Path(HAPROXY).exists():
        pytest.fail(f"{HAPROXY} is missing: `make test` installs Debian's haproxy")
    port, a, b = free_ports(3)
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "tests.cluster_settings",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # the test's own folder, shared by both
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen] = []
    try:
        for server_port in (a, b):
            command = [sys.executable, "-m", "gunicorn", "caseviewer.wsgi:application"]
            command += ["--bind", f"127.0.0.1:{server_port}", "--workers", "1"]
            command += ["--log-level", "warning"]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env))
        for server_port, process in zip((a, b), processes, strict=True):
            _wait_ok(f"http://127.0.0.1:{server_port}/healthz", process)
        config = tmp_path / "haproxy.cfg"
        config.write_text(haproxy_config(port, {"a": a, "b": b}))
        processes.append(subprocess.Popen([HAPROXY, "-db", "-f", str(config)]))
        _wait_ok(f"http://127.0.0.1:{port}/healthz", processes[-1])
        yield {
            "a": f"http://127.0.0.1:{a}",
            "b": f"http://127.0.0.1:{b}",
            "balancer": f"http://127.0.0.1:{port}",
        }
    finally:
        for process in reversed(processes):
            _stop(process)


def _logged_in(user) -> requests.Session:
    """A browser session for ``user``, in the shared database: any server knows it."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, store.session_key)
    return session


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 90).save(buffer, format="PNG")
    return buffer.getvalue()


def test_what_one_server_does_the_other_knows_at_once(cluster, staff):
    case = case_build(slug="shared", size=0)
    figure = Figure.objects.create(case=case, number=1, caption="Upload", reveal_step=2)
    admin = _logged_in(staff)

    # An image uploaded through A's figure admin renders through B.
    change = f"{cluster['a']}/admin/cases/figure/{figure.pk}/change/"
    page = admin.get(change)
    assert page.status_code == 200
    response = admin.post(
        change,
        data=admin_form_data(page.text),
        files={"upload": ("new.png", _png(64, 48), "image/png")},
        allow_redirects=False,
    )
    assert response.status_code == 302, re.findall(
        r'class="errorlist[^>]*>(.*?)</ul>', response.text
    )
    (token,) = Slice.objects.filter(figure=figure).values_list("token", flat=True)
    on_b = requests.get(f"{cluster['b']}/img/{token}.png", timeout=10)
    assert on_b.status_code == 200
    assert Image.open(io.BytesIO(on_b.content)).size == (64, 48)

    # Through the balancer, both servers answer.
    served_by = {
        requests.get(f"{cluster['balancer']}/img/{token}.png", timeout=10).headers["X-Served-By"]
        for _ in range(4)
    }
    assert served_by == {"a", "b"}

    # A case returned to draft on A is refused by B on its very next request.
    case_on_b = f"{cluster['b']}/u/{case.public_id}/"
    assert requests.get(case_on_b, timeout=10).status_code == 200
    changelist = f"{cluster['a']}/admin/cases/case/"
    token_field = re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', admin.get(changelist).text
    )
    response = admin.post(
        changelist,
        data={"csrfmiddlewaretoken": token_field[1], "action": "unpublish",
              "_selected_action": case.pk, "index": 0},
        allow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).status == Case.Status.DRAFT
    assert requests.get(case_on_b, timeout=10).status_code == 404
    assert requests.get(f"{cluster['b']}/img/{token}.png", timeout=10).status_code == 404


def test_a_conference_step_taken_on_a_is_what_an_audience_request_on_b_gets(cluster, staff):
    conference = services.conference_create(
        title="Shared", presenter=staff, cases=[case_build(slug="conference", size=0)]
    )
    presenter = _logged_in(staff)
    console = f"{cluster['a']}/conference/{conference.code}/"
    presenter.get(console)  # the CSRF cookie
    csrf = presenter.cookies["csrftoken"]
    audience_on_b = f"{cluster['b']}/c/{conference.code}/live/"
    hx = {"HX-Request": "true"}
    assert "Waiting for the presenter" in requests.get(audience_on_b, headers=hx, timeout=10).text

    history, findings = "A 40-year-old man with a cough.", "A mass in the right upper lobe."
    for action, shown, hidden in (("start", history, findings), ("next", findings, None)):
        response = presenter.post(
            f"{console}action/",
            data={"action": action},
            headers={"X-CSRFToken": csrf, "Referer": console},
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:500]
        version = type(conference).objects.get(pk=conference.pk).version
        # B reads the shared record; a worker may answer from its copy for a fraction of a
        # second (state.READ_CACHE_SECONDS), by design.
        deadline = time.monotonic() + 3
        while True:
            answer = requests.get(audience_on_b, headers=hx, timeout=10).text
            if f'data-version="{version}"' in answer or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert f'data-version="{version}"' in answer
        assert shown in answer
        assert hidden is None or hidden not in answer
