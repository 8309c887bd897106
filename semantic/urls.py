"""URL routes of the semantic app (trailing slash optional)."""

from django.urls import re_path

from semantic import apis

urlpatterns = [
    re_path(
        r"^semantic/regenerate-embeddings/?$",
        apis.RegenerateEmbeddingsApi.as_view(),
        name="semantic-regenerate-embeddings",
    ),
    re_path(r"^semantic/search/?$", apis.SearchApi.as_view(), name="semantic-search"),
]
