"""The authorization matrix over every route, generated from the URL conf.

``ROUTES`` classifies every route of the project (API and pages; not the admin, which is for
unscoped roles only) with how a line-scoped user is checked on it and why. A route the table
does not know, or a table entry whose route is gone, fails ``test_every_route_is_classified``:
a new route cannot be forgotten. Then, for a supervisor (API token) and an operator scoped to
the line L1 of site s1, with a foreign line L3 on the same site and L2 on the site s2:

- every DETAIL route: the foreign object is 404, its own-line counterpart 200 (so the check
  cannot pass vacuously);
- every unsafe method of a DETAIL or ACTION route on the foreign object: refused (403, 404,
  405) and the row unchanged in the database;
- SITE_LEVEL routes: refused (404) for the user's own site, they would include L3;
- pages: with a foreign id 404 (or a redirect), without an id 200 and no L3 code in the body;
- COMMAND routes that decide for a whole site or area: refused (404) unless the user's scope
  holds the whole site; quality records, maintenance orders, failures and state changes
  cannot be created on an L3 machine (404, or 400 on the ``equipment`` field).

LIST routes are checked by tests/test_scope_leaks.py (generated the same way).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from autonomy.models import ProposedAction
from integration.choices import EventType
from integration.models import WebhookDelivery
from integration.services.events import emit
from integration.services.subscriptions import subscription_create
from inventory.models import (
    Item,
    Location,
    ProcurementRequest,
    Reservation,
    Stock,
    StockMovement,
)
from live.views import PANELS
from maintenance.models import (
    AnomalyEpisode,
    FailureEvent,
    HealthBaseline,
    HealthSnapshot,
    MaintenanceWorkOrder,
    PreventivePlan,
    SensorSuspicion,
)
from planning.models import CustomerOrder, LineCostRates, ScheduleRun
from planning.services.schedule_runs import schedule_run_request
from production import models as m
from quality.models import (
    Capa,
    Characteristic,
    InspectionPlan,
    InspectionResult,
    LotInspection,
    Measurement,
    NonConformance,
    QualityHold,
    VisionResult,
)
from tests.mfa import login_verified
from tests.quality.spc_objects import spc_chart_with_violation
from tests.scope_plant import foreign_build
from traceability.models import Lot, SerialUnit
from traceability.services import Consumed, Consumption, lot_consume, material_consume
from traceability.services.audit import audit_event_record
from workers.models import DeadLetter

pytestmark = pytest.mark.django_db

# How a route is checked for a line-scoped user.
PUBLIC = "public"  # no data of the plant: login, health, schema, CSP reports
OWN_USER = "own user"  # the user's own account: tokens, MFA, PIN
LIST = "list"  # filtered to the scope: tests/test_scope_leaks.py
DETAIL = "detail"  # <pk> of a line-bound object: foreign 404, own 200
ACTION = "action"  # unsafe method on one object: foreign refused, row unchanged
SITE_LEVEL = "site level"  # a whole site's object or figure: refused to a line-scoped user
CATALOG = "catalog"  # plant-wide master data, not bound to a line
COMMAND = "command"  # an unsafe route without an id: its target looked up in scope (see the
# last test for the site-wide ones)
PAGE = "page"  # an HTML page or panel without an id: 200, no L3 code in the body
PAGE_ID = "page with id"  # an HTML page of one equipment: foreign 404
SCRAPER = "scraper"  # machine-to-machine with its own bearer token; no user session or API
# token gets in (tests/workers/test_metrics.py)

# route (regex markers dropped, the pk group written <pk>) -> (kind, object, reason)
ROUTES: dict[str, tuple[str, str | None, str]] = {
    "healthz": (PUBLIC, None, "liveness probe, no plant data"),
    "favicon.ico": (PUBLIC, None, "redirect to the icon"),
    "metrics": (SCRAPER, None, "Prometheus figures of the whole plant: METRICS_BEARER_TOKEN"),
    "csp-report/": (PUBLIC, None, "browsers post CSP violations; stored, never shown"),
    "accounts/login/": (PUBLIC, None, "login form"),
    "accounts/logout/": (PUBLIC, None, "ends the own session"),
    "accounts/mfa/verify/": (OWN_USER, None, "the own second factor"),
    "accounts/mfa/enrol/": (OWN_USER, None, "the own second factor"),
    "accounts/mfa/": (OWN_USER, None, "the own devices"),
    "api/schema/": (PUBLIC, None, "the OpenAPI document, no plant data"),
    "api/docs/": (PUBLIC, None, "the API reference page"),
    "api/production/": (PUBLIC, None, "DRF root: links only"),
    "api/quality/": (PUBLIC, None, "DRF root: links only"),
    "api/maintenance/": (PUBLIC, None, "DRF root: links only"),
    "api/inventory/": (PUBLIC, None, "DRF root: links only"),
    "api/traceability/": (PUBLIC, None, "DRF root: links only"),
    "api/telemetry/": (PUBLIC, None, "DRF root: links only"),
    "api/integration/": (PUBLIC, None, "DRF root: links only"),
    # production: the plant
    "api/production/enterprises/": (CATALOG, None, "one enterprise, above every site"),
    "api/production/enterprises/<pk>/": (CATALOG, None, "one enterprise, above every site"),
    "api/production/sites/": (LIST, None, "sites of the scope"),
    "api/production/sites/<pk>/": (DETAIL, "site", "a site outside the scope is 404"),
    "api/production/areas/": (LIST, None, "areas of the scope"),
    "api/production/areas/<pk>/": (DETAIL, "area", "an area outside the scope is 404"),
    "api/production/lines/": (LIST, None, "lines of the scope"),
    "api/production/lines/<pk>/": (DETAIL, "line", "line-bound"),
    "api/production/cells/": (LIST, None, "cells of the scope"),
    "api/production/cells/<pk>/": (DETAIL, "cell", "line-bound"),
    "api/production/capabilities/": (CATALOG, None, "what machines can do, plant-wide"),
    "api/production/capabilities/<pk>/": (CATALOG, None, "plant-wide"),
    "api/production/equipment/": (LIST, None, "equipment of the scope"),
    "api/production/equipment/<pk>/": (DETAIL, "equipment", "line-bound"),
    "api/production/signals/": (LIST, None, "signals of the scope"),
    "api/production/signals/<pk>/": (DETAIL, "signal", "bound to an equipment"),
    "api/production/products/": (CATALOG, None, "product master, plant-wide"),
    "api/production/products/<pk>/": (CATALOG, None, "product master, plant-wide"),
    "api/production/routings/": (CATALOG, None, "product master, plant-wide"),
    "api/production/routings/<pk>/": (CATALOG, None, "product master, plant-wide"),
    "api/production/operation-templates/": (CATALOG, None, "product master"),
    "api/production/operation-templates/<pk>/": (CATALOG, None, "product master"),
    "api/production/boms/": (CATALOG, None, "bills of materials, product master"),
    "api/production/boms/<pk>/": (CATALOG, None, "bills of materials, product master"),
    "api/production/shift-calendars/": (CATALOG, None, "calendars, shared by sites"),
    "api/production/shift-calendars/<pk>/": (CATALOG, None, "calendars, shared by sites"),
    "api/production/shifts/": (CATALOG, None, "shift patterns of a calendar"),
    "api/production/shifts/<pk>/": (CATALOG, None, "shift patterns of a calendar"),
    "api/production/shift-breaks/": (CATALOG, None, "breaks of a shift pattern"),
    "api/production/shift-breaks/<pk>/": (CATALOG, None, "breaks of a shift pattern"),
    "api/production/planned-downtimes/": (CATALOG, None, "calendar exceptions"),
    "api/production/planned-downtimes/<pk>/": (CATALOG, None, "calendar exceptions"),
    "api/production/downtime-reasons/": (CATALOG, None, "the reason tree, plant-wide"),
    "api/production/downtime-reasons/<pk>/": (CATALOG, None, "the reason tree"),
    "api/production/work-orders/": (LIST, None, "work orders of the scope"),
    "api/production/work-orders/<pk>/": (DETAIL, "workorder", "line-bound"),
    "api/production/work-orders/<pk>/cancel/": (ACTION, "workorder", "state change"),
    "api/production/work-orders/<pk>/complete/": (ACTION, "workorder", "state change"),
    "api/production/work-orders/<pk>/pause/": (ACTION, "workorder", "state change"),
    "api/production/work-orders/<pk>/release/": (ACTION, "workorder", "state change"),
    "api/production/work-orders/<pk>/resume/": (ACTION, "workorder", "state change"),
    "api/production/work-orders/<pk>/start/": (ACTION, "workorder", "state change"),
    "api/production/operations/": (LIST, None, "operations of the scope"),
    "api/production/operations/<pk>/": (DETAIL, "operation", "line-bound"),
    "api/production/operations/<pk>/complete/": (ACTION, "operation", "state change"),
    "api/production/operations/<pk>/consume/": (ACTION, "operation", "books genealogy"),
    "api/production/operations/<pk>/consumption/": (DETAIL, "operation", "line-bound"),
    "api/production/operations/<pk>/pause/": (ACTION, "operation", "state change"),
    "api/production/operations/<pk>/report/": (ACTION, "operation", "books quantities"),
    "api/production/operations/<pk>/resume/": (ACTION, "operation", "state change"),
    "api/production/operations/<pk>/start/": (ACTION, "operation", "state change"),
    "api/production/autonomy/": (LIST, None, "autonomy settings of the scope"),
    "api/production/autonomy/kill-switch/": (COMMAND, None, "site seen whole, else 404"),
    "api/production/autonomy/set/": (COMMAND, None, "site seen whole, else 404"),
    # production: OEE
    "api/production/oee/lines/": (LIST, None, "OEE of the lines in scope"),
    "api/production/oee/lines/<pk>/": (DETAIL, "line", "one line's OEE"),
    "api/production/oee/equipment/": (LIST, None, "OEE of the machines in scope"),
    "api/production/oee/equipment/<pk>/": (DETAIL, "equipment", "one machine's OEE"),
    "api/production/oee/equipment/<pk>/timeline/": (DETAIL, "equipment", "its states"),
    "api/production/oee/areas/": (LIST, None, "empty for a line-scoped user"),
    "api/production/oee/areas/<pk>/": (SITE_LEVEL, "area", "sums every line of the area"),
    "api/production/oee/sites/": (LIST, None, "empty for a line-scoped user"),
    "api/production/oee/sites/<pk>/": (SITE_LEVEL, "site", "sums every line of the site"),
    "api/production/oee/work-orders/<pk>/": (DETAIL, "workorder", "one work order's OEE"),
    "api/production/oee/snapshots/": (LIST, None, "snapshots of the scope"),
    "api/production/oee/snapshots/<pk>/": (DETAIL, "oeesnapshot", "a line's snapshot"),
    "api/production/oee/losses/pareto/": (LIST, None, "scope/scope_id checked, test_scope_leaks"),
    "api/production/oee/losses/six-big-losses/": (LIST, None, "scope/scope_id checked"),
    "api/production/oee/losses/window/": (LIST, None, "site window refused, test_scope_leaks"),
    # production: states, alerts, schedule, dispatch, autonomy
    "api/production/state-intervals/": (LIST, None, "intervals of the scope"),
    "api/production/state-intervals/needs-reason/": (LIST, None, "intervals of the scope"),
    "api/production/state-intervals/<pk>/": (DETAIL, "stateinterval", "machine-bound"),
    "api/production/state-intervals/<pk>/classify/": (ACTION, "stateinterval", "reason"),
    "api/production/alerts/": (LIST, None, "alerts of the scope"),
    "api/production/alerts/<pk>/": (DETAIL, "alert", "machine-bound"),
    "api/production/alerts/<pk>/acknowledge/": (ACTION, "alert", "acknowledges"),
    "api/production/alert-rules/": (CATALOG, None, "rule definitions, plant-wide"),
    "api/production/alert-rules/<pk>/": (CATALOG, None, "rule definitions, plant-wide"),
    "api/production/schedule/gantt/": (LIST, None, "machines of the scope, test_scope_leaks"),
    "api/production/schedule/gantt.svg": (LIST, None, "machines of the scope"),
    "api/production/line-order-events/": (COMMAND, None, "machine looked up in scope"),
    "api/production/schedule-runs/": (LIST, None, "runs in scope; POST: site seen whole"),
    "api/production/schedule-runs/<pk>/": (DETAIL, "schedulerun", "a site's run"),
    "api/production/schedule-runs/<pk>/gantt/": (DETAIL, "schedulerun", "the run's Gantt"),
    "api/production/schedule-runs/<pk>/operations/": (DETAIL, "schedulerun", "its operations"),
    "api/production/customer-orders/": (LIST, None, "orders of the scope"),
    "api/production/customer-orders/dispatch-batch/": (COMMAND, None, "site seen whole"),
    "api/production/customer-orders/<pk>/": (DETAIL, "customerorder", "line-bound"),
    "api/production/customer-orders/<pk>/cancel/": (ACTION, "customerorder", "state change"),
    "api/production/customer-orders/<pk>/dispatch/": (ACTION, "customerorder", "dispatches"),
    "api/production/customer-orders/<pk>/override/": (ACTION, "customerorder", "re-routes"),
    "api/production/line-cost-rates/": (LIST, None, "rates of the lines in scope"),
    "api/production/what-if/actions/<pk>/": (SITE_LEVEL, "proposedaction", "simulates the site"),
    "api/production/what-if/outage/": (COMMAND, None, "simulates the site: seen whole"),
    "api/production/line-cost-rates/<pk>/": (DETAIL, "linecostrates", "one line's rates"),
    "api/production/proposed-actions/": (LIST, None, "site-level: empty for a line scope"),
    "api/production/proposed-actions/<pk>/": (SITE_LEVEL, "proposedaction", "site-level"),
    "api/production/proposed-actions/<pk>/approve/": (ACTION, "proposedaction", "approves"),
    "api/production/proposed-actions/<pk>/reject/": (ACTION, "proposedaction", "rejects"),
    "api/production/proposed-actions/<pk>/revert/": (ACTION, "proposedaction", "reverts"),
    # quality
    "api/quality/characteristics/": (CATALOG, None, "product characteristics"),
    "api/quality/characteristics/<pk>/": (CATALOG, None, "product characteristics"),
    "api/quality/measurements/": (LIST, None, "measurements of the machines in scope"),
    "api/quality/measurements/<pk>/": (DETAIL, "measurement", "machine-bound"),
    "api/quality/inspection-results/": (LIST, None, "results of the machines in scope"),
    "api/quality/inspection-results/<pk>/": (DETAIL, "inspectionresult", "machine-bound"),
    "api/quality/inspection-plans/": (CATALOG, None, "inspection plans of the products"),
    "api/quality/inspection-plans/<pk>/": (CATALOG, None, "inspection plans of the products"),
    "api/quality/inspection-plans/<pk>/sampling/": (CATALOG, None, "a plan's ISO 2859-1 sample"),
    "api/quality/lot-inspections/": (LIST, None, "of the lots in scope"),
    "api/quality/lot-inspections/<pk>/": (DETAIL, "lotinspection", "through its lot"),
    "api/quality/holds/": (LIST, None, "of the lots in scope"),
    "api/quality/holds/<pk>/": (DETAIL, "qualityhold", "through its lot"),
    "api/quality/vision-results/": (LIST, None, "results of the stations in scope"),
    "api/quality/vision-results/pareto/": (LIST, None, "counts of the stations in scope"),
    "api/quality/vision-results/<pk>/": (DETAIL, "visionresult", "station-bound"),
    "api/quality/vision-results/<pk>/review/": (ACTION, "visionresult", "review verdict"),
    "api/quality/ncrs/": (LIST, None, "NCRs of the lines (or sites) in scope"),
    "api/quality/ncrs/<pk>/": (DETAIL, "nonconformance", "line-bound"),
    "api/quality/ncrs/<pk>/contain/": (ACTION, "nonconformance", "holds its lots"),
    "api/quality/ncrs/<pk>/disposition/": (ACTION, "nonconformance", "signed decision"),
    "api/quality/ncrs/<pk>/close/": (ACTION, "nonconformance", "state change"),
    "api/quality/capas/": (LIST, None, "through their NCR"),
    "api/quality/capas/<pk>/": (DETAIL, "capa", "through its NCR"),
    "api/quality/capas/<pk>/root-cause/": (ACTION, "capa", "writes the root cause"),
    "api/quality/capas/<pk>/actions/": (ACTION, "capa", "adds an action"),
    "api/quality/capas/<pk>/complete-action/": (ACTION, "capa", "state change"),
    "api/quality/capas/<pk>/effectiveness/": (ACTION, "capa", "state change"),
    "api/quality/control-charts/": (LIST, None, "charts of the stations in scope"),
    "api/quality/control-charts/<pk>/": (DETAIL, "controlchart", "its station's line"),
    "api/quality/control-charts/<pk>/subgroups/": (DETAIL, "controlchart", "points, entry"),
    "api/quality/control-charts/<pk>/limits/": (DETAIL, "controlchart", "limits, recompute"),
    "api/quality/control-charts/<pk>/capability/": (DETAIL, "controlchart", "its values"),
    "api/quality/rule-violations/": (LIST, None, "violations of the charts in scope"),
    "api/quality/rule-violations/<pk>/": (DETAIL, "ruleviolation", "through its chart"),
    # maintenance
    "api/maintenance/component-parts/": (CATALOG, None, "spare-part catalogue"),
    "api/maintenance/component-parts/<pk>/": (CATALOG, None, "spare-part catalogue"),
    "api/maintenance/work-orders/": (LIST, None, "orders of the scope"),
    "api/maintenance/work-orders/<pk>/": (DETAIL, "maintenanceworkorder", "machine-bound"),
    "api/maintenance/work-orders/<pk>/cancel/": (ACTION, "maintenanceworkorder", "state"),
    "api/maintenance/work-orders/<pk>/complete/": (ACTION, "maintenanceworkorder", "state"),
    "api/maintenance/work-orders/<pk>/schedule/": (ACTION, "maintenanceworkorder", "state"),
    "api/maintenance/work-orders/<pk>/start/": (ACTION, "maintenanceworkorder", "state"),
    "api/maintenance/health/": (LIST, None, "snapshots of the scope"),
    "api/maintenance/health/current/": (LIST, None, "snapshots of the scope"),
    "api/maintenance/health/raw-windows/": (COMMAND, None, "maintenance role; machine"),
    "api/maintenance/health/refresh/": (COMMAND, None, "maintenance role; machine"),
    "api/maintenance/health/<pk>/": (DETAIL, "healthsnapshot", "machine-bound"),
    "api/maintenance/baselines/": (LIST, None, "baselines of the scope"),
    "api/maintenance/baselines/relearn/": (COMMAND, None, "maintenance role; machine"),
    "api/maintenance/baselines/<pk>/": (DETAIL, "healthbaseline", "machine-bound"),
    "api/maintenance/episodes/": (LIST, None, "episodes of the scope"),
    "api/maintenance/episodes/<pk>/": (DETAIL, "anomalyepisode", "machine-bound"),
    "api/maintenance/plans/": (LIST, None, "plans of the scope"),
    "api/maintenance/plans/<pk>/": (DETAIL, "preventiveplan", "machine-bound"),
    "api/maintenance/plans/<pk>/check/": (ACTION, "preventiveplan", "may open an order"),
    "api/maintenance/failure-events/": (LIST, None, "failures of the scope"),
    "api/maintenance/failure-events/<pk>/": (DETAIL, "failureevent", "machine-bound"),
    "api/maintenance/failure-events/<pk>/repair/": (ACTION, "failureevent", "closes it"),
    "api/maintenance/reliability/": (LIST, None, "machines of the scope"),
    "api/maintenance/sensor-suspicions/": (LIST, None, "suspicions of the scope"),
    "api/maintenance/sensor-suspicions/<pk>/": (DETAIL, "sensorsuspicion", "machine-bound"),
    "api/maintenance/sensor-suspicions/<pk>/clear/": (ACTION, "sensorsuspicion", "state"),
    # inventory and traceability: bound to a site (locations) or to nothing (items, lots)
    "api/inventory/items/": (CATALOG, None, "item master"),
    "api/inventory/items/<pk>/": (CATALOG, None, "item master"),
    "api/inventory/items/<pk>/pick/": (CATALOG, None, "item master; picks from stock in scope"),
    "api/inventory/locations/": (LIST, None, "locations of the sites the scope touches"),
    "api/inventory/locations/<pk>/": (DETAIL, "location", "site-bound"),
    "api/inventory/stock/": (LIST, None, "stock at the locations in scope"),
    "api/inventory/stock/<pk>/": (DETAIL, "stock", "at a site's location"),
    "api/inventory/stock/<pk>/count/": (ACTION, "stock", "books an adjustment"),
    "api/inventory/stock/expiring/": (LIST, None, "stock at the locations in scope"),
    "api/inventory/movements/": (LIST, None, "from or to a location in scope"),
    "api/inventory/movements/<pk>/": (DETAIL, "stockmovement", "into a site's location"),
    "api/inventory/reservations/": (LIST, None, "of the stock in scope"),
    "api/inventory/reservations/<pk>/": (DETAIL, "reservation", "of a site's stock"),
    "api/inventory/reservations/<pk>/consume/": (ACTION, "reservation", "books an issue"),
    "api/inventory/reservations/<pk>/release/": (ACTION, "reservation", "frees it"),
    "api/inventory/procurement-requests/": (LIST, None, "of the sites in scope"),
    "api/inventory/procurement-requests/fetch/": (COMMAND, None, "ERP outbox, integration"),
    "api/inventory/procurement-requests/<pk>/": (DETAIL, "procurementrequest", "a site's"),
    "api/inventory/procurement-requests/<pk>/acknowledge/": (
        ACTION,
        "procurementrequest",
        "the ERP's answer",
    ),
    "api/inventory/procurement-requests/<pk>/cancel/": (ACTION, "procurementrequest", "state"),
    "api/traceability/lots/": (LIST, None, "made on a line in scope, or stored at its site"),
    "api/traceability/lots/<pk>/": (DETAIL, "lot", "its line, or its store's site"),
    "api/traceability/lots/<pk>/consume/": (ACTION, "lot", "books genealogy"),
    "api/traceability/lots/<pk>/genealogy/": (DETAIL, "lot", "visible lots only"),
    "api/traceability/lots/<pk>/status/": (ACTION, "lot", "state change"),
    "api/traceability/lots/<pk>/trace/": (DETAIL, "lot", "visible lots only"),
    "api/traceability/serial-units/": (LIST, None, "of the lots in scope"),
    "api/traceability/serial-units/<pk>/": (DETAIL, "serialunit", "through its lot"),
    "api/traceability/serial-units/<pk>/trace/": (DETAIL, "serialunit", "visible lots only"),
    "api/traceability/audit-events/": (LIST, None, "restricted scope: own events only"),
    "api/traceability/recall/": (LIST, None, "follows visible lots only (tests/planning)"),
    "api/traceability/recall/hold/": (COMMAND, None, "holds visible lots only"),
    "api/traceability/audit-events/<pk>/": (DETAIL, "auditevent", "own events only"),
    # telemetry and the HMI's API
    "api/telemetry/signals/<int:signal_id>/series/": (DETAIL, "signal", "a machine's signal"),
    "api/telemetry/equipment/<int:equipment_id>/current-values/": (
        DETAIL,
        "equipment",
        "a machine's live values",
    ),
    "api/telemetry/status/": (CATALOG, None, "ingest counters, no plant objects"),
    "api/telemetry/dead-letters/": (LIST, None, "dead letters of the scope"),
    "api/telemetry/dead-letters/<pk>/": (DETAIL, "deadletter", "bound to its machine"),
    "api/live/operations/<int:operation_id>/report/": (ACTION, "operation", "HMI booking"),
    # integration: webhook subscriptions are bound to a whole site (or to every site)
    "api/integration/webhook-subscriptions/": (LIST, None, "whole sites of the scope only"),
    "api/integration/webhook-subscriptions/<pk>/": (
        SITE_LEVEL,
        "webhooksubscription",
        "a site's event stream: a line-scoped user sees none",
    ),
    "api/integration/webhook-subscriptions/<pk>/rotate-secret/": (
        ACTION,
        "webhooksubscription",
        "replaces the signing secret",
    ),
    "api/integration/webhook-deliveries/": (LIST, None, "of the subscriptions in scope"),
    "api/integration/webhook-deliveries/backlog/": (LIST, None, "counts the scope's only"),
    "api/integration/webhook-deliveries/<pk>/": (
        SITE_LEVEL,
        "webhookdelivery",
        "an event of a site's stream",
    ),
    "api/integration/webhook-deliveries/<pk>/replay/": (ACTION, "webhookdelivery", "resends"),
    # pages
    "": (PAGE, None, "the role's landing page, else the dashboard of a site in scope"),
    "dashboard/": (PAGE, None, "the supervisor dashboard of a site in scope"),
    "maintenance/": (PAGE, None, "maintenance board and health of a site in scope"),
    "planning/": (PAGE, None, "Gantt, open work orders, dispatch of a site in scope"),
    "live/panels/<slug:panel>/": (PAGE, None, "every panel of the dashboard, PANELS"),
    "hmi/": (PAGE, None, "the stations of the scope"),
    "hmi/station/<int:equipment_id>/": (PAGE_ID, "equipment", "one station"),
    "hmi/station/<int:equipment_id>/body/": (PAGE_ID, "equipment", "one station's body"),
    "hmi/station/<int:equipment_id>/login/": (PUBLIC, None, "badge login: test_scope_leaks"),
    "account/tokens/": (OWN_USER, None, "own tokens only: test_scope_leaks"),
    "account/pin/": (OWN_USER, None, "the own badge and PIN"),
    "equipment/<int:equipment_id>/": (PAGE_ID, "equipment", "one machine's page"),
    "quality/": (PAGE, None, "quality overview of the scope"),
    "quality/review/": (PAGE, None, "vision results of the stations in scope"),
    "quality/ncrs/": (PAGE, None, "NCR/CAPA board of the scope"),
    "quality/ncrs/<int:ncr_id>/": (PAGE_ID, "nonconformance", "one NCR and its signature form"),
    "quality/spc/": (PAGE, None, "the charts of the stations in scope"),
    "quality/spc/<int:chart_id>/": (PAGE_ID, "controlchart", "one station's chart"),
    "traceability/": (PAGE, None, "trace page: visible lots only"),
    "traceability/recall/": (PAGE, None, "printable recall report: visible lots only"),
    "traceability/recall.csv": (PAGE, None, "recall report as CSV: visible lots only"),
}

UNSAFE = ("post", "put", "patch", "delete")
# Query parameters a detail route needs to answer 200 for its own object.
QUERIES = {
    "api/production/oee/equipment/<pk>/timeline/": {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T08:00:00Z",
    },
}
REFUSED = {403, 404, 405}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _normal(route: str) -> str:
    route = route.replace("(?P<pk>[^/.]+)", "<pk>")
    return route.replace("^", "").replace("$", "")


def _methods(pattern: URLPattern) -> set[str]:
    """The HTTP methods a route answers: the viewset's actions, or the view's handlers."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:
        return set(actions)
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None:
        return {method for method in view_class.http_method_names if hasattr(view_class, method)}
    return {"get", "post"}  # a function view: both are tried


