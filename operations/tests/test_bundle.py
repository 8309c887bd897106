"""`doctor --bundle`: one archive with findings, versions, settings, queues and failures, and no secret in it."""

import json
import tarfile

import pytest
from django.core.management import CommandError, call_command

from jobs.models import BackgroundJob, JobStatus
from operations.bundle import mask_settings_value, mask_text

pytestmark = pytest.mark.django_db

SECRET_KEY = "django-insecure-THE-SECRET-KEY-value-1234567890"
SECRETS = {
    "EMAIL_HOST_PASSWORD": "smtp-pass-word-5678",
    "METRICS_TOKEN": "metrics-token-abcdef",
    "SOME_API_KEY": "api-key-zyxw-9876",
    "SENTRY_DSN": "https://dsnkey123@o1.ingest.example.com/42",
}


def _read(path):
    with tarfile.open(path) as archive:
        return {
            member.name.split("/", 1)[1]: archive.extractfile(member).read().decode() for member in archive.getmembers()
        }


def test_bundle_has_every_part_and_no_secret(redis_conn, settings, tmp_path, user):
    from scribes.services import user_token_issue

    settings.SECRET_KEY = SECRET_KEY
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.CACHES = {"default": {"BACKEND": "x", "LOCATION": "redis://:cache-pass-4321@cache:6379/1"}}
    token, _ = user_token_issue(user=user)
    BackgroundJob.objects.create(
        job_type="semantic_regenerate",
        rq_job_id="r",
        queue="scribes",
        status=JobStatus.FAILED,
        error_message="ValueError: boom",
        error_traceback="Traceback (most recent call last):\n  ...\n"
        f"ValueError: boom at redis://:tb-pass-1111@h/0 {SECRET_KEY}",
        log="step 1\nstep 2",
    )
    path = tmp_path / "bundle.tar.gz"
    with pytest.raises(CommandError):  # no worker, no scheduler here: doctor fails, the bundle is still written
        call_command("doctor", "--bundle", str(path))
    files = _read(path)
    assert set(files) >= {"README.txt", "doctor.json", "versions.json", "settings.json", "queues.json", "failures.json"}

    everything = "\n".join(files.values())
    for secret in [SECRET_KEY, *SECRETS.values(), "cache-pass-4321", "tb-pass-1111", token, "pw-alice-123"]:
        assert secret not in everything, secret
    assert "dsnkey123" not in everything

    versions = json.loads(files["versions.json"])
    assert versions["django"] and versions["rq"] and versions["redis_server"] and versions["database_server"]
    assert any(line.lower().startswith("django==") for line in versions["packages"])
    (failure,) = json.loads(files["failures.json"])
    assert failure["error_traceback"].startswith("Traceback") and failure["log"] == "step 1\nstep 2"
    assert json.loads(files["settings.json"])["SECRET_KEY"] == "***"
    assert any(finding["name"] == "redis" for finding in json.loads(files["doctor.json"]))
    assert "workers" in json.loads(files["queues.json"])


def test_masking_by_name_by_url_and_by_value():
    databases = {"default": {"ENGINE": "postgresql", "NAME": "scribes", "PASSWORD": "db-pass", "USER": "u"}}
    masked = mask_settings_value("DATABASES", databases, secrets=[])
    assert masked["default"]["PASSWORD"] == "***" and masked["default"]["USER"] == "u"
    assert mask_settings_value("REDIS_URL", "redis://:pw@h:6379/0", secrets=[]) == "redis://:***@h:6379/0"
    assert mask_settings_value("DEFAULT_AUTO_FIELD", "django.db.models.BigAutoField", secrets=[]).endswith("Field")
    assert (
        mask_text('url "postgres://u:p%40ss@db/x" and s3cr3t-value', ["s3cr3t-value"])
        == 'url "postgres://u:***@db/x" and ***'
    )


def test_bundle_masks_secrets_in_url_queries_is_owner_only_and_carries_redis_info_and_log_tails(
    redis_conn, settings, tmp_path
):
    import os
    import stat

    settings.REDIS_URL = "redis://cache.internal:6379/0?password=redis-query-pass-1&db=0"
    settings.DATABASE_URL = "postgres://app:db-userinfo-pass-2@db:5432/scribes?sslmode=require&password=db-query-pass-3"
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "worker.log").write_text(
        "".join(f"line {i}\n" for i in range(1000)) + "connecting to redis://h:6379/0?password=log-pass-4 failed\n"
    )
    settings.LOG_DIR = str(logs)
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(b"old")
    path.chmod(0o644)  # an existing world-readable file is made owner-only too
    with pytest.raises(CommandError):
        call_command("doctor", "--bundle", str(path))

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    files = _read(path)
    everything = "\n".join(files.values())
    for secret in ["redis-query-pass-1", "db-userinfo-pass-2", "db-query-pass-3", "log-pass-4"]:
        assert secret not in everything, secret
    assert "password=***" in files["settings.json"] and "sslmode=require" in files["settings.json"]
    info = json.loads(files["redis_info.json"])
    assert set(info) == {"server", "memory", "clients", "persistence"}
    assert info["server"]["redis_version"] and "used_memory" in info["memory"]
    tail = files["logs/worker.log"].splitlines()
    assert len(tail) == 500 and tail[0] == "line 501" and tail[-1].endswith("password=*** failed")


def test_doctor_prints_no_password_given_as_a_url_query_parameter(redis_conn, settings, capsys):
    settings.REDIS_URL = "redis://127.0.0.1:6379/9?password=doctor-query-pass"
    with pytest.raises(CommandError):
        call_command("doctor")
    out = capsys.readouterr()
    assert "doctor-query-pass" not in out.out + out.err
    assert "password=***" in out.out
