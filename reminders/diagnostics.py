"""`manage.py doctor`: when the reminder sweep last ran, when it runs next, what is late."""

from django.utils import timezone

from common.diagnostics import FAIL, OK, WARN, Finding, diagnostic
from jobs.pausing import paused_queues
from jobs.registry import get_task
from reminders.selectors import SWEEP_SCHEDULE_ID, reminder_sweep_status
from reminders.tasks import SWEEP_JOB_TYPE


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


@diagnostic("reminder_sweep")
def reminder_sweep_finding() -> Finding:
    now = timezone.now()
    state = reminder_sweep_status(now=now)
    minutes = state["interval_seconds"] // 60
    data = {
        **state,
        "last_run": state["last_run"].isoformat() if state["last_run"] else None,
        "next_run": state["next_run"].isoformat() if state["next_run"] else None,
    }
    summary = (
        f"last ran {_when(state['last_run'])} ({state['last_status'] or 'no run yet'}), "
        f"next run {_when(state['next_run'])}; {state['late_reminders']} pending reminder(s) "
        f"more than one interval ({minutes} min) past their time"
    )
    sweep_queue = get_task(SWEEP_JOB_TYPE).queue
    pause = paused_queues().get(sweep_queue)
    if pause is not None:
        # The operator chose this: reminders wait, which is a warning, not a failure.
        return Finding(
            "reminder_sweep",
            WARN,
            f"Reminder sweep queue {sweep_queue} is paused by {pause.get('by')} since {pause.get('at')}: "
            f"reminders wait until it is resumed; {summary}.",
            fix=f"`python manage.py queues resume {sweep_queue}` (or Resume on the admin dashboard); "
            "the next sweep then sends every reminder that came due meanwhile.",
            data={**data, "paused": pause},
        )
    if state["next_run"] is None:
        reason = state["schedule_error"] or f"schedule entry {SWEEP_SCHEDULE_ID} is missing"
        return Finding(
            "reminder_sweep",
            FAIL,
            f"Reminder sweep is not scheduled ({reason}); {summary}.",
            fix="Run `python manage.py rqscheduler` (it registers the sweep) and keep it running.",
            data=data,
        )
    if state["overdue"]:
        return Finding(
            "reminder_sweep",
            FAIL,
            f"Reminder sweep has not run for more than two intervals: {summary}.",
            fix="Check that `manage.py rqworker` and `manage.py rqscheduler` are running; "
            "`manage.py sweep_reminders` sends the due reminders now.",
            data=data,
        )
    if state["last_run"] is None and state["next_run"] > now:
        # A fresh install: the first tick is not due yet, nothing is wrong.
        return Finding("reminder_sweep", OK, f"Reminder sweep: first run due {_when(state['next_run'])}.", data=data)
    if state["last_run"] is None or state["late_reminders"]:
        return Finding(
            "reminder_sweep",
            WARN,
            f"Reminder sweep: {summary}.",
            fix="Late reminders are retried with backoff or wait for a worker; see the Reminder admin.",
            data=data,
        )
    return Finding("reminder_sweep", OK, f"Reminder sweep: {summary}.", data=data)


@diagnostic("reminder_delivery")
def reminder_delivery_finding() -> Finding:
    from redis.exceptions import RedisError

    from reminders.delivery_health import delivery_state

    try:
        state = delivery_state()
    except RedisError as exc:
        return Finding("reminder_delivery", WARN, f"Reminder delivery state unreadable (Redis: {exc}).")
    streak = state["consecutive_failing"]
    if not streak:
        return Finding(
            "reminder_delivery",
            OK,
            f"Reminder delivery: the last sweep that sent anything got its mail through "
            f"({state['sent_total']} sent, {state['failures_total']} refused since Redis started).",
            data=state,
        )
    fix = (
        "Check EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER/EMAIL_HOST_PASSWORD and EMAIL_USE_TLS against the mail "
        "provider, and that the server accepts mail from this host (`python manage.py sendtestemail you@example.com` "
        "shows the server's reply). A 4xx is the provider asking to slow down: lower REMINDER_SEND_RATE. "
        "Reminders wait and are retried; the Reminder admin shows each one's last error."
    )
    message = (
        f"Reminder delivery failing: {streak} sweep(s) in a row sent nothing, since {state['failing_since']}; "
        f"last error: {state['last_error']}"
    )
    return Finding("reminder_delivery", FAIL if state["failing"] else WARN, message, fix=fix, data=state)
