"""Job status routes; each works with and without a trailing slash."""

from django.urls import re_path

from jobs import apis

urlpatterns = [
    re_path(r"^jobs/?$", apis.JobListApi.as_view(), name="job-list"),
    re_path(r"^jobs/(?P<job_id>[^/]+)/?$", apis.JobDetailApi.as_view(), name="job-detail"),
    re_path(r"^jobs/(?P<job_id>[^/]+)/cancel/?$", apis.JobCancelApi.as_view(), name="job-cancel"),
]
