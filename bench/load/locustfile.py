"""A department's load on CaseViewer: learners browsing, walking unknown cases, looking at
images and commenting. Driven by bench/load/run.py, which starts the server and reads the
figures; run alone with ``locust -f bench/load/locustfile.py`` against a loaded site.

Environment (set by run.py):
  BENCH_CATALOGUE  JSON file: the cases, their figures and slice tokens, the bench accounts
  BENCH_ACKED      file to append one line per comment the server acknowledged (201 with
                   the thread, or a redirect to the new comment)
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import uuid
from pathlib import Path

from locust import FastHttpUser, between, events, task

CATALOGUE = json.loads(Path(os.environ["BENCH_CATALOGUE"]).read_text())
ACKED = Path(os.environ["BENCH_ACKED"])
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The windows a reader flips between (CT presets), and the output sizes the pages ask for.
WINDOWS = [(80, 40), (2500, 480), (400, 40), (1500, -600), (150, 90)]
SIZES = ["", "512", "1024"]
# Posting is rate-limited per member (DISCUSSION_POSTS_PER_MINUTE, 5): stay well under.
COMMENT_EVERY = 20.0

_accounts = iter(CATALOGUE["accounts"])
_accounts_lock = threading.Lock()
_acked_lock = threading.Lock()


@events.test_start.add_listener
def _fresh_ack_file(environment, **kwargs) -> None:
    ACKED.touch()


class Learner(FastHttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        with _accounts_lock:
            self.username = next(_accounts)
        self.walk: list[str] = []
        self.csrf = ""
        self.last_comment = 0.0
        for _attempt in range(3):  # a worker killed mid-log-in (fault run): try again
            if self._log_in():
                break
        self._page("/", name="/ [library]")

    def _log_in(self) -> bool:
        form = self.client.get("/accounts/login/", name="/accounts/login/ [form]")
        token = CSRF.search(form.text or "")
        if not token:
            return False
        with self.client.post(
            "/accounts/login/",
            data={
                "login": self.username,
                "password": CATALOGUE["password"],
                "csrfmiddlewaretoken": token[1],
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            allow_redirects=False,
            name="/accounts/login/ [post]",
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"log-in refused: {response.status_code}")
                return False
        return True

    # --- browsing ----------------------------------------------------------------------------

    @task(3)
    def library(self) -> None:
        self._page("/", name="/ [library]")

    @task(1)
    def search(self) -> None:
        term = random.choice(CATALOGUE["search_terms"])
        headers = {"HX-Request": "true"} if random.random() < 0.5 else {}
        self.client.get(f"/?q={term}", headers=headers, name="/?q= [search]")

    @task(3)
    def article(self) -> None:
        case = random.choice(CATALOGUE["cases"])
        self._page(f"/cases/{case['slug']}/", name="/cases/<slug>/ [article]")

    @task(2)
    def figure_page(self) -> None:
        case, figure = self._figure()
        slice_number = random.randint(1, len(figure["slices"]))
        headers = {"HX-Request": "true"} if random.random() < 0.5 else {}
        self.client.get(
            f"/cases/{case['slug']}/figures/{figure['number']}/?slice={slice_number}",
            headers=headers,
            name="/cases/<slug>/figures/<n>/ [viewer]",
        )

    # --- images ------------------------------------------------------------------------------

    @task(5)
    def image(self) -> None:
        _, figure = self._figure()
        token = random.choice(figure["slices"])
        params = []
        if figure["kind"] == "grey16":
            width, center = random.choice(WINDOWS)
            params.append(f"ww={width}&wc={center}")
        if size := random.choice(SIZES):
            params.append(f"size={size}")
        if random.random() < 0.1:
            params.append(f"zoom=2&cx={random.choice(['0.3', '0.5', '0.7'])}&cy=0.5")
        query = "&".join(params)
        self.client.get(f"/img/{token}.png?{query}", name="/img/<token>.png [render]")

    # --- unknown cases -----------------------------------------------------------------------

    @task(4)
    def unknown_step(self) -> None:
        """One step further through an unknown case; a new case when one is finished."""
        if not self.walk:
            case = random.choice(CATALOGUE["unknown"])
            pid = case["public_id"]
            self.walk = [f"/u/{pid}/{step}/" for step in range(1, 7)]
            self.walk.insert(4, f"POST /u/{pid}/differential/")
        step = self.walk.pop(0)
        htmx = {"HX-Request": "true"} if random.random() < 0.5 else {}
        if step.startswith("POST "):
            path = step.removeprefix("POST ")
            self.client.post(
                path,
                data={
                    "first": random.choice(CATALOGUE["guesses"]),
                    "second": random.choice(CATALOGUE["guesses"]),
                    "csrfmiddlewaretoken": self.csrf,
                },
                headers=htmx | {"Referer": f"{self.host}{path}"},
                name="/u/<id>/differential/ [post]",
            )
            return
        self._page(step, headers=htmx, name="/u/<id>/<step>/")

    # --- discussion --------------------------------------------------------------------------

    @task(2)
    def thread(self) -> None:
        case = random.choice(CATALOGUE["cases"])
        self._page(f"/t/{case['public_id']}/", name="/t/<id>/ [thread]")

    @task(2)
    def comment(self) -> None:
        if time.monotonic() - self.last_comment < COMMENT_EVERY:
            return
        self.last_comment = time.monotonic()
        case = random.choice(CATALOGUE["cases"])
        thread = f"/t/{case['public_id']}/"
        self._page(thread, name="/t/<id>/ [thread]")
        marker = f"bench-{uuid.uuid4().hex}"
        htmx = random.random() < 0.5
        with self.client.post(
            f"{thread}comments/",
            data={
                "body": f"{marker}: note from {self.username}, **slice** of interest.",
                "key": uuid.uuid4().hex,
                "csrfmiddlewaretoken": self.csrf,
            },
            headers={"Referer": f"{self.host}{thread}"} | ({"HX-Request": "true"} if htmx else {}),
            allow_redirects=False,
            name="/t/<id>/comments/ [post]",
            catch_response=True,
        ) as response:
            # Accepted: the thread fragment (htmx, 201) or a redirect to the new comment
            # (303); a redirect to the log-in page or anything else is not.
            location = response.headers.get("Location", "")
            if response.status_code == 201 or (
                response.status_code in (302, 303) and "#c-" in location
            ):
                with _acked_lock, ACKED.open("a") as acked:
                    acked.write(f"{marker} {case['public_id']} {response.status_code}\n")
                response.success()
            else:
                response.failure(f"comment not accepted: {response.status_code} {location}")

    def _page(self, path: str, **kwargs):
        """GET a full page and keep its CSRF token (log-in rotates it; every page has one)."""
        response = self.client.get(path, **kwargs)
        if found := CSRF.search(response.text or ""):
            self.csrf = found[1]
        return response

    def _figure(self) -> tuple[dict, dict]:
        case = random.choice(CATALOGUE["imaged"])
        return case, random.choice(case["figures"])