def project_routes() -> dict[str, set[str]]:
    """Every route of the URL conf but the admin, static files and format-suffix twins."""
    routes: dict[str, set[str]] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "static/", "media/")):
            continue
        if "<format>" in route or "drf_format_suffix" in route:
            continue
        routes.setdefault(_normal(route), set()).update(_methods(pattern))
    return routes


def _url(route: str, object_id: int) -> str:
    return "/" + re.sub(r"<(?:int:)?\w+>", str(object_id), route)


def test_every_route_is_classified():
    routes = project_routes()

    assert sorted(set(routes) - set(ROUTES)) == [], "classify the new routes in ROUTES"
    assert sorted(set(ROUTES) - set(routes)) == [], "these routes are gone"
    for route, (kind, key, _reason) in ROUTES.items():
        if kind in {DETAIL, ACTION, SITE_LEVEL, PAGE_ID}:
            assert key is not None, route
            assert re.search(r"<(?:int:)?\w+>", route), route


# --- the plant: one own and one foreign object per kind ---------------------------------------


@pytest.fixture
def scoped(plant, make_user, make_work_order):
    """The line-scoped supervisor (API), an operator of L1 and own/foreign objects by key."""
    foreign = foreign_build(plant, make_user, make_work_order)
    now = timezone.now()
    operator = make_user("operator", lines=[plant.line], username="line_operator")
    operator_client = APIClient()
    operator_client.force_authenticate(operator)

    def pair(make):
        return make(foreign.equipment, foreign.line), make(
            foreign.foreign_equipment, foreign.foreign_line
        )

    characteristic = Characteristic.objects.create(code="D1", name="Diameter")
    own_location = Location.objects.create(site=plant.site, code="store", name="Store s1")
    foreign_location = Location.objects.create(site=plant.other_site, code="store", name="s2")
    lot = Lot.objects.create(
        item=Item.objects.create(code="BRG", name="Bearing"),
        code="LOT-1",
        quantity=2,
        origin="purchased",
    )
    stocks = tuple(
        Stock.objects.create(lot=lot, location=location, quantity=1)
        for location in (own_location, foreign_location)
    )
    traced = {
        line: Lot.objects.create(
            item=lot.item,
            code=f"LOT-{line.code}",
            quantity=1,
            origin="produced",
            produced_by=work_order.operations.first(),
        )
        for line, work_order in (
            (foreign.line, foreign.own_work_order),
            (foreign.foreign_line, foreign.foreign_work_order),
        )
    }
    other = make_user("quality", username="quality_elsewhere")
    own_spc, foreign_spc = pair(spc_chart_with_violation)
    objects = {
        "site": (plant.site, plant.other_site),
        "lot": (traced[foreign.line], traced[foreign.foreign_line]),
        "serialunit": tuple(
            SerialUnit.objects.create(lot=traced_lot, serial=f"SN-{traced_lot.code}")
            for traced_lot in traced.values()
        ),
        "auditevent": tuple(
            audit_event_record(actor=actor, obj=foreign.foreign_work_order, action="noted")
            for actor in (foreign.user, other)
        ),
        "area": (plant.line.area, plant.other_line.area),
        "line": (foreign.line, foreign.foreign_line),
        "cell": (foreign.equipment.cell, foreign.foreign_equipment.cell),
        "equipment": (foreign.equipment, foreign.foreign_equipment),
        "signal": pair(lambda eq, _line: m.Signal.objects.create(equipment=eq, name="temperature")),
        "workorder": (foreign.own_work_order, foreign.foreign_work_order),
        "operation": (
            foreign.own_work_order.operations.first(),
            foreign.foreign_work_order.operations.first(),
        ),
        "oeesnapshot": pair(
            lambda _eq, line: m.OeeSnapshot.objects.create(
                scope="line",
                scope_id=line.pk,
                period="hour",
                period_start_at=now - timedelta(hours=1),
                period_end_at=now,
                computed_at=now,
            )
        ),
        "stateinterval": (foreign.own_stop, foreign.foreign_stop),
        "alert": (foreign.own_alert, foreign.foreign_alert),
        "schedulerun": tuple(
            schedule_run_request(site_id=site.pk, trigger="on_demand")
            for site in (plant.site, plant.other_site)
        ),
        "customerorder": pair(
            lambda _eq, line: CustomerOrder.objects.create(
                number=f"CO-{line.code}", site=plant.site, area=line.area, line=line
            )
        ),
        "linecostrates": pair(
            lambda _eq, line: LineCostRates.objects.create(
                line=line, machine_hour_rate=0.5, energy_price_per_kwh=0.4
            )
        ),
        "proposedaction": (
            None,
            ProposedAction.objects.create(
                site=plant.site,
                kind="resequence",
                risk="high",
                status="awaiting_approval",
                target="L3",
                payload={"equipment_id": foreign.foreign_equipment.pk, "operations": []},
                inverse={},
                explanation="test",
            ),
        ),
        "measurement": pair(
            lambda eq, _line: Measurement.objects.create(
                characteristic=characteristic, value=1.0, measured_at=now, equipment=eq
            )
        ),
        "location": (own_location, foreign_location),
        "stock": stocks,
        "stockmovement": tuple(
            StockMovement.objects.create(
                at=now, kind="receipt", lot=lot, to_location=location, quantity=1
            )
            for location in (own_location, foreign_location)
        ),
        "reservation": tuple(
            Reservation.objects.create(stock=stock, quantity=1, created_at=now) for stock in stocks
        ),
        "procurementrequest": tuple(
            ProcurementRequest.objects.create(
                number=f"PR-{site.code}", site=site, item=lot.item, quantity=1, created_at=now
            )
            for site in (plant.site, plant.other_site)
        ),
        "deadletter": pair(
            lambda eq, _line: DeadLetter.objects.create(
                source="uns",
                topic=f"ent/s1/{eq.code}/bad",
                reason_code="bad_payload",
                message="not JSON",
                first_seen_at=now,
                last_seen_at=now,
                equipment=eq,
            )
        ),
        "inspectionresult": pair(
            lambda eq, _line: InspectionResult.objects.create(
                inspected_at=now, is_pass=True, equipment=eq
            )
        ),
        "controlchart": (own_spc[0], foreign_spc[0]),
        "ruleviolation": (own_spc[1], foreign_spc[1]),
        "maintenanceworkorder": pair(
            lambda eq, line: MaintenanceWorkOrder.objects.create(
                number=f"MWO-{line.code}",
                equipment=eq,
                kind="predictive",
                state="requested",
                title=f"Bearing of {eq.code}",
                requested_at=now,
                window_start_at=now,
                window_end_at=now + timedelta(hours=4),
                estimated_duration_h=1.0,
            )
        ),
        "healthsnapshot": pair(
            lambda eq, _line: HealthSnapshot.objects.create(
                equipment=eq, ts=now, state="assessed", alpha=0.5
            )
        ),
        "healthbaseline": pair(
            lambda eq, _line: HealthBaseline.objects.create(equipment=eq, status="learning")
        ),
        "anomalyepisode": pair(
            lambda eq, _line: AnomalyEpisode.objects.create(
                equipment=eq, started_at=now, last_anomalous_at=now
            )
        ),
        "preventiveplan": pair(
            lambda eq, _line: PreventivePlan.objects.create(
                equipment=eq,
                name=f"Lubricate {eq.code}",
                trigger="calendar",
                interval=30.0,
                cycle_started_at=now,
            )
        ),
        "failureevent": pair(
            lambda eq, _line: FailureEvent.objects.create(equipment=eq, failed_at=now)
        ),
        "sensorsuspicion": pair(
            lambda eq, _line: SensorSuspicion.objects.create(
                equipment=eq,
                signal=m.Signal.objects.create(equipment=eq, name="temperature_2"),
                verdict="drifting",
                detected_at=now,
                marked_from_at=now,
            )
        ),
    }
    # The line-scoped supervisor may hold the webhook permissions: a site's subscriptions
    # stay out of reach all the same (they carry the whole site's events).
    foreign.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="integration")
    )
    subscriptions = {
        site: subscription_create(
            name=f"ERP {site.code}",
            target_url="https://erp.example/hooks",
            event_types=[EventType.WORK_ORDER_RELEASED],
            site_id=site.pk,
        )
        for site in (plant.site, plant.other_site)
    }
    for site in subscriptions:
        emit(EventType.WORK_ORDER_RELEASED, {"number": f"WO-{site.code}"}, site=site.pk)
    objects["webhooksubscription"] = (subscriptions[plant.site], subscriptions[plant.other_site])
    objects["webhookdelivery"] = tuple(
        WebhookDelivery.objects.get(subscription=subscriptions[site])
        for site in (plant.site, plant.other_site)
    )
    inspection_plan = InspectionPlan.objects.create(
        code="IP", name="Lots", product=plant.product, sampling_method="iso_2859", aql=2.5
    )
    objects["lotinspection"] = tuple(
        LotInspection.objects.create(
            plan=inspection_plan,
            lot=traced_lot,
            lot_size=1000,
            code_letter="J",
            sample_size=80,
            acceptance_number=5,
            rejection_number=6,
            nonconforming_count=0,
            is_accepted=True,
            inspected_at=now,
        )
        for traced_lot in traced.values()
    )
    objects["qualityhold"] = tuple(
        QualityHold.objects.create(lot=traced_lot, source="inspection", reason="test")
        for traced_lot in traced.values()
    )
    objects["visionresult"] = pair(
        lambda eq, _line: VisionResult.objects.create(
            equipment=eq, inspected_at=now, is_pass=False, review_status="pending",
            hold_confidence=0.9,
        )
    )  # fmt: skip
    objects["nonconformance"] = pair(
        lambda _eq, line: NonConformance.objects.create(
            number=f"NCR-{line.code}", title="Bore", site=plant.site, line=line, quantity=1
        )
    )
    objects["capa"] = tuple(
        Capa.objects.create(non_conformance=ncr, method="five_whys")
        for ncr in objects["nonconformance"]
    )
    foreign.operator_client = operator_client
    foreign.objects = objects
    return foreign


