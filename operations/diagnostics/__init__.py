"""The jobs app's diagnostics for `manage.py doctor`, registered on import (JobsConfig.ready).

Each replaces a recipe of the old troubleshooting guide (redis-cli, SQL, ps). They
read settings and Redis lazily, so importing them stays cheap. Registration order
is the report's order: the services first, then the state they hold.
"""

from operations.diagnostics.infrastructure import check_database, check_redis, check_scheduler, check_workers
from operations.diagnostics.state import check_jobs, check_paused_queues, check_queue_lengths, check_redis_key_types

__all__ = [
    "check_database",
    "check_jobs",
    "check_paused_queues",
    "check_queue_lengths",
    "check_redis",
    "check_redis_key_types",
    "check_scheduler",
    "check_workers",
]
