"""gunicorn settings for CaseViewer (`gunicorn -c gunicorn.conf.py caseviewer.wsgi`).

Environment: HOST, PORT, WORKERS, GUNICORN_TIMEOUT. Sync workers: image renders are
CPU-bound and short, and the audience's polling is mostly answered with quick 304s.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WORKERS", "3"))
worker_class = "sync"
# A request taking longer than this is stuck: the worker is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never grows; jitter avoids all at once. Not
# often: a new worker costs CPU to start and begins with cold caches (decoded slices,
# published stacks), and a worker serving images would otherwise restart every few seconds.
max_requests = 50_000
max_requests_jitter = 5_000
# Django logs every request as JSON (caseviewer.operations); gunicorn logs its own errors.
accesslog = None
errorlog = "-"
loglevel = "info"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