def _row(instance) -> dict:
    return type(instance).objects.filter(pk=instance.pk).values().get()


def _routes_of(*kinds: str):
    routes = project_routes()
    for route, (kind, key, _reason) in sorted(ROUTES.items()):
        if kind in kinds and route.startswith("api/"):
            yield route, key, routes[route]


# --- API --------------------------------------------------------------------------------------


def test_detail_routes_hide_foreign_objects_and_show_own_ones(scoped):
    answers = {}
    for route, key, methods in _routes_of(DETAIL):
        if "get" not in methods:
            continue
        own, foreign = scoped.objects[key]
        query = QUERIES.get(route, {})
        for who, client in (("supervisor", scoped.client), ("operator", scoped.operator_client)):
            answers[(route, who, "own")] = client.get(_url(route, own.pk), query).status_code
            answers[(route, who, "foreign")] = client.get(
                _url(route, foreign.pk), query
            ).status_code

    wrong = {}
    for route, who, side in answers:
        own, foreign = answers[(route, who, "own")], answers[(route, who, "foreign")]
        # the operator's role may lack the read permission (inventory locations): 403 for both
        refused_by_role = who == "operator" and own == foreign == 403
        if side == "own" and not (own == 200 and foreign == 404) and not refused_by_role:
            wrong[(route, who)] = (own, foreign)
    assert wrong == {}
    assert {case[0] for case in answers} == {
        route for route, (kind, _key, _reason) in ROUTES.items() if kind == DETAIL
    }


