"""/metrics: how late reminders went out (a histogram), how many wait late, and whether delivery works."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis.exceptions import RedisError

from reminders.models import Reminder, ReminderStatus

#: Upper bounds (seconds): the sweep runs every minute by default, so most land under 60; the longer
#: bounds show a sweep that stopped or fell behind.
BOUNDS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600, 24 * 3600)


class ReminderLatenessCollector:
    """One aggregate query over sent reminders: a count per bound, the total and the sum."""

    def collect(self):
        late = ExpressionWrapper(F("sent_at") - F("scheduled_at"), output_field=DurationField())
        counts = (
            Reminder.objects.filter(status=ReminderStatus.SENT, sent_at__isnull=False)
            .annotate(late=late)
            .aggregate(
                total=Count("pk"),
                seconds=Sum("late"),
                **{f"le_{bound}": Count("pk", filter=Q(late__lte=timedelta(seconds=bound))) for bound in BOUNDS},
            )
        )
        histogram = HistogramMetricFamily(
            "scribes_reminder_lateness_seconds", "How long after scheduled_at each sent reminder went out"
        )
        buckets = [(str(bound), counts[f"le_{bound}"]) for bound in BOUNDS] + [("+Inf", counts["total"])]
        seconds = counts["seconds"].total_seconds() if counts["seconds"] is not None else 0.0
        histogram.add_metric([], buckets, seconds)
        yield histogram


class ReminderDeliveryCollector:
    """Delivery's own signals: failing sweeps in a row and refused/sent counts (from Redis,
    reminders/delivery_health.py), and pending reminders more than one sweep interval late."""

    def collect(self):
        from reminders.delivery_health import delivery_state
        from reminders.selectors import reminder_late_count

        yield GaugeMetricFamily(
            "scribes_reminders_late",
            "Pending reminders more than one sweep interval past scheduled_at",
            value=reminder_late_count(),
        )
        try:
            state = delivery_state()
        except RedisError:
            return  # the series go missing; absent() rules and the Redis alerts say why
        yield GaugeMetricFamily(
            "scribes_reminder_delivery_failing_ticks",
            "Consecutive reminder sweeps that tried to send and got nothing through",
            value=state["consecutive_failing"],
        )
        yield CounterMetricFamily(
            "scribes_reminder_delivery_failures",
            "Reminder sends the mail server refused or that failed (since Redis last lost its data)",
            value=state["failures_total"],
        )
        yield CounterMetricFamily(
            "scribes_reminder_delivery_sent",
            "Reminders handed to the mail server (since Redis last lost its data)",
            value=state["sent_total"],
        )
