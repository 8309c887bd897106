"""WSGI entry point, kept for in-process tools (the schema fuzzing); the web process runs scribes.asgi."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
# Read by settings: a WSGI server's request threads borrow from the PostgreSQL pool (DB_POOL_*).
os.environ.setdefault("SCRIBES_WSGI", "1")
application = get_wsgi_application()