def test_site_level_routes_are_refused_to_a_line_scoped_user(scoped):
    answers = {}
    for route, key, _methods in _routes_of(SITE_LEVEL):
        own, foreign = scoped.objects[key]
        for instance in (own, foreign):
            if instance is not None:
                answers[(route, instance.pk)] = scoped.client.get(_url(route, instance.pk))

    assert {case: r.status_code for case, r in answers.items()} == dict.fromkeys(answers, 404)
    assert {r.json()["code"] for r in answers.values()} == {"not_found"}


def test_unsafe_methods_on_a_foreign_object_are_refused_and_change_nothing(scoped):
    tried, wrong = 0, {}
    for route, key, methods in _routes_of(DETAIL, ACTION, SITE_LEVEL):
        foreign = scoped.objects[key][1]
        for method in sorted(set(methods) & set(UNSAFE)):
            before = _row(foreign)
            for client in (scoped.client, scoped.operator_client):
                status = getattr(client, method)(_url(route, foreign.pk), {}, format="json")
                tried += 1
                if status.status_code not in REFUSED:
                    wrong[(route, method)] = status.status_code
            if _row(foreign) != before:
                wrong[(route, method, "changed")] = True

    assert wrong == {}
    assert tried >= 2 * 40


def test_lots_are_seen_through_their_line_or_their_store_and_genealogy_stops_at_the_scope(
    scoped, make_user
):
    """LOT-L1 was made on L1 from LOT-L3 (made on L3) and LOT-1 (bought, stored at s1 and s2):
    the line-scoped supervisor lists LOT-L1 and LOT-1, and LOT-L1's trace leaves LOT-L3 out;
    a user of the whole plant sees it whole."""
    own_lot, foreign_lot = scoped.objects["lot"]
    bought = Lot.objects.get(code="LOT-1")
    lot_consume(
        produced_lot_id=own_lot.pk,
        consumptions=[Consumption(lot_id=lot.pk, quantity=1) for lot in (foreign_lot, bought)],
    )
    plant_wide = APIClient()
    plant_wide.force_authenticate(make_user("quality", username="quality_plant"))
    url = f"/api/traceability/lots/{own_lot.pk}/genealogy/"

    listed = scoped.client.get("/api/traceability/lots/", {"limit": 500}).json()["results"]
    scoped_trace = scoped.client.get(url).json()
    whole_trace = plant_wide.get(url).json()

    assert {row["code"] for row in listed} == {"LOT-L1", "LOT-1"}
    assert {edge["consumed_lot"] for edge in scoped_trace} == {"LOT-1"}
    assert {edge["consumed_lot"] for edge in whole_trace} == {"LOT-1", "LOT-L3"}
    assert scoped.client.get(f"/api/traceability/lots/{bought.pk}/").status_code == 200


