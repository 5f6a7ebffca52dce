"""WSGI entry point for gunicorn: caseviewer.wsgi:application.

Django's application, with images of published stacks answered before its handler
(``cases.imaging.middleware.published_images_wsgi``), as whitenoise answers static files.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseviewer.settings")
application = get_wsgi_application()

from cases.imaging.middleware import published_images_wsgi  # noqa: E402 (needs the apps)

application = published_images_wsgi(application)
