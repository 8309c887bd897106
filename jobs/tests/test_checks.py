"""Each jobs.E0xx check fires on the misconfiguration it names, and only then."""

import pytest

from common import queues
from jobs import checks
from jobs.registry import _REGISTRY
from jobs.runner import tracked_task


def ids(errors):
    return [error.id for error in errors]


def test_project_settings_pass_all_checks():
    for check in (
        checks.check_task_queues,
        checks.check_project_queues_configured,
        checks.check_redis_settings,
        checks.check_worker_class,
    ):
        assert check(None) == []


def test_task_on_unknown_queue_is_e001():
    try:

        @tracked_task("test_wrong_queue", queue="arq:queue")
        def wrong(job):
            return None

        errors = checks.check_task_queues(None)
        assert ids(errors) == ["jobs.E001"]
        assert "arq:queue" in errors[0].msg and errors[0].hint
    finally:
        _REGISTRY.pop("test_wrong_queue", None)


def test_task_on_a_configured_but_foreign_queue_is_e001(settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "other": {"URL": "redis://localhost:6379/0"}}
    try:

        @tracked_task("test_foreign_queue", queue="other")
        def foreign(job):
            return None

        errors = checks.check_task_queues(None)
        assert ids(errors) == ["jobs.E001"]
        assert "is not a project queue" in errors[0].msg and queues.SEMANTIC in errors[0].hint
    finally:
        _REGISTRY.pop("test_foreign_queue", None)


@pytest.mark.parametrize(
    ("command", "options"), [("rqworker", {"burst": True}), ("rqscheduler", {"register_only": True})]
)
def test_a_task_on_an_unknown_queue_stops_the_processes_at_startup(command, options):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:

        @tracked_task("test_wrong_queue", queue="arq:queue")
        def wrong(job):
            return None

        with pytest.raises(SystemCheckError, match="jobs.E001") as raised:
            call_command(command, skip_checks=False, **options)
        assert "HINT: Declare the task's queue from common.queues" in str(raised.value)
    finally:
        _REGISTRY.pop("test_wrong_queue", None)


def test_rq_queues_without_project_queue_is_e002(settings):
    settings.RQ_QUEUES = {"default": {"URL": "redis://localhost:6379/0"}}
    errors = checks.check_project_queues_configured(None)
    assert ids(errors) == ["jobs.E002"]
    assert queues.SYSTEM in errors[0].msg


def test_missing_redis_settings_is_e003(settings):
    settings.RQ_QUEUES = {name: {"URL": "", "DEFAULT_TIMEOUT": 60} for name in queues.ALL}
    errors = checks.check_redis_settings(None)
    assert ids(errors) == ["jobs.E003"]
    assert "REDIS_URL" in errors[0].hint


def test_bad_redis_scheme_is_e004(settings):
    settings.RQ_QUEUES = {name: {"URL": "http://localhost:6379"} for name in queues.ALL}
    assert ids(checks.check_redis_settings(None)) == ["jobs.E004"]


def test_plain_rq_worker_class_is_e005(settings):
    settings.RQ = {**settings.RQ, "WORKER_CLASS": "rq.Worker"}
    assert ids(checks.check_worker_class(None)) == ["jobs.E005"]
    settings.RQ = {**settings.RQ, "WORKER_CLASS": "rq.SimpleWorker"}
    assert ids(checks.check_worker_class(None)) == ["jobs.E005"]
    settings.RQ = {**settings.RQ, "WORKER_CLASS": "jobs.worker.ScribesSimpleWorker"}
    assert ids(checks.check_worker_class(None)) == []
    settings.RQ = {**settings.RQ, "WORKER_CLASS": "no.such.Worker"}
    assert ids(checks.check_worker_class(None)) == ["jobs.E005"]


def test_secret_key_dev_default_refused_without_debug(settings):
    from scribes.checks import check_secret_key_not_dev_default
    from scribes.settings import DEV_SECRET_KEY

    settings.SECRET_KEY = DEV_SECRET_KEY
    settings.DEBUG = True
    assert check_secret_key_not_dev_default(None) == []
    settings.DEBUG = False
    assert ids(check_secret_key_not_dev_default(None)) == ["scribes.E001"]
    settings.SECRET_KEY = "a-real-secret-" * 4
    assert check_secret_key_not_dev_default(None) == []


def test_checks_stop_rqworker_at_startup(subprocess_env, manage_py):
    import subprocess

    env = {**subprocess_env, "REDIS_URL": ""}
    result = subprocess.run(
        [*manage_py, "rqworker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "jobs.E003" in result.stderr