def test_a_restricted_scope_sees_only_its_own_audit_events(scoped, make_user):
    """Audit events carry no site: a restricted user sees the events they are the actor of,
    a user of the whole plant every event."""
    own, foreign = scoped.objects["auditevent"]
    plant_wide = APIClient()
    plant_wide.force_authenticate(make_user("quality", username="quality_plant"))

    scoped_ids = {
        row["id"] for row in scoped.client.get("/api/traceability/audit-events/").json()["results"]
    }
    all_ids = {
        row["id"] for row in plant_wide.get("/api/traceability/audit-events/").json()["results"]
    }

    assert own.pk in scoped_ids and foreign.pk not in scoped_ids
    assert {own.pk, foreign.pk} <= all_ids


# --- pages ------------------------------------------------------------------------------------


def test_pages_with_a_foreign_id_are_refused(scoped):
    pages = login_verified(Client(), scoped.user)
    answers = {}
    for route, (kind, key, _reason) in sorted(ROUTES.items()):
        if kind != PAGE_ID:
            continue
        own, foreign = scoped.objects[key]
        answers[(route, "own")] = pages.get(_url(route, own.pk)).status_code
        answers[(route, "foreign")] = pages.get(_url(route, foreign.pk)).status_code

    expected = {case: 200 if case[1] == "own" else 404 for case in answers}
    assert answers == expected
    assert len(answers) == 2 * sum(kind == PAGE_ID for kind, _key, _reason in ROUTES.values())
    assert len(answers) >= 10  # equipment, HMI station and body, NCR, SPC chart


