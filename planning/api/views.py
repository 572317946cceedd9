"""REST API of planning: schedule runs and plans (Gantt as JSON and SVG), customer orders
and their dispatch, station events.

Every command is an explicit POST that calls one service; objects outside the user's plant
scope are 404; errors use the API's one format ``{code, message, detail}``.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomy.api.serializers import ProposedActionSerializer
from autonomy.selectors import proposed_action_list
from mes_site.api import (
    ERROR_RESPONSES,
    ReasonSerializer,
    ScopedReadOnlyViewSet,
    command_schema,
    validated_input,
)
from mes_site.errors import NotFound, ValidationFailed
from planning.api.serializers import (
    CustomerOrderCreateSerializer,
    CustomerOrderSerializer,
    DispatchBatchInputSerializer,
    DispatchBatchResultSerializer,
    DispatchOverrideSerializer,
    GanttSerializer,
    LineCostRatesSerializer,
    ScheduledOperationSerializer,
    ScheduleRunCreateSerializer,
    ScheduleRunDetailSerializer,
    ScheduleRunSerializer,
    StationEventInputSerializer,
    StationEventResultSerializer,
    WhatIfOutageInputSerializer,
    WhatIfSerializer,
)
from planning.filtersets import CustomerOrderFilterSet, ScheduleRunFilterSet
from planning.gantt_svg import SvgRenderer, gantt_svg_context
from planning.models import CustomerOrder, ScheduleRun
from planning.selectors.dispatch import customer_order_list, line_cost_rates_list
from planning.selectors.gantt import gantt_data
from planning.selectors.schedule_runs import (
    schedule_run_list,
    schedule_run_scoped,
    scheduled_operation_list,
)
from planning.selectors.whatif import whatif_action, whatif_outage
from planning.services.dispatch import (
    customer_order_cancel,
    customer_order_create,
    customer_order_dispatch,
    customer_order_dispatch_override_request,
    customer_orders_dispatch_batch,
)
from planning.services.line_orders import StationEventIn, line_order_events_ingest
from planning.services.schedule_runs import schedule_run_request
from production.models import Site
from production.selectors.plant import area_list, equipment_list, site_list, site_whole_list

__all__ = [
    "CustomerOrderViewSet",
    "GanttSvgView",
    "GanttView",
    "LineCostRatesViewSet",
    "ScheduleRunViewSet",
    "StationEventView",
    "WhatIfActionView",
    "WhatIfOutageView",
]


# --- helpers -------------------------------------------------------------------------------------


def _site_in_scope(user, site_id: int) -> Site:
    site = site_list(user=user).filter(pk=site_id).first()
    if site is None:
        raise NotFound(f"Site {site_id} is unknown or outside your plant scope.")
    return site


def _site_whole(user, site_id: int) -> Site:
    """The site of a command that decides for all its lines: one the user sees whole."""
    site = site_whole_list(user=user).filter(pk=site_id).first()
    if site is None:
        raise NotFound(
            f"Site {site_id} is unknown or outside your plant scope "
            "(planning a site needs every line of the site in your scope)."
        )
    return site


def _int_param(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(f"{name} must be an id (a whole number).") from None


class HasAnyPermission(permissions.BasePermission):
    """Authenticated, with at least one of the view's ``any_permissions``."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and any(user.has_perm(name) for name in getattr(view, "any_permissions", ()))
        )


# --- schedule runs -------------------------------------------------------------------------------


class ScheduleRunViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Schedule runs of the sites in scope: the job rows (status, progress, timing) and plans.

    ``POST`` asks for a new plan (debounced: an already queued run of the site absorbs it).
    """

    selector = schedule_run_list
    filterset_class = ScheduleRunFilterSet
    ordering_fields = ["requested_at", "duration_ms"]
    command_permissions = {"create": "planning.run_schedule"}

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ScheduleRunDetailSerializer
        if self.action == "operations":
            return ScheduledOperationSerializer
        return ScheduleRunSerializer

    @extend_schema(
        request=ScheduleRunCreateSerializer,
        responses={202: ScheduleRunSerializer, **ERROR_RESPONSES},
        summary="Ask for a new plan of a site (on demand)",
    )
    def create(self, request, *args, **kwargs):
        data = validated_input(ScheduleRunCreateSerializer, request)
        site = _site_whole(request.user, data["site"].pk)
        run = schedule_run_request(
            site_id=site.pk,
            trigger="on_demand",
            detail=data["detail"] or f"requested by {request.user.get_username()}",
            requested_by=request.user,
        )
        return Response(ScheduleRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    def retrieve(self, request, *args, **kwargs):
        """The run with its changes and inputs; a user scoped to lines sees theirs only."""
        run = schedule_run_scoped(run=self.get_object(), user=request.user)
        return Response(ScheduleRunDetailSerializer(run).data)

    @extend_schema(responses={200: ScheduledOperationSerializer(many=True), **ERROR_RESPONSES})
    @action(detail=True, methods=["get"])
    def operations(self, request, pk=None):
        """The run's planned operations on the machines in your scope, machine by machine in
        planned order (paginated)."""
        run = self.get_object()
        queryset = scheduled_operation_list(run=run, user=request.user)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ScheduledOperationSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("equipment", OpenApiTypes.INT, description="One machine")],
        responses={200: GanttSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"])
    def gantt(self, request, pk=None):
        """The run's plan per machine (bars, running work, health, maintenance block)."""
        run = self.get_object()
        return Response(GanttSerializer(_gantt_for(request, run)).data)


def _gantt_for(request, run: ScheduleRun) -> dict[str, Any]:
    allowed = equipment_list(user=request.user).filter(cell__line__area__site_id=run.site_id)
    equipment_id = _int_param(request, "equipment")
    if equipment_id is not None:
        allowed = allowed.filter(pk=equipment_id)
        if not allowed.exists():
            raise NotFound(f"Equipment {equipment_id} is not in this plan or your scope.")
    return gantt_data(run=run, equipment_ids=allowed.values_list("pk", flat=True))


def _current_run(request) -> ScheduleRun:
    site_id = _int_param(request, "site")
    run_id = _int_param(request, "run")
    runs = schedule_run_list(user=request.user)
    if run_id is not None:
        run = runs.filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"Schedule run {run_id} is unknown or outside your plant scope.")
        return run
    if site_id is None:
        raise ValidationFailed("Name the site (?site=<id>) or a run (?run=<id>).")
    _site_in_scope(request.user, site_id)
    run = runs.filter(site_id=site_id, is_current=True).first()
    if run is None:
        raise NotFound(f"Site {site_id} has no current plan yet; ask for a schedule run.")
    return run


GANTT_PARAMETERS = [
    OpenApiParameter("site", OpenApiTypes.INT, description="The site's current plan"),
    OpenApiParameter("run", OpenApiTypes.INT, description="A given run instead"),
    OpenApiParameter("equipment", OpenApiTypes.INT, description="One machine only"),
]


