"""ASGI entry point: what gunicorn's uvicorn workers serve (docker/Dockerfile, compose, Procfile)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
# Read by settings: the web process keeps no database connection between requests.
os.environ["SCRIBES_ASGI"] = "1"
application = get_asgi_application()
