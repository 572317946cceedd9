"""REST API of the scheduling area: schedule runs and plans (Gantt as JSON and SVG),
customer orders and their dispatch, station events.

Every command is an explicit POST that calls one service; objects outside the user's plant
scope are 404; errors use the API's one format ``{code, message, detail}``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, renderers, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomy.api.serializers import ProposedActionSerializer
from mes_site.api import (
    ERROR_RESPONSES,
    ReasonSerializer,
    ScopedReadOnlyViewSet,
    command_schema,
    validated_input,
)
from mes_site.errors import NotFound, ValidationFailed
from planning.models import CustomerOrder, ScheduledOperation, ScheduleRun
from planning.selectors import scheduling as selectors
from planning.services import scheduling as services
from production import selectors as plant_selectors
from production.models import Site

# --- serializers ---------------------------------------------------------------------------------


class PlanChangeSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="added, moved_machine, resequenced, retimed, removed")
    operation_id = serializers.IntegerField()
    operation = serializers.CharField(help_text="work order number / sequence")
    work_order = serializers.CharField()
    from_equipment_id = serializers.IntegerField(allow_null=True)
    from_equipment = serializers.CharField(allow_null=True)
    to_equipment_id = serializers.IntegerField(allow_null=True)
    to_equipment = serializers.CharField(allow_null=True)
    old_start_at = serializers.DateTimeField(allow_null=True)
    new_start_at = serializers.DateTimeField(allow_null=True)
    old_end_at = serializers.DateTimeField(allow_null=True)
    new_end_at = serializers.DateTimeField(allow_null=True)
    rule = serializers.CharField(help_text="The rule that decided the change.")
    explanation = serializers.CharField(help_text="The formula's numbers and the rule, in words.")
    action_id = serializers.IntegerField(allow_null=True)
    action_status = serializers.CharField(allow_null=True)


class PlanUnschedulableSerializer(serializers.Serializer):
    work_order = serializers.CharField()
    operation = serializers.CharField(allow_null=True)
    operation_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    message = serializers.CharField()


class PlanWarningSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="past_due, late or superseded")
    work_order = serializers.CharField(required=False)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    planned_end_at = serializers.DateTimeField(required=False, allow_null=True)
    lateness_s = serializers.FloatField(required=False, allow_null=True)
    message = serializers.CharField()


class ScheduleRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, default=None
    )
    change_count = serializers.SerializerMethodField()
    unschedulable_count = serializers.SerializerMethodField()
    warning_count = serializers.SerializerMethodField()
    request_count = serializers.SerializerMethodField()

    class Meta:
        model = ScheduleRun
        fields = [
            "id",
            "site",
            "trigger",
            "trigger_detail",
            "status",
            "progress_percent",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "operation_count",
            "makespan_s",
            "is_current",
            "error",
            "change_count",
            "unschedulable_count",
            "warning_count",
            "request_count",
        ]
        read_only_fields = fields

    def get_change_count(self, run: ScheduleRun) -> int:
        counts = (run.inputs or {}).get("change_counts")
        return sum(counts.values()) if counts else len(run.changes or [])

    def get_unschedulable_count(self, run: ScheduleRun) -> int:
        return len(run.unschedulable or [])

    def get_warning_count(self, run: ScheduleRun) -> int:
        return len(run.warnings or [])

    def get_request_count(self, run: ScheduleRun) -> int:
        return len(run.triggers or [])


class ScheduleRunDetailSerializer(ScheduleRunSerializer):
    changes = PlanChangeSerializer(many=True, read_only=True)
    unschedulable = PlanUnschedulableSerializer(many=True, read_only=True)
    warnings = PlanWarningSerializer(many=True, read_only=True)
    triggers = serializers.ListField(child=serializers.DictField(), read_only=True)
    timings = serializers.DictField(read_only=True, help_text="Phases in ms.")
    inputs = serializers.DictField(
        read_only=True, help_text="Machines (health, maintenance block, left out), running work."
    )

    class Meta(ScheduleRunSerializer.Meta):
        fields = [
            *ScheduleRunSerializer.Meta.fields,
            "triggers",
            "timings",
            "changes",
            "unschedulable",
            "warnings",
            "inputs",
        ]
        read_only_fields = fields


class ScheduleRunCreateSerializer(serializers.Serializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    detail = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ScheduledOperationSerializer(serializers.ModelSerializer):
    operation_label = serializers.SerializerMethodField()
    work_order = serializers.CharField(source="operation.work_order.number", read_only=True)
    equipment_code = serializers.CharField(source="equipment.code", read_only=True)
    explanation = serializers.DictField(read_only=True)

    class Meta:
        model = ScheduledOperation
        fields = [
            "id",
            "run",
            "operation",
            "operation_label",
            "work_order",
            "equipment",
            "equipment_code",
            "position",
            "planned_start_at",
            "planned_end_at",
            "priority",
            "explanation",
        ]
        read_only_fields = fields

    def get_operation_label(self, entry: ScheduledOperation) -> str:
        return f"{entry.operation.work_order.number}/{entry.operation.sequence}"


class GanttBarSerializer(serializers.Serializer):
    operation_id = serializers.IntegerField()
    label = serializers.CharField()
    name = serializers.CharField()
    work_order = serializers.CharField()
    operation_state = serializers.CharField()
    position = serializers.IntegerField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    force_kn = serializers.FloatField()
    is_high_stress = serializers.BooleanField()
    priority = serializers.FloatField(allow_null=True)
    rule = serializers.CharField()
    message = serializers.CharField()
    pending_action = serializers.DictField(allow_null=True)


class GanttMachineSerializer(serializers.Serializer):
    equipment_id = serializers.IntegerField()
    code = serializers.CharField()
    uns_path = serializers.CharField()
    stress_limit_kn = serializers.FloatField()
    health = serializers.DictField(allow_null=True)
    block = serializers.DictField(allow_null=True)
    left_out = serializers.CharField()
    running = serializers.ListField(child=serializers.DictField())
    bars = GanttBarSerializer(many=True)


class GanttSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    site = serializers.IntegerField()
    status = serializers.CharField()
    is_current = serializers.BooleanField()
    planned_at = serializers.DateTimeField(allow_null=True)
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    machines = GanttMachineSerializer(many=True)


class CustomerOrderPartSerializer(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    product_code = serializers.CharField(source="product.code")
    quantity = serializers.IntegerField()


class CustomerOrderSerializer(serializers.ModelSerializer):
    line_code = serializers.CharField(source="line.code", read_only=True, default=None)
    parts = CustomerOrderPartSerializer(source="lines", many=True, read_only=True)
    quantity_units = serializers.SerializerMethodField()
    dispatch_explanation = serializers.DictField(read_only=True)

    class Meta:
        model = CustomerOrder
        fields = [
            "id",
            "number",
            "site",
            "area",
            "state",
            "line",
            "line_code",
            "line_step",
            "line_stage",
            "line_updated_at",
            "rework_count",
            "priority",
            "parts",
            "quantity_units",
            "received_at",
            "dispatched_at",
            "completed_at",
            "dispatch_explanation",
        ]
        read_only_fields = fields

    def get_quantity_units(self, order: CustomerOrder) -> int:
        return sum(line.quantity for line in order.lines.all())


class CustomerOrderCreateSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=64)
    area = serializers.IntegerField(help_text="The area whose lines make the order.")
    parts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Part counts per product code, e.g. {"PART_A": 3, "PART_C": 2}.',
    )
    priority = serializers.IntegerField(min_value=1, max_value=9, default=5)
    dispatch = serializers.BooleanField(
        default=True, help_text="Dispatch at once with the online rule (else: stays pending)."
    )


class DispatchBatchInputSerializer(serializers.Serializer):
    area = serializers.IntegerField()


class DispatchBatchResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    is_optimal = serializers.BooleanField()
    mip_gap = serializers.FloatField(allow_null=True)
    total_cost = serializers.FloatField()
    dispatched = serializers.ListField(child=serializers.CharField())
    backlogged = serializers.ListField(child=serializers.CharField())
    refused = serializers.ListField(child=serializers.DictField())
    solver_message = serializers.CharField()


class DispatchOverrideSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line the order should go to.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StationEventInputSerializer(serializers.Serializer):
    equipment = serializers.CharField(
        max_length=400, help_text="UNS path of the reporting station (Equipment.uns_path)."
    )
    order = serializers.CharField(max_length=64)
    station = serializers.CharField(max_length=32, help_text=", ".join(services.STATIONS))
    result = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="pass or fail (quality_control)"
    )
    ts = serializers.DateTimeField(required=False, help_text="Default: now.")


class StationEventRejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()


class StationEventResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = StationEventRejectionSerializer(many=True)


# --- helpers -------------------------------------------------------------------------------------


def _site_in_scope(user, site_id: int) -> Site:
    site = plant_selectors.site_list(user=user).filter(pk=site_id).first()
    if site is None:
        raise NotFound(f"Site {site_id} is unknown or outside your plant scope.")
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

    selector = selectors.schedule_run_list
    filterset_fields = ["site", "status", "trigger", "is_current"]
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
        site = _site_in_scope(request.user, data["site"].pk)
        run = services.schedule_run_request(
            site_id=site.pk,
            trigger="on_demand",
            detail=data["detail"] or f"requested by {request.user.get_username()}",
            requested_by=request.user,
        )
        return Response(ScheduleRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: ScheduledOperationSerializer(many=True), **ERROR_RESPONSES})
    @action(detail=True, methods=["get"])
    def operations(self, request, pk=None):
        """The run's planned operations, machine by machine in planned order (paginated)."""
        run = self.get_object()
        queryset = selectors.scheduled_operation_list(run=run)
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
    allowed = plant_selectors.equipment_list(user=request.user).filter(
        cell__line__area__site_id=run.site_id
    )
    equipment_id = _int_param(request, "equipment")
    if equipment_id is not None:
        allowed = allowed.filter(pk=equipment_id)
        if not allowed.exists():
            raise NotFound(f"Equipment {equipment_id} is not in this plan or your scope.")
    return selectors.gantt_data(run=run, equipment_ids=allowed.values_list("pk", flat=True))


