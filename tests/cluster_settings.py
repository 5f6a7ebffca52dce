"""Settings for the app servers tests/test_cluster.py starts: static files by plain names.

The tests run without ``collectstatic``; the fingerprinting storage is exercised by
tests/test_static.py.
"""

from caseviewer.settings import *  # noqa: F403

STORAGES = STORAGES | {  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
}
