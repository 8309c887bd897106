"""WSGI entry point, kept for in-process tools (the schema fuzzing); the web process runs scribes.asgi."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
application = get_wsgi_application()
