"""The one list of RQ queue names: settings, tasks, rqworker and the checks all read it.

Nothing else in the code base spells a queue name. The old service enqueued to
ARQ's default queue while its worker listened on another; here the API, the worker
and the scheduler all derive their queue from this module, and `jobs.checks`
fails at startup when `RQ_QUEUES` disagrees with it.
"""

import os

#: The queue every Scribes job runs on (`SCRIBES_QUEUE`, default "scribes").
DEFAULT = os.environ.get("SCRIBES_QUEUE", "").strip() or "scribes"

#: All project queues, in the order a worker should poll them.
ALL: tuple[str, ...] = (DEFAULT,)
