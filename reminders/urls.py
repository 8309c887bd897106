"""URL routes of the reminders app (trailing slash optional)."""

from django.urls import re_path

from reminders import apis

urlpatterns = [
    re_path(r"^reminders/?$", apis.ReminderListApi.as_view(), name="reminder-list"),
    re_path(r"^reminders/(?P<pk>[0-9]+)/?$", apis.ReminderDetailApi.as_view(), name="reminder-detail"),
]
