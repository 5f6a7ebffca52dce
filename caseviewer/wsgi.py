"""WSGI entry point for gunicorn: caseviewer.wsgi:application."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseviewer.settings")
application = get_wsgi_application()
