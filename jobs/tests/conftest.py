"""Fixtures shared by the jobs tests that run real workers and the reconciler."""

import pytest


@pytest.fixture
def fast_reconciler(settings):
    """Seconds instead of minutes: 1 s busy heartbeat, 3 s grace, no reconcile grace."""
    settings.RQ_JOB_MONITORING_INTERVAL = 1
    settings.JOBS_HEARTBEAT_GRACE = 3
    settings.JOBS_RECONCILE_GRACE = 0
    return settings
