"""URL routes of the semantic app."""

urlpatterns: list = []
