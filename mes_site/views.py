"""Site-wide views: health check, API docs, error pages."""

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from drf_spectacular.views import SpectacularSwaggerSplitView

from mes_site.errors import RequestTooLarge, error_body


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


class ApiDocsView(LoginRequiredMixin, SpectacularSwaggerSplitView):
    """Swagger UI over the OpenAPI schema, served from local assets, for logged-in users.

    The split view serves Swagger UI's start-up script as a file (``?script``) instead of an
    inline block, and the page's few base styles come from a static stylesheet: nothing on
    the page needs an inline exception to the Content-Security-Policy.
    """

    template_name = "api/swagger_ui.html"


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    """Django's own 400 (a suspicious request, a form body over the upload limit)."""
    if not _wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        too_large = RequestTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return JsonResponse(
            error_body(too_large.code, too_large.message, too_large.detail),
            status=too_large.http_status,
        )
    return JsonResponse(error_body("bad_request", "The request is not valid."), status=400)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            error_body("permission_denied", "You do not have permission to do this."), status=403
        )
    return defaults.permission_denied(request, exception)


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
