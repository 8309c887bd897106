"""Notes URLs (with and without a trailing slash)."""

from django.urls import re_path

from notes import apis

urlpatterns = [
    re_path(r"^notes/?$", apis.NoteListApi.as_view(), name="note-list"),
    re_path(r"^notes/(?P<pk>[0-9]+)/?$", apis.NoteDetailApi.as_view(), name="note-detail"),
]
