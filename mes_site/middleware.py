"""The API's edge, before any view runs: NUL characters in the query string and methods an
endpoint does not offer are refused in the documented error format."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.views import APIView

from mes_site.errors import error_body
from mes_site.parsers import NUL_MESSAGE


def offered_methods(view_func) -> list[str] | None:
    """The HTTP methods a DRF view answers, in DRF's ``Allow`` order; None for other views."""
    view_class = getattr(view_func, "cls", None)
    if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
        return None
    actions = getattr(view_func, "actions", None)  # a viewset route: method → action
    if actions:
        offered = {*actions, "options"}
    else:
        offered = {m for m in view_class.http_method_names if hasattr(view_class, m)}
    if "get" in offered:  # Django and DRF answer HEAD with GET
        offered.add("head")
    names = [m for m in view_class.http_method_names if m in offered]
    return [method.upper() for method in names]


class ApiEdgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path.startswith("/api/"):
            bad_parameters = {
                key: [NUL_MESSAGE]
                for key, values in request.GET.lists()
                if "\x00" in key or any("\x00" in value for value in values)
            }
            if bad_parameters:
                return JsonResponse(
                    error_body("invalid", "The request is not valid.", bad_parameters), status=400
                )
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        offered = offered_methods(view_func)
        if offered is None or request.method in offered:
            return None
        response = JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
            status=405,
        )
        response["Allow"] = ", ".join(offered)
        return response
