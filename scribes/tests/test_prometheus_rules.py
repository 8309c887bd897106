"""The alert rules in docker/prometheus/ load, pass their promtool unit tests, and each has a test that fires it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PROMETHEUS = ROOT / "docker" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is missing: `apt-get install prometheus` (make test installs it)"
)


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _alerts() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rules_and_the_config_load():
    checked = _promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout


def test_the_prometheus_config_loads(tmp_path):
    # prometheus.yml names the paths inside the container; check it against copies here.
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "token").write_text("metrics-token\n")
    config = (PROMETHEUS / "prometheus.yml").read_text()
    config = config.replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml"))
    config = config.replace("/run/secrets/metrics_token", str(tmp_path / "token"))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_pass_their_unit_tests():
    tested = _promtool("test", "rules", "tests/alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("alert", [rule["alert"] for rule in _alerts()] if PROMTOOL else [])
def test_each_rule_has_a_unit_test_that_fires_it(alert, tmp_path):
    """With the rule's expression replaced by one that never matches, the unit tests must fail."""
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert:
                rule["expr"] = "vector(1) < 0"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "tests").mkdir()
    shutil.copy(PROMETHEUS / "tests" / "alerts_test.yml", tmp_path / "tests" / "alerts_test.yml")
    tested = _promtool("test", "rules", "tests/alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0, f"no unit test expects {alert} to fire"
    assert re.search(rf"alertname: {alert}\b", tested.stdout + tested.stderr)


@pytest.mark.django_db
def test_the_rules_read_series_that_metrics_exports(client, settings, redis_conn):
    from jobs.models import BackgroundJob, JobStatus
    from operations.job_counters import job_counters_add

    # A counter family with no samples is left out of the text format: give it one.
    job_counters_add(rows=[BackgroundJob(queue="scribes-system", job_type="jobs_reconcile", status=JobStatus.FAILED)])
    settings.METRICS_TOKEN = "metrics-test-token"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-test-token")
    assert response.status_code == 200
    exported = {
        re.sub(r"_total$", "", name) for name in re.findall(r"^# TYPE (\w+) ", response.content.decode(), flags=re.M)
    }
    used = set()
    for rule in _alerts():
        used |= set(re.findall(r"\b((?:scribes|rq)_\w+)", rule["expr"]))
    families = {re.sub(r"_(bucket|total|count|sum)$", "", name) for name in used}
    assert families <= exported, families - exported
