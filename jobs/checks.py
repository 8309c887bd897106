"""System checks: queue and Redis misconfiguration becomes a startup error with a hint.

They run before runserver, migrate, rqworker and rqscheduler, so the old
failure (API enqueueing to one queue, worker listening on another) cannot start.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string

from common import queues

E001 = "jobs.E001"  # a task declares a queue that is not a configured project queue
E002 = "jobs.E002"  # RQ_QUEUES lacks a project queue
E003 = "jobs.E003"  # Redis settings missing
E004 = "jobs.E004"  # Redis URL unusable
E005 = "jobs.E005"  # worker class would lose the killed-horse handler and banner
E006 = "jobs.E006"  # RQ_QUEUES entries point at different Redis servers


@register(Tags.compatibility, "jobs")
def check_task_queues(app_configs, **kwargs):
    """A task's queue must be a project queue (`common.queues`) that RQ_QUEUES defines.

    Otherwise its jobs wait forever: no `rqworker` (with no arguments or with a
    --purpose) listens on a queue outside `common.queues.ALL`.
    """
    from jobs.registry import all_tasks

    rq_queues = getattr(settings, "RQ_QUEUES", {}) or {}
    errors = []
    for spec in all_tasks():
        if spec.queue not in rq_queues or spec.queue not in queues.ALL:
            where = "RQ_QUEUES does not define" if spec.queue not in rq_queues else "is not a project queue"
            errors.append(
                Error(
                    f"Task {spec.dotted_name} (job type {spec.job_type!r}) enqueues to queue {spec.queue!r}, "
                    f"which {where}; no worker listens on it, so its jobs would wait forever.",
                    hint="Declare the task's queue from common.queues (queues.SYSTEM for short, time-critical "
                    f"work, queues.SEMANTIC[_BULK] for model work); project queues: {', '.join(queues.ALL)}.",
                    id=E001,
                )
            )
    return errors


@register(Tags.compatibility, "jobs")
def check_project_queues_configured(app_configs, **kwargs):
    rq_queues = getattr(settings, "RQ_QUEUES", None) or {}
    missing = [name for name in queues.ALL if name not in rq_queues]
    if missing:
        return [
            Error(
                f"RQ_QUEUES lacks the project queue(s) {', '.join(map(repr, missing))}.",
                hint="Build RQ_QUEUES from common.queues.ALL in settings, as scribes/settings.py does.",
                id=E002,
            )
        ]
    return []


@register(Tags.compatibility, "jobs")
def check_redis_settings(app_configs, **kwargs):
    rq_queues = getattr(settings, "RQ_QUEUES", None) or {}
    # One error per problem, naming every queue it affects (they share REDIS_URL).
    unset, bad_scheme, urls = [], {}, set()
    for name in queues.ALL:
        config = rq_queues.get(name)
        if config is None:
            continue  # E002 reports it
        url = config.get("URL")
        if not url and not any(key in config for key in ("HOST", "UNIX_SOCKET_PATH", "SENTINELS")):
            unset.append(name)
            continue
        if url:
            scheme = urlsplit(url).scheme
            if scheme not in ("redis", "rediss", "unix"):
                bad_scheme.setdefault(scheme, []).append(name)
            urls.add(url)
    errors = []
    if unset:
        errors.append(
            Error(
                f"No Redis server is configured for queue(s) {', '.join(map(repr, unset))} (REDIS_URL is not set).",
                hint="Set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0; "
                "`make run` starts a throwaway redis-server when it is unset.",
                id=E003,
            )
        )
    for scheme, names in bad_scheme.items():
        errors.append(
            Error(
                f"The Redis URL of queue(s) {', '.join(map(repr, names))} has scheme {scheme!r}.",
                hint="Use redis://[:password@]host:port/db, rediss:// for TLS or unix:///path.sock.",
                id=E004,
            )
        )
    if len(urls) > 1:
        errors.append(
            Error(
                "The project queues point at different Redis servers; one worker cannot listen on all of them.",
                hint="Derive every RQ_QUEUES entry from the one REDIS_URL.",
                id=E006,
            )
        )
    return errors


@register(Tags.compatibility, "jobs")
def check_worker_class(app_configs, **kwargs):
    from jobs.worker import ScribesWorkerMixin

    path = (getattr(settings, "RQ", {}) or {}).get("WORKER_CLASS", "rq.Worker")
    try:
        worker_class = import_string(path) if isinstance(path, str) else path
    except ImportError as exc:
        return [
            Error(
                f"RQ WORKER_CLASS {path!r} cannot be imported: {exc}.",
                hint="Use jobs.worker.ScribesWorker.",
                id=E005,
            )
        ]
    if not (isinstance(worker_class, type) and issubclass(worker_class, ScribesWorkerMixin)):
        return [
            Error(
                f"RQ WORKER_CLASS {path!r} is not a Scribes worker: a killed work-horse would leave its job "
                "row 'running', a corrupted Redis key would stop the worker, and it would not print its banner.",
                hint='Set RQ = {"WORKER_CLASS": "jobs.worker.ScribesWorker", ...} (or ScribesSimpleWorker, '
                "without fork), or subclass one.",
                id=E005,
            )
        ]
    return []
