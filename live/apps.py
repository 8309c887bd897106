"""A job's live view: its event stream in Redis, written at each transition, and `GET /jobs/{id}/events` (SSE)."""

from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "live"
    verbose_name = "Live job events"

    def ready(self):
        # The job core knows nothing of streams: this app hangs the publisher on
        # the transitions' observer point, in every process (web and workers).
        from jobs import transitions
        from live import events

        transitions.observe("live events", events.transition_observer)