def test_pages_without_an_id_show_no_code_of_the_foreign_line(scoped, plant):
    pages = login_verified(Client(), scoped.user)
    foreign_codes = ("L3_M1", scoped.foreign_work_order.number, "L3 hot")
    urls = ["/", "/dashboard/", "/maintenance/", "/planning/", "/hmi/"]
    urls += [f"/live/panels/{panel}/" for panel in PANELS]
    urls += ["/account/tokens/", "/account/pin/", "/accounts/mfa/"]
    urls += ["/quality/", "/quality/review/", "/quality/ncrs/"]
    urls += ["/traceability/", "/traceability/recall/", "/traceability/recall.csv"]

    leaks, statuses = [], {}
    for url in urls:
        response = pages.get(url, {"site": plant.site.pk})
        statuses[url] = response.status_code
        body = response.content.decode()
        leaks += [(url, code) for code in foreign_codes if code in body]

    assert statuses == dict.fromkeys(urls, 200)
    assert leaks == []
    own = pages.get("/live/panels/alerts/", {"site": plant.site.pk}).content.decode()
    assert "L1 hot" in own


def test_quality_records_cannot_be_booked_on_a_foreign_machine(scoped):
    """The operator may record measurements and inspection results: on L1, not on L3."""
    characteristic = Characteristic.objects.create(code="W1", name="Width")
    before = (Measurement.objects.count(), InspectionResult.objects.count())
    foreign_measurement = {
        "characteristic": characteristic.pk,
        "value": 2.0,
        "measured_at": "2026-01-01T00:00:00Z",
        "equipment": scoped.foreign_equipment.pk,
    }
    foreign_inspection = {"is_pass": True, "equipment": scoped.foreign_equipment.pk}

    refused = [
        scoped.operator_client.post(
            "/api/quality/measurements/", foreign_measurement, format="json"
        ),
        scoped.operator_client.post(
            "/api/quality/inspection-results/", foreign_inspection, format="json"
        ),
    ]
    after_refused = (Measurement.objects.count(), InspectionResult.objects.count())
    own = scoped.operator_client.post(
        "/api/quality/measurements/",
        {**foreign_measurement, "equipment": scoped.equipment.pk},
        format="json",
    )

    assert [r.status_code for r in refused] == [400, 400], [r.json() for r in refused]
    assert {r.json()["code"] for r in refused} == {"invalid"}
    assert [set(r.json()["detail"]) for r in refused] == [{"equipment"}, {"equipment"}]
    assert after_refused == before
    assert own.status_code == 201