class GanttView(APIView):
    """The current plan of a site as Gantt data (for the dashboard and other clients)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=GANTT_PARAMETERS, responses={200: GanttSerializer, **ERROR_RESPONSES})
    def get(self, request):
        return Response(GanttSerializer(_gantt_for(request, _current_run(request))).data)


class GanttSvgView(APIView):
    """The current plan of a site as a server-rendered SVG (no script, no CDN)."""

    permission_classes = [permissions.IsAuthenticated]
    renderer_classes = [SvgRenderer]

    @extend_schema(
        parameters=GANTT_PARAMETERS,
        # An image answers its errors as an image too (the message drawn as text), so that
        # an <img> shows why there is no plan; the status codes are the JSON view's.
        responses={
            (status_code, "image/svg+xml"): OpenApiTypes.STR for status_code in (200, 400, 403, 404)
        },
    )
    def get(self, request):
        run = _current_run(request)
        data = _gantt_for(request, run)
        site = Site.objects.get(pk=run.site_id)
        context = gantt_svg_context(data, zone=ZoneInfo(site.time_zone), now=timezone.now())
        return Response(render_to_string("scheduling/gantt.svg", context))


# --- customer orders -----------------------------------------------------------------------------


class LineCostRatesViewSet(ScopedReadOnlyViewSet):
    """Each line's machine-hour rate and energy price: the money of the dispatch cost (time
    term = rate × time, energy term = price × kWh). Edited in the admin."""

    selector = line_cost_rates_list
    serializer_class = LineCostRatesSerializer
    ordering_fields = ["line"]


class CustomerOrderViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Customer orders (part counts per type) and their dispatch to the lines of an area."""

    selector = customer_order_list
    filterset_class = CustomerOrderFilterSet
    search_fields = ["number"]
    ordering_fields = ["received_at", "dispatched_at", "number"]
    command_permissions = {
        "create": "planning.add_customerorder",
        "dispatch_now": "planning.dispatch_customerorder",
        "cancel": "planning.dispatch_customerorder",
        "override": "planning.dispatch_customerorder",
        "dispatch_batch": "planning.dispatch_customerorder",
    }
    serializer_class = CustomerOrderSerializer

    def _area_in_scope(self, area_id: int) -> int:
        if not area_list(user=self.request.user).filter(pk=area_id).exists():
            raise NotFound(f"Area {area_id} is unknown or outside your plant scope.")
        return area_id

    def _area_whole(self, area_id: int) -> int:
        """The area of a command for all its lines: its site must be seen whole."""
        sites = site_whole_list(user=self.request.user)
        if not area_list(user=self.request.user).filter(pk=area_id, site__in=sites).exists():
            raise NotFound(
                f"Area {area_id} is unknown or outside your plant scope "
                "(dispatching an area needs every line of its site in your scope)."
            )
        return area_id

    @staticmethod
    def _answer(order_id: int, code: int = status.HTTP_200_OK) -> Response:
        order = (
            CustomerOrder.objects.select_related("line")
            .prefetch_related("lines__product")
            .get(pk=order_id)
        )
        return Response(CustomerOrderSerializer(order).data, status=code)

    @extend_schema(
        request=CustomerOrderCreateSerializer,
        responses={201: CustomerOrderSerializer, **ERROR_RESPONSES},
        summary="Receive a customer order (and dispatch it to a line)",
    )
    def create(self, request, *args, **kwargs):
        data = validated_input(CustomerOrderCreateSerializer, request)
        order = customer_order_create(
            number=data["number"],
            area_id=self._area_in_scope(data["area"]),
            parts=dict(data["parts"]),
            priority=data["priority"],
            dispatch=data["dispatch"],
            actor=request.user,
        )
        return self._answer(order.pk, status.HTTP_201_CREATED)

    @command_schema(request=None, response=CustomerOrderSerializer)
    @action(detail=True, methods=["post"], url_path="dispatch")
    def dispatch_now(self, request, pk=None):
        """Dispatch a pending or backlogged order now (online rule)."""
        order = self.get_object()
        customer_order_dispatch(order_id=order.pk, actor=request.user)
        return self._answer(order.pk)

    @command_schema(request=ReasonSerializer, response=CustomerOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        reason = validated_input(ReasonSerializer, request)["reason"]
        customer_order_cancel(order_id=order.pk, actor=request.user, reason=reason)
        return self._answer(order.pk)

    @command_schema(request=DispatchOverrideSerializer, response=ProposedActionSerializer)
    @action(detail=True, methods=["post"])
    def override(self, request, pk=None):
        """Ask to put the order on another line: a high-risk action a supervisor signs."""
        order = self.get_object()
        data = validated_input(DispatchOverrideSerializer, request)
        proposed = customer_order_dispatch_override_request(
            order_id=order.pk, line_id=data["line"], actor=request.user, reason=data["reason"]
        )
        return Response(ProposedActionSerializer(proposed).data)

    @command_schema(request=DispatchBatchInputSerializer, response=DispatchBatchResultSerializer)
    @action(detail=False, methods=["post"], url_path="dispatch-batch")
    def dispatch_batch(self, request):
        """Assign every pending and backlogged order of an area at once (integer program)."""
        data = validated_input(DispatchBatchInputSerializer, request)
        outcome = customer_orders_dispatch_batch(
            area_id=self._area_whole(data["area"]), actor=request.user
        )
        return Response(DispatchBatchResultSerializer(outcome).data)


class StationEventView(APIView):
    """Report a station event of a line order over REST (the plant normally sends MQTT)."""

    permission_classes = [HasAnyPermission]
    any_permissions = ("planning.add_customerorder", "planning.dispatch_customerorder")

    @extend_schema(
        request=StationEventInputSerializer,
        responses={200: StationEventResultSerializer, **ERROR_RESPONSES},
        summary="Apply one station event (order start … complete) to a customer order",
    )
    def post(self, request):
        data = validated_input(StationEventInputSerializer, request)
        equipment = equipment_list(user=request.user).filter(uns_path=data["equipment"])
        if not equipment.exists():
            raise NotFound(f"No equipment {data['equipment']!r} in your plant scope.")
        fields = {"station": data["station"], "order": data["order"]}
        if data.get("result"):
            fields["result"] = data["result"]
        event = StationEventIn(
            equipment_path=data["equipment"],
            ts=data.get("ts") or timezone.now(),
            kind="station",
            data=fields,
        )
        result = line_order_events_ingest(events=[event])
        body = {
            "accepted": result.accepted,
            "rejected": [
                {"index": index, "code": code, "message": message}
                for index, code, message in result.rejected
            ],
        }
        return Response(StationEventResultSerializer(body).data)


# --- what-if -----------------------------------------------------------------------------------


class WhatIfActionView(APIView):
    """What a proposed action would do: for a plan change, the current plan and the plan with
    the change simulated forward on the plant model (makespan, tardiness per order,
    utilisation, energy); for a dispatch override, the lines' order queues with and without
    the move. The whole site is simulated: the user must see it whole."""

    permission_classes = [HasAnyPermission]
    any_permissions = ("planning.view_schedulerun",)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="A proposed action"
            )
        ],
        responses={200: WhatIfSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, pk: str):
        if not pk.isdigit():
            raise NotFound(f"Proposed action {pk} is unknown or outside your plant scope.")
        action = proposed_action_list(user=request.user).filter(pk=int(pk)).first()
        if action is None:
            raise NotFound(f"Proposed action {pk} is unknown or outside your plant scope.")
        _site_whole(request.user, action.site_id)
        return Response(WhatIfSerializer(whatif_action(action=action)).data)


class WhatIfOutageView(APIView):
    """What if a machine is down for some hours from now, and nobody re-plans: the current
    plan simulated forward with and without the outage. Computes only; changes nothing."""

    permission_classes = [HasAnyPermission]
    any_permissions = ("planning.view_schedulerun",)

    @command_schema(
        request=WhatIfOutageInputSerializer,
        response=WhatIfSerializer,
        summary="Simulate a machine down for some hours",
    )
    def post(self, request):
        data = validated_input(WhatIfOutageInputSerializer, request)
        machine = equipment_list(user=request.user).filter(pk=data["equipment"]).first()
        if machine is None:
            raise NotFound(f"Equipment {data['equipment']} is unknown or outside your plant scope.")
        site = _site_whole(request.user, machine.cell.line.area.site_id)
        result = whatif_outage(site_id=site.pk, equipment_id=machine.pk, hours=data["hours"])
        return Response(WhatIfSerializer(result).data)
