"""Site-wide views: health check, API docs, error pages."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.views import SpectacularSwaggerView


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


class ApiDocsView(LoginRequiredMixin, SpectacularSwaggerView):
    """Swagger UI over the OpenAPI schema, served from local assets, for logged-in users."""


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {"code": "not_found", "message": "No such resource.", "detail": {}}, status=404
        )
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {"code": "server_error", "message": "Something went wrong on our side.", "detail": {}},
            status=500,
        )
    return render(request, "errors/500.html", status=500)
