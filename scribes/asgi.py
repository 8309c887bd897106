"""ASGI entry point: what gunicorn's uvicorn workers serve (docker/Dockerfile, compose, Procfile).

One process, two doors (chosen by measurement: docs/PERFORMANCE.md):
a job's event stream (`GET /jobs/{id}/events`, an async view that holds a socket,
no thread and no database connection while it waits) goes to Django's ASGI
handler; every other request goes to Django's WSGI handler, run in a fixed pool
of WEB_THREADS threads (scribes/wsgipool.py). Django's ASGI handler runs each
request's sync code (every API view here) in a thread of its own, created for
that request; the fixed pool reuses its threads, which was what the API lacked
against the classic threaded WSGI deployment.
"""

import os
import re

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
# Read by settings: the web process borrows its database connections from the pool.
os.environ["SCRIBES_ASGI"] = "1"
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (configured by get_asgi_application)
from django.core.wsgi import get_wsgi_application  # noqa: E402

from scribes.limits import BodyLimitMiddleware  # noqa: E402
from scribes.wsgipool import ThreadPoolWSGI  # noqa: E402

#: The paths served by the ASGI handler: live/urls.py's event stream (`job-events`).
STREAM_PATH = re.compile(r"^/jobs/[^/]+/events/?$")
#: Threads that run the API's (sync) views (settings.WEB_THREADS).
WEB_THREADS = settings.WEB_THREADS

#: The body is read on the event loop first: a client stalling mid-body holds no thread.
wsgi_application = ThreadPoolWSGI(
    get_wsgi_application(), threads=WEB_THREADS, max_memory=settings.FILE_UPLOAD_MAX_MEMORY_SIZE
)


async def routed_application(scope, receive, send):
    if scope["type"] == "http" and not STREAM_PATH.match(scope["path"]):
        return await wsgi_application(scope, receive, send)
    return await django_application(scope, receive, send)


#: A body over REQUEST_MAX_BODY_BYTES is a 413 before Django reads (and spools) it.
application = BodyLimitMiddleware(routed_application, settings.REQUEST_MAX_BODY_BYTES)
#: Every request through Django's ASGI handler: the layout the measurement replaced, kept for
#: bench/load.py and bench/live.py only (on SQLite it would keep a file open per request thread).
asgi_only_application = BodyLimitMiddleware(django_application, settings.REQUEST_MAX_BODY_BYTES)
