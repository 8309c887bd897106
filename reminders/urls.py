"""URL routes of the reminders app."""

urlpatterns: list = []
