# The single source of how to do things here. `make demo` and `make test` are all a fresh
# clone needs; CI runs .ci/run, which calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= 3

.PHONY: demo test serve worker sse install install-dev chromium migrate static lint format bench clean
.PHONY: check-deploy test-redis bench-conference-push bench-load dicom-listen orthanc bench-dicom-receive haproxy cluster bench-cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's HAProxy, the balancer of `make cluster` and `make bench-cluster`, and of the push
# stream's browser test.
haproxy:
	@if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq haproxy; \
	fi

# Debian's Chromium for the browser tests (never a downloaded browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-dejavu-core; \
	fi

migrate: install
	$(BIN)/python manage.py migrate --noinput

static: install
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

# gunicorn in the foreground, with the background worker (notification e-mails) beside it;
# Ctrl-C stops both.
GUNICORN := HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) $(BIN)/gunicorn -c gunicorn.conf.py caseviewer.wsgi:application
WITH_WORKER := $(BIN)/python manage.py worker --verbosity 0 & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM;

demo: migrate static
	$(BIN)/python manage.py load_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	$(WITH_WORKER) $(GUNICORN)

serve: migrate static
	$(WITH_WORKER) $(GUNICORN)

# The conference's push stream (server-sent events fed by Redis pub/sub) on SSE_PORT; the
# balancer sends /c/<code>/events/ here. Needs REDIS_URL; without it the room polls.
SSE_PORT ?= 8001
sse: install
	$(BIN)/uvicorn cases.conference.stream:app --host $(HOST) --port $(SSE_PORT) --no-access-log

# The background worker alone (production runs one or more beside the app servers).
worker: migrate
	$(BIN)/python manage.py worker

# axe-core for the accessibility browser tests, from the npm registry into .cache/node.
AXE := .cache/node/node_modules/axe-core/axe.min.js
$(AXE):
	@if ! command -v npm >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm; \
	fi
	npm install --no-save --no-audit --no-fund --prefix .cache/node axe-core@4

# Debian's Orthanc with its DICOMweb plugin (the PACS the DICOM receiver's tests send from) and
# its Web Viewer (what bench-viewer-browser measures ours against).
orthanc:
	@if [ ! -x /usr/sbin/Orthanc ] || [ ! -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] \
		|| [ ! -e /usr/share/orthanc/plugins/libOrthancWebViewer.so ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq orthanc orthanc-dicomweb orthanc-webviewer; \
	fi

# The DICOM receiver (Storage SCP) into the inbox; DICOM_PORT, DICOM_AE_TITLE, DICOM_BIND and
# DICOM_ALLOWED_AES from the environment. Runs beside `make serve` until Ctrl-C.
dicom-listen: migrate
	$(BIN)/python manage.py dicom_listen

test: install-dev chromium orthanc haproxy $(AXE)
	$(BIN)/python -m pytest

# `check --deploy` as production sees it: run it with the production environment set (CI
# sets an example one); with the laptop defaults it rightly complains.
check-deploy: install
	$(BIN)/python manage.py check --deploy --fail-level WARNING

# The Redis-backed tests against the Redis at REDIS_URL (fails if none answers).
test-redis: install-dev
	REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/15}" $(BIN)/python -m pytest -m redis

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

# Load and fault benchmark (bench/load/run.py, figures printed, not a test): gunicorn with 3
# workers on a scratch SQLite database, 50 locust users for 3 minutes, then the same while a
# worker is killed every 20 s. About 8 minutes. BENCH_ARGS="--load --duration 60" etc.
bench-load: $(VENV)/.installed-bench
	$(BIN)/python bench/load/run.py $(BENCH_ARGS)

# The conference's push against polling (bench/conference_push.py, figures printed): 300
# members on two gunicorn servers, the stream under uvicorn, Redis db 14; the new screen in
# the stream's event, the event then a GET, and polling. About two minutes.
bench-conference-push: install-dev
	$(BIN)/python bench/conference_push.py $(BENCH_ARGS)

# Two gunicorn app servers behind HAProxy on http://$(HOST):$(PORT)/, sharing the machine's
# PostgreSQL (a scratch database) and Redis (db 14) and a SeaweedFS bucket started here, with
# a background worker; the demo library loaded. Ctrl-C stops it and drops the database.
# CLUSTER_POSTGRES_URL, CLUSTER_REDIS_URL name other servers.
cluster: install-dev haproxy
	$(BIN)/python bench/cluster.py --serve --port $(PORT)

# The cluster's checks and figures (bench/cluster.py): upload on A renders on B, unpublish on
# A stops B, renders/s with media on SeaweedFS against local disk, the conference pushed to
# 300 members through the balancer (SSE and polling), SIGKILL of A under load.
# CLUSTER_PUSH_ARGS passes options to the push bench (e.g. "--clients 100").
bench-cluster: install-dev haproxy
	$(BIN)/python bench/cluster.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf staticfiles test-artifacts .pytest_cache .cache/node

# Library speed at 100 and 10,000 cases (figures printed, not a timed test), on SQLite and
# on PostgreSQL (BENCH_POSTGRES_URL; the bench creates and drops its own scratch database).
.PHONY: bench-library bench-viewer bench-viewer-browser bench-study-browser bench-conference bench-ingest bench-measure bench-reformat deid-table
bench: bench-viewer bench-measure bench-reformat bench-conference bench-conference-push bench-library bench-ingest bench-load bench-cluster

# Viewer renders through gunicorn against whitenoise's static ceiling (and Orthanc when the
# Debian package is installed); figures printed, not a timed test.
bench-viewer: install
	$(BIN)/python bench/viewer.py

# Measurements: an uncached render with each kind against a plain one, and the HU readout as
# a request per pointer pause against the slice's values shipped once (figures printed).
bench-measure: install
	$(BIN)/python bench/measure.py

# Reformats: an uncached coronal and sagittal slice of the head CT against an axial one
# (target ≤ 3x), the volume's build, and a reformatted scroll (figures printed).
bench-reformat: install
	$(BIN)/python bench/reformat.py

# The viewer in Chromium at 1440x900: first slice, a step with the stack held, bursts of key
# steps at 60/s, a preset change, window-drag renders per second, and the same for the Orthanc
# Web Viewer (figures printed).
bench-viewer-browser: install-dev chromium orthanc
	$(BIN)/python bench/viewer_browser.py

# The study view in Chromium: a step in one of two linked viewports to the other drawn, a
# burst of 27 steps at 60/s followed, the reference line on a coronal (figures printed).
bench-study-browser: install-dev chromium
	$(BIN)/python bench/study_browser.py

# 300 audience members polling a live conference for 60 s, on the database, then on Redis.
bench-conference: install
	$(BIN)/python bench/conference.py
	REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/15}" $(BIN)/python bench/conference.py --redis

# Peak memory (RSS, a subprocess per import) of the worst imports (a deflated DICOM bomb, a
# bundle of large radiographs, the demo head CT) against a small one; fails over 512 MB.
bench-ingest: install-dev
	$(BIN)/python bench/ingest_memory.py

# The DICOM receiver against Orthanc: a 500-instance CT series from one client into each.
bench-dicom-receive: install-dev orthanc
	$(BIN)/python bench/dicom_receive.py

# Regenerate cases/imaging/deid_table.py (PS3.15 Table E.1-1) from dicom-anonymizer.
deid-table: install-dev
	$(BIN)/python -m cases.imaging.deid_table_build
	$(BIN)/ruff format cases/imaging/deid_table.py

bench-library: install
	$(BIN)/python bench/library.py
	DATABASE_URL="$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}" $(BIN)/python bench/library.py
