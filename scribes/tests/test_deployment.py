"""docker/ and the Procfile cannot run here; check what can be checked."""

import json
import shlex
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = shlex.split(command)
    return entries


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def dockerfile_cmd() -> list[str]:
    """The image's default command (the web process), as the Dockerfile's exec-form CMD says."""
    lines = [line for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(lines[-1][len("CMD ") :])


def test_procfile_runs_web_a_worker_per_purpose_and_scheduler_with_existing_commands():
    from common import queues

    entries = procfile()
    assert set(entries) == {"web", "system", "semantic", "scheduler"}
    for purpose in queues.PURPOSES:
        assert entries[purpose][2:] == ["rqworker", "--purpose", purpose]
    commands = get_commands()
    for name in ("system", "semantic", "scheduler"):
        argv = entries[name]
        assert argv[:2] == ["python", "manage.py"]
        assert argv[2] in commands, argv
    # `make run` serves through the same server and worker class as the image.
    web, image = entries["web"], dockerfile_cmd()
    assert web[:2] == image[:2] == ["gunicorn", "scribes.asgi:application"]
    assert web[web.index("--worker-class") + 1] == image[image.index("--worker-class") + 1]
    # Our own rqworker/rqscheduler (project queues), not django-rq's.
    assert commands["rqworker"] == "jobs" and commands["rqscheduler"] == "jobs"


def test_compose_services_healthchecks_and_commands_match_procfile():
    services = compose()["services"]
    assert {"web", "worker-system", "worker-semantic", "scheduler", "postgres", "redis"} <= set(services)
    entries = procfile()
    assert services["worker-system"]["command"] == entries["system"]
    assert services["worker-semantic"]["command"] == entries["semantic"]
    assert services["scheduler"]["command"] == entries["scheduler"]
    assert services["web"]["command"] == dockerfile_cmd()
    for name in ("proxy", "web", "worker-system", "worker-semantic", "scheduler", "postgres", "redis"):
        assert "healthcheck" in services[name], name


def test_only_the_proxy_is_published_and_the_app_trusts_exactly_one_proxy():
    services = compose()["services"]
    assert "ports" not in services["web"]
    assert services["proxy"]["ports"] == ["8000:80"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    assert services["web"]["environment"]["NUM_PROXIES"] == "1"
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    assert "server web:8000;" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf


@pytest.mark.parametrize("service", ["worker-system", "worker-semantic"])
def test_workers_get_warm_shutdown_and_a_grace_period_longer_than_a_job(service):
    from django.conf import settings

    worker = compose()["services"][service]
    assert worker["init"] is True  # tini signals the main process only
    assert worker["stop_signal"] == "SIGTERM"
    grace = worker["stop_grace_period"]
    assert grace.endswith("m") and int(grace[:-1]) * 60 > settings.JOB_TIMEOUT


def test_dockerfile_uses_slim_python_non_root_and_gunicorn():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER scribes" in text
    assert "gunicorn" in text
    env_example = (ROOT / "docker" / ".env.example").read_text()
    for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DEBUG"):
        assert f"\n{key}=" in "\n" + env_example
