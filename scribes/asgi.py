"""ASGI entry point: what gunicorn's uvicorn workers serve (docker/Dockerfile, compose, Procfile)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
# Read by settings: the web process keeps no database connection between requests.
os.environ["SCRIBES_ASGI"] = "1"
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (configured by get_asgi_application)

from scribes.limits import BodyLimitMiddleware  # noqa: E402

#: A body over REQUEST_MAX_BODY_BYTES is a 413 before Django reads (and spools) it.
application = BodyLimitMiddleware(django_application, settings.REQUEST_MAX_BODY_BYTES)
