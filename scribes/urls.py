"""URL map. API paths work with and without a trailing slash (APPEND_SLASH is off)."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from operations.metrics import metrics_view
from scribes import apis

urlpatterns = [
    re_path(r"^auth/register/?$", apis.RegisterApi.as_view(), name="auth-register"),
    re_path(r"^auth/token/?$", apis.TokenApi.as_view(), name="auth-token"),
    re_path(r"^auth/logout/?$", apis.LogoutApi.as_view(), name="auth-logout"),
    re_path(r"^auth/logout-all/?$", apis.LogoutAllApi.as_view(), name="auth-logout-all"),
    re_path(r"^health/?$", apis.HealthApi.as_view(), name="health"),
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    path("", include("notes.urls")),
    path("", include("jobs.urls")),
    path("", include("live.urls")),
    path("", include("semantic.urls")),
    path("", include("reminders.urls")),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "scribes.handlers.json_bad_request"
handler403 = "scribes.handlers.json_permission_denied"
handler404 = "scribes.handlers.json_not_found"
handler500 = "scribes.handlers.json_server_error"