def test_site_wide_commands_are_refused_to_a_line_scoped_user(scoped, plant):
    """Commands that decide for a whole site or area (its autonomy mode, its kill switch, a
    new plan of the site, dispatching every order of the area) act on L3 too: refused to a
    user scoped to L1, as the site's figures are; the maintenance commands name a machine."""
    site_before = _row(plant.site)
    runs_before = ScheduleRun.objects.count()
    commands = {
        "set": ("/api/production/autonomy/set/", {"site": plant.site.pk, "mode": "full"}),
        "kill": ("/api/production/autonomy/kill-switch/", {"site": plant.site.pk}),
        "plan": ("/api/production/schedule-runs/", {"site": plant.site.pk}),
        "batch": (
            "/api/production/customer-orders/dispatch-batch/",
            {"area": plant.line.area.pk},
        ),
        "refresh": (
            "/api/maintenance/health/refresh/",
            {"equipment": scoped.foreign_equipment.pk},
        ),
        "relearn": (
            "/api/maintenance/baselines/relearn/",
            {"equipment": scoped.foreign_equipment.pk},
        ),
        "whatif": (
            "/api/production/what-if/outage/",
            {"equipment": scoped.equipment.pk, "hours": 4},
        ),
    }

    answers = {
        name: scoped.client.post(url, body, format="json") for name, (url, body) in commands.items()
    }

    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {**dict.fromkeys(commands, 404), "refresh": 403, "relearn": 403}
    assert {r.json()["code"] for r in answers.values()} == {"not_found", "permission_denied"}
    assert _row(plant.site) == site_before
    assert ScheduleRun.objects.count() == runs_before


