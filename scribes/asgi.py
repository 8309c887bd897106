"""ASGI entry point: what gunicorn's uvicorn workers serve (docker/Dockerfile, compose, Procfile)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
application = get_asgi_application()
