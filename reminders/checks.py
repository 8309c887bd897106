"""System checks for the reminder settings: a bad cron or lease is a startup error with a hint."""

from croniter import croniter
from django.conf import settings
from django.core.checks import Error, Tags, register

E001 = "reminders.E001"  # REMINDER_SWEEP_CRON is not a valid cron expression
E002 = "reminders.E002"  # the claim lease is shorter than a delivery can take
E003 = "reminders.E003"  # in-place retries of temporary refusals could outlast the claim lease


@register(Tags.compatibility, "reminders")
def check_sweep_cron(app_configs, **kwargs):
    cron = settings.REMINDER_SWEEP_CRON
    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        return [
            Error(
                f"REMINDER_SWEEP_CRON={cron!r} is not a five-field cron expression.",
                hint="Use e.g. '*/15 * * * *' (every 15 minutes, UTC).",
                id=E001,
            )
        ]
    return []


@register(Tags.compatibility, "reminders")
def check_claim_lease(app_configs, **kwargs):
    # A lease shorter than one SMTP call would fail live deliveries as "outcome unknown".
    if settings.REMINDER_CLAIM_LEASE_SECONDS < 3 * settings.EMAIL_TIMEOUT:
        return [
            Error(
                f"REMINDER_CLAIM_LEASE_SECONDS={settings.REMINDER_CLAIM_LEASE_SECONDS} is shorter than three "
                f"EMAIL_TIMEOUTs ({settings.EMAIL_TIMEOUT} s).",
                hint="Raise REMINDER_CLAIM_LEASE_SECONDS (default 600) or lower EMAIL_TIMEOUT.",
                id=E002,
            )
        ]
    return []


@register(Tags.compatibility, "reminders")
def check_tempfail_retry(app_configs, **kwargs):
    # A chunk's reminders are stamped "delivery started" before its sends; retries that
    # outlast the lease would let the next sweep fail them as "outcome unknown".
    budget, lease = settings.REMINDER_TEMPFAIL_RETRY_SECONDS, settings.REMINDER_CLAIM_LEASE_SECONDS
    if 2 * budget > lease:
        return [
            Error(
                f"REMINDER_TEMPFAIL_RETRY_SECONDS={budget} is more than half of REMINDER_CLAIM_LEASE_SECONDS={lease}.",
                hint="Keep the in-place retry budget well under the lease (defaults: 40 and 600).",
                id=E003,
            )
        ]
    return []
