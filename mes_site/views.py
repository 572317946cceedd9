"""Site-wide views: the supervisor dashboard (home), health check, API docs, error pages."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.views import SpectacularSwaggerView

from production import selectors
from production.selectors import live
from production.views import dashboard_context, site_param


@login_required
@ensure_csrf_cookie
def supervisor_home(request: HttpRequest) -> HttpResponse:
    """The supervisor dashboard of one site (``?site=<id>``, else the first in scope).

    Every panel is also served alone by ``production.views.panel_fragment``; the page's
    script re-fetches a panel when a live event says it changed.
    """
    site = live.dashboard_site_get(user=request.user, site_id=site_param(request))
    if site is None:
        return render(
            request, "supervisor/dashboard.html", {"site": None, "plant_tree": [], "panels": []}
        )
    context = dashboard_context(user=request.user, site=site)
    context["sites"] = list(selectors.site_list(user=request.user).order_by("code"))
    context["live_targets"] = _live_targets(request.user, site)
    return render(request, "supervisor/dashboard.html", context)


def _live_targets(user, site) -> list[str]:
    """The groups the dashboard listens to: the site (when in scope) and its lines.

    Services send line-level news to line groups (and site-level news to the site), so the
    dashboard needs no equipment group: a plant of a thousand machines is a few subscriptions.
    """
    lines = selectors.line_list(user=user).filter(area__site=site).values_list("id", flat=True)
    targets = [f"line.{line_id}" for line_id in lines]
    scope = selectors.scope_get(user)
    if scope.is_unrestricted or site.pk in scope.site_ids:
        targets.insert(0, f"site.{site.pk}")
    return targets


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
