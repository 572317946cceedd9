"""Where each role lands, and the pages of the roles that are not the supervisor's.

``/`` sends every role to the page of its daily job: the operator to the HMI (their station
when they have one), maintenance to the work-order board, the planner to the planning page,
quality to its overview; the supervisor and every other role get the dashboard, which stays
open to everyone at ``/dashboard/``. The board and the planning page are built from the
dashboard's panels, so they refresh over the same websocket (static/js/dashboard.js).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from live.selectors.dashboard import dashboard_site_get
from live.selectors.stations import station_list
from live.views import (
    dashboard_context,
    dashboard_live_targets,
    site_param,
    supervisor_home,
)
from mes_site.roles import (
    ROLE_MAINTENANCE,
    ROLE_OPERATOR,
    ROLE_PLANNER,
    ROLE_QUALITY,
    ROLE_SUPERVISOR,
)
from production import selectors

# The role whose page a user lands on, in this order when a user has several roles; the
# supervisor and the admin (and a user with no role) land on the dashboard.
LANDING_ORDER = (ROLE_OPERATOR, ROLE_MAINTENANCE, ROLE_PLANNER, ROLE_QUALITY)
BOARD_PANELS = ("maintenance_board", "health")
PLANNING_PANELS = ("gantt", "work_orders", "dispatch")


def _roles(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def _operator_landing(user) -> str:
    """The operator's station when the scope holds exactly one, else the station list."""
    stations = [station for line in station_list(user=user) for station in line["stations"]]
    if len(stations) == 1:
        return reverse("hmi-station", args=[stations[0]["id"]])
    return reverse("hmi")


def landing_url(user) -> str | None:
    """The page ``user`` lands on, or None for the dashboard (served at ``/`` itself)."""
    roles = _roles(user)
    if user.is_superuser or user.is_staff or ROLE_SUPERVISOR in roles:
        return None  # who decides the automatic actions starts on the dashboard
    role = next((role for role in LANDING_ORDER if role in roles), None)
    if role == ROLE_OPERATOR:
        return _operator_landing(user)
    if role == ROLE_MAINTENANCE:
        return reverse("maintenance-board")
    if role == ROLE_PLANNER:
        return reverse("planning-home")
    if role == ROLE_QUALITY:
        return reverse("quality-overview")
    return None


@login_required
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the page of the user's daily job (see ``landing_url``)."""
    target = landing_url(request.user)
    if target is not None:
        return redirect(target)
    return supervisor_home(request)


def _panel_page(
    request: HttpRequest, template: str, panels: tuple[str, ...], *, page_name: str
) -> HttpResponse:
    site = dashboard_site_get(user=request.user, site_id=site_param(request))
    if site is None:
        return render(request, template, {"site": None, "panels": [], "page_name": page_name})
    context = dashboard_context(user=request.user, site=site, panels=panels)
    context["page_name"] = page_name
    context["sites"] = list(selectors.site_list(user=request.user).order_by("code"))
    context["live_targets"] = dashboard_live_targets(request.user, site)
    return render(request, template, context)


@login_required
@ensure_csrf_cookie
def maintenance_board(request: HttpRequest) -> HttpResponse:
    """Maintenance work orders by state (requested, scheduled, in progress, done lately) with
    their commands, and the machines' health with RUL bands."""
    return _panel_page(request, "maintenance/board.html", BOARD_PANELS, page_name="Maintenance")


@login_required
@ensure_csrf_cookie
def planning_home(request: HttpRequest) -> HttpResponse:
    """The plan (Gantt with what could not be scheduled), the open work orders and the
    dispatch of customer orders."""
    return _panel_page(request, "planning/home.html", PLANNING_PANELS, page_name="Planning")
