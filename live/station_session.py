"""A badge/PIN session belongs to one HMI station (docs/live.md "Station login").

For such a session every request sees the plant through the station's line only
(``mes_site.scope.scope_narrow_to_station``), and reaches only what that station's HMI uses:
its page and body fragment, the API commands the HMI sends (work orders, operations, alerts,
stop reasons, quantity reports) and logging out. Another page redirects to the station; another
API route is a 403 ``station_session``. The websocket consumer narrows the same way.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from mes_site.errors import error_body
from mes_site.scope import scope_narrow_to_station

# The API routes the HMI's script calls (static/js/hmi.js).
STATION_API_PREFIXES = (
    "/api/production/work-orders/",
    "/api/production/operations/",
    "/api/production/alerts/",
    "/api/production/state-intervals/",
    "/api/live/operations/",
)


class StationSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        session = getattr(request, "session", None)
        station = scope_narrow_to_station(getattr(request, "user", None), session)
        if station is not None and not self._allowed(request.path, station):
            return self._refusal(request, station)
        return self.get_response(request)

    @staticmethod
    def _allowed(path: str, station: dict) -> bool:
        station_page = reverse("hmi-station", args=[station["equipment_id"]])
        return (
            path.startswith(station_page)
            or path == reverse("logout")
            or path.startswith(settings.STATIC_URL)
            or path.startswith(STATION_API_PREFIXES)
        )

    @staticmethod
    def _refusal(request: HttpRequest, station: dict):
        message = "This is a station login: it reaches only its station's HMI."
        if request.path.startswith("/api/"):
            body = error_body("station_session", message, {"equipment_id": station["equipment_id"]})
            return JsonResponse(body, status=403)
        if request.method in {"GET", "HEAD"}:
            return redirect("hmi-station", station["equipment_id"])
        return HttpResponseForbidden(message)