def _current_run(request) -> ScheduleRun:
    site_id = _int_param(request, "site")
    run_id = _int_param(request, "run")
    runs = selectors.schedule_run_list(user=request.user)
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


class SvgRenderer(renderers.BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        message = data.get("message", "error") if isinstance(data, dict) else str(data)
        return render_to_string("scheduling/gantt_message.svg", {"message": message}).encode(
            self.charset
        )


def gantt_svg_context(
    data: dict[str, Any], *, zone: ZoneInfo, now: datetime, width: int = 1100
) -> dict[str, Any]:
    """Geometry of the Gantt SVG: one row per machine, bars, maintenance blocks, hour ticks."""
    label_width, top, row_height = 170, 28, 30
    plot_width = width - label_width - 10
    starts = [now]
    ends = [now + timedelta(hours=1)]
    for machine in data["machines"]:
        for bar in machine["bars"]:
            starts.append(bar["start_at"])
            ends.append(bar["end_at"])
        for item in machine["running"]:
            starts.append(datetime.fromisoformat(item["start_at"]))
    start, end = min(starts), max(ends)
    span_s = max((end - start).total_seconds(), 3600.0)

    def x_of(moment: datetime) -> float:
        seconds = (moment - start).total_seconds()
        return round(label_width + plot_width * min(max(seconds / span_s, 0.0), 1.0), 1)

    step_h = next(h for h in (1, 2, 3, 4, 6, 12, 24, 48, 168) if span_s / 3600.0 / h <= 12)
    first = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    ticks = []
    tick = first
    while tick.astimezone(UTC) <= end:
        if tick.astimezone(UTC) >= start:
            ticks.append({"x": x_of(tick.astimezone(UTC)), "label": tick.strftime("%a %H:%M")})
        tick += timedelta(hours=step_h)
    rows = []
    for index, machine in enumerate(data["machines"]):
        y = top + index * row_height
        health = machine.get("health") or {}
        bars = []
        for bar in machine["bars"]:
            x1, x2 = x_of(bar["start_at"]), x_of(bar["end_at"])
            pending = bar.get("pending_action")
            bars.append(
                {
                    "x": x1,
                    "width": max(x2 - x1, 1.5),
                    "label": bar["label"],
                    "is_high_stress": bar["is_high_stress"],
                    "is_pending": pending is not None,
                    "title": (
                        f"{bar['label']} {bar['name']} ({bar['force_kn']:g} kN) "
                        f"{bar['start_at'].astimezone(zone):%a %H:%M}–"
                        f"{bar['end_at'].astimezone(zone):%H:%M}"
                        + (f" — {pending['kind']} {pending['status']}" if pending else "")
                        + (f"\n{bar['message']}" if bar["message"] else "")
                    ),
                }
            )
        running = []
        for item in machine["running"]:
            started = datetime.fromisoformat(item["start_at"])
            ends_at = datetime.fromisoformat(item["expected_end_at"])
            running.append(
                {
                    "x": x_of(started),
                    "width": max(x_of(ends_at) - x_of(started), 1.5),
                    "title": f"{item['label']} running, expected end "
                    f"{ends_at.astimezone(zone):%a %H:%M}",
                }
            )
        block = None
        if machine.get("block"):
            block_start = datetime.fromisoformat(machine["block"]["start_at"])
            block_end_text = machine["block"]["end_at"]
            block_end = datetime.fromisoformat(block_end_text) if block_end_text else end
            block = {
                "x": x_of(block_start),
                "width": max(x_of(block_end) - x_of(block_start), 1.5),
                "title": machine["block"]["reason"],
            }
        rows.append(
            {
                "y": y,
                "bar_y": y + 4,
                "text_y": y + 19,
                "code": machine["code"],
                "is_in_anomaly": bool(health.get("is_in_anomaly")),
                "health_title": (
                    f"α {health['alpha']:.2f}, δ {health['degradation_per_h']:.3g}/h"
                    + (f", RUL p10 {health['rul_p10_h']:.0f} h" if health.get("rul_p10_h") else "")
                    if health
                    else "no health data"
                ),
                "left_out": machine.get("left_out", ""),
                "bars": bars,
                "running": running,
                "block": block,
            }
        )
    height = top + len(rows) * row_height + 10
    return {
        "width": width,
        "height": height,
        "label_width": label_width,
        "top": top,
        "bottom": height - 10,
        "ticks": ticks,
        "rows": rows,
        "now_x": x_of(now),
        "run": data["run"],
        "bar_height": row_height - 8,
    }


class GanttSvgView(APIView):
    """The current plan of a site as a server-rendered SVG (no script, no CDN)."""

    permission_classes = [permissions.IsAuthenticated]
    renderer_classes = [SvgRenderer]

    @extend_schema(
        parameters=GANTT_PARAMETERS,
        responses={(200, "image/svg+xml"): OpenApiTypes.STR},
    )
    def get(self, request):
        run = _current_run(request)
        data = _gantt_for(request, run)
        site = Site.objects.get(pk=run.site_id)
        context = gantt_svg_context(data, zone=ZoneInfo(site.time_zone), now=timezone.now())
        return Response(render_to_string("scheduling/gantt.svg", context))


# --- customer orders -----------------------------------------------------------------------------


class CustomerOrderViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Customer orders (part counts per type) and their dispatch to the lines of an area."""

    selector = selectors.customer_order_list
    filterset_fields = ["state", "site", "area", "line", "line_stage"]
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
        if not plant_selectors.area_list(user=self.request.user).filter(pk=area_id).exists():
            raise NotFound(f"Area {area_id} is unknown or outside your plant scope.")
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
        order = services.customer_order_create(
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
        services.customer_order_dispatch(order_id=order.pk, actor=request.user)
        return self._answer(order.pk)

    @command_schema(request=ReasonSerializer, response=CustomerOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()
        reason = validated_input(ReasonSerializer, request)["reason"]
        services.customer_order_cancel(order_id=order.pk, actor=request.user, reason=reason)
        return self._answer(order.pk)

    @command_schema(request=DispatchOverrideSerializer, response=ProposedActionSerializer)
    @action(detail=True, methods=["post"])
    def override(self, request, pk=None):
        """Ask to put the order on another line: a high-risk action a supervisor signs."""
        order = self.get_object()
        data = validated_input(DispatchOverrideSerializer, request)
        proposed = services.customer_order_dispatch_override_request(
            order_id=order.pk, line_id=data["line"], actor=request.user, reason=data["reason"]
        )
        return Response(ProposedActionSerializer(proposed).data)

    @command_schema(request=DispatchBatchInputSerializer, response=DispatchBatchResultSerializer)
    @action(detail=False, methods=["post"], url_path="dispatch-batch")
    def dispatch_batch(self, request):
        """Assign every pending and backlogged order of an area at once (integer program)."""
        data = validated_input(DispatchBatchInputSerializer, request)
        outcome = services.customer_orders_dispatch_batch(
            area_id=self._area_in_scope(data["area"]), actor=request.user
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
        equipment = plant_selectors.equipment_list(user=request.user).filter(
            uns_path=data["equipment"]
        )
        if not equipment.exists():
            raise NotFound(f"No equipment {data['equipment']!r} in your plant scope.")
        fields = {"station": data["station"], "order": data["order"]}
        if data.get("result"):
            fields["result"] = data["result"]
        event = services.StationEventIn(
            equipment_path=data["equipment"],
            ts=data.get("ts") or timezone.now(),
            kind="station",
            data=fields,
        )
        result = services.line_order_events_ingest(events=[event])
        body = {
            "accepted": result.accepted,
            "rejected": [
                {"index": index, "code": code, "message": message}
                for index, code, message in result.rejected
            ],
        }
        return Response(StationEventResultSerializer(body).data)


__all__ = [
    "CustomerOrderViewSet",
    "GanttSvgView",
    "GanttView",
    "ScheduleRunViewSet",
    "StationEventView",
]
