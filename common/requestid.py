"""The id of the request being served, or of the request that started the job being run.

A context variable: the web's middleware (scribes.requestid) sets it per request,
the job starter stores it on the row, the runner sets it again while the job
runs, and the logging filter writes it on every line in between.
"""

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
