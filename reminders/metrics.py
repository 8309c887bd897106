"""/metrics: how late reminders went out (sent - scheduled_at), as a Prometheus histogram."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import HistogramMetricFamily

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
