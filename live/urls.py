"""The live event stream route; it works with and without a trailing slash."""

from django.urls import re_path

from live import apis

urlpatterns = [
    re_path(r"^jobs/(?P<job_id>[^/]+)/events/?$", apis.job_events, name="job-events"),
]
