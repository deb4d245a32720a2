from __future__ import annotations

from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import api_errors


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for load balancers and compose: is the database reachable?"""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready", whatever its type
        return JsonResponse({"status": "unavailable", "database": str(exc.__class__.__name__)}, status=503)
    return JsonResponse({"status": "ok"})


api_v1: list[URLPattern | URLResolver] = [
    path("auth/", include("accounts.urls")),
    path("", include("questions.urls")),
    path("", include("grader.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("lti/", include("lti.urls")),
    path("healthz/", healthz, name="healthz"),
    path("", include("pages.urls")),
]

handler400 = api_errors.api_bad_request
handler404 = api_errors.api_not_found
handler500 = api_errors.api_server_error
