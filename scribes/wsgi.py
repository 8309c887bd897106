"""WSGI entry point (gunicorn in docker/)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
application = get_wsgi_application()