def test_creates_naming_a_foreign_machine_are_refused(scoped):
    """The list routes whose POST a line-scoped role may call look the machine up in scope:
    a maintenance order, a failure or a state change on L3 is refused and nothing is made."""
    foreign_id, own_id = scoped.foreign_equipment.pk, scoped.equipment.pk
    creates = {
        "/api/maintenance/work-orders/": {"kind": "corrective", "title": "Noise"},
        "/api/maintenance/failure-events/": {
            "failed_at": "2026-01-01T00:00:00Z",
            "create_work_order": False,
        },
        "/api/production/state-intervals/": {
            "state": "down",
            "start_at": "2026-01-01T00:00:00Z",
            "end_at": "2026-01-01T00:10:00Z",
        },
    }
    counts = (MaintenanceWorkOrder, FailureEvent, m.EquipmentStateInterval)
    before = [model.objects.filter(equipment_id=foreign_id).count() for model in counts]

    foreign = {
        url: scoped.client.post(url, {**body, "equipment": foreign_id}, format="json")
        for url, body in creates.items()
    }
    own = scoped.client.post(
        "/api/maintenance/failure-events/",
        {**creates["/api/maintenance/failure-events/"], "equipment": own_id},
        format="json",
    )

    # an id in the input that is out of scope is a field error (400) where the view validates
    # it with the input, as for the quality records; 404 where it is looked up first
    assert {url: r.status_code for url, r in foreign.items()} == {
        **dict.fromkeys(creates, 404),
        "/api/production/state-intervals/": 400,
    }
    assert set(foreign["/api/production/state-intervals/"].json()["detail"]) == {"equipment"}
    assert [model.objects.filter(equipment_id=foreign_id).count() for model in counts] == before
    assert own.status_code == 201


def test_the_trace_of_a_lot_stops_at_the_scope_both_ways(scoped, make_user):
    """LOT-L1 (made on L1) consumed LOT-L3 (made on L3) and went into serial SN-LOT-L1:
    the line-scoped supervisor's trace shows the serial forward and nothing of L3 backward."""
    own_lot, foreign_lot = scoped.objects["lot"]
    own_serial = SerialUnit.objects.get(serial=f"SN-{own_lot.code}")
    lot_consume(produced_lot_id=own_lot.pk, consumptions=[Consumption(foreign_lot.pk, 1)])
    material_consume(parent_serial_unit_id=own_serial.pk, consumed=[Consumed(lot_id=own_lot.pk)])
    plant_wide = APIClient()
    plant_wide.force_authenticate(make_user("quality", username="quality_plant"))
    url = f"/api/traceability/lots/{own_lot.pk}/trace/"

    scoped_trace = scoped.client.get(url).json()
    whole_trace = plant_wide.get(url).json()

    assert [n["code"] for n in scoped_trace["backward"]["nodes"]] == []
    assert [n["code"] for n in whole_trace["backward"]["nodes"]] == ["LOT-L3"]
    assert [n["path"] for n in scoped_trace["forward"]["nodes"]] == [
        f"lot LOT-L1 ({own_lot.item.code}) → serial SN-LOT-L1 ({own_lot.item.code})"
    ]
    serial_url = f"/api/traceability/serial-units/{own_serial.pk}/trace/"
    assert [n["depth"] for n in plant_wide.get(serial_url).json()["backward"]["nodes"]] == [1, 2]
