from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from maintenance import filtersets, selectors, services
from maintenance.api import serializers as s
from maintenance.models import FailureEvent
from maintenance.services import drift
from mes_site.api import ERROR_RESPONSES, ScopedModelViewSet, command_schema
from mes_site.errors import NotFound
from mes_site.openapi import SingleObjectSchema
from production.selectors import equipment_list


def _equipment_in_scope(request, equipment_id: int):
    equipment = equipment_list(user=request.user).filter(pk=equipment_id).first()
    if equipment is None:
        raise NotFound("No such equipment in your plant scope.")
    return equipment


class ComponentPartViewSet(viewsets.ModelViewSet):
    queryset = selectors.component_part_list()
    serializer_class = s.ComponentPartSerializer
    filterset_class = filtersets.ComponentPartFilterSet


class MaintenanceWorkOrderViewSet(ScopedModelViewSet):
    selector = selectors.maintenance_work_order_list
    serializer_class = s.MaintenanceWorkOrderSerializer
    http_method_names = ["get", "post", "head", "options"]
    filterset_class = filtersets.MaintenanceWorkOrderFilterSet
    search_fields = ["number", "title"]
    command_permissions = {
        "schedule": "maintenance.schedule_maintenanceworkorder",
        "start": "maintenance.perform_maintenanceworkorder",
        "complete": "maintenance.perform_maintenanceworkorder",
        "cancel": "maintenance.schedule_maintenanceworkorder",
    }

    @extend_schema(
        request=s.MaintenanceWorkOrderCreateSerializer,
        responses={201: s.MaintenanceWorkOrderSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.MaintenanceWorkOrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        _equipment_in_scope(request, data["equipment"].pk)
        order = services.maintenance_work_order_create(actor=request.user, **data)
        return Response(
            s.MaintenanceWorkOrderSerializer(order).data, status=status.HTTP_201_CREATED
        )

    @command_schema(request=s.ScheduleSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        order = self.get_object()
        serializer = s.ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.maintenance_work_order_schedule(
            order_id=order.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.MaintenanceWorkOrderSerializer(updated).data)

    def _command(self, request, service):
        order = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = service(order_id=order.pk, actor=request.user, **serializer.validated_data)
        return Response(s.MaintenanceWorkOrderSerializer(updated).data)

    @command_schema(request=s.ReasonSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._command(request, services.maintenance_work_order_start)

    @command_schema(request=s.CompleteSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        order = self.get_object()
        serializer = s.CompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.maintenance_work_order_complete(
            order_id=order.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.MaintenanceWorkOrderSerializer(updated).data)

    @command_schema(request=s.ReasonSerializer, response=s.MaintenanceWorkOrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._command(request, services.maintenance_work_order_cancel)


# --- health ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Health trend: snapshots of α, δ, health index and RUL (filter equipment, since)"
    ),
    retrieve=extend_schema(summary="One health snapshot"),
)
class HealthSnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Health snapshots, newest first; ``?equipment=<id>&since=<ISO time>`` is the trend."""

    serializer_class = s.HealthSnapshotSerializer
    filterset_class = filtersets.HealthSnapshotFilterSet
    ordering_fields = ["ts", "alpha"]
    ordering = ["-ts"]
    command_permissions = {
        "refresh": "maintenance.add_healthsnapshot",
        "raw_window": "maintenance.send_raw_window",
    }

    def get_queryset(self):
        return selectors.health_snapshot_list(user=self.request.user).order_by("-ts")

    @extend_schema(
        summary="The newest snapshot of each equipment in your scope",
        responses={200: s.HealthSnapshotSerializer(many=True), **ERROR_RESPONSES},
        parameters=[OpenApiParameter("equipment", int, required=False)],
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def current(self, request):
        queryset = selectors.health_snapshot_current_list(user=request.user)
        if request.query_params.get("equipment"):
            query = s.HealthRefreshSerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            queryset = queryset.filter(equipment_id=query.validated_data["equipment"])
        return Response(s.HealthSnapshotSerializer(queryset, many=True).data)

    @command_schema(
        request=s.HealthRefreshSerializer,
        response=s.HealthSnapshotSerializer,
        summary="Evaluate an equipment's health now from its stored features",
    )
    @action(detail=False, methods=["post"])
    def refresh(self, request):
        serializer = s.HealthRefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        equipment = _equipment_in_scope(request, serializer.validated_data["equipment"])
        outcome = services.health_refresh(equipment_id=equipment.pk)
        if outcome.snapshot is None:
            raise NotFound(f"{equipment.code} has no stored feature windows yet.")
        return Response(s.HealthSnapshotSerializer(outcome.snapshot).data)

    @extend_schema(
        summary="A raw vibration window: the MES computes and stores its features",
        request=s.RawWindowSerializer,
        responses={201: s.RawWindowResultSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["post"], url_path="raw-windows")
    def raw_window(self, request):
        serializer = s.RawWindowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        equipment = _equipment_in_scope(request, data["equipment"])
        samples = [float("nan") if value is None else value for value in data["samples"]]
        features = services.raw_window_ingest(
            equipment_id=equipment.pk,
            ts=data["ts"],
            samples=samples,
            sample_rate_hz=data["sample_rate_hz"],
        )
        return Response(
            {"equipment": equipment.pk, "ts": data["ts"], "features": features},
            status=status.HTTP_201_CREATED,
        )


class HealthBaselineViewSet(viewsets.ReadOnlyModelViewSet):
    """Healthy baselines per equipment; ``relearn`` starts learning a new one."""

    serializer_class = s.HealthBaselineSerializer
    filterset_class = filtersets.HealthBaselineFilterSet
    command_permissions = {"relearn": "maintenance.change_healthbaseline"}

    def get_queryset(self):
        return selectors.health_baseline_list(user=self.request.user)

    @extend_schema(
        summary="Relearn the healthy baseline (e.g. after an overhaul) from the given time on",
        request=s.BaselineRelearnSerializer,
        responses={201: s.HealthBaselineSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["post"])
    def relearn(self, request):
        serializer = s.BaselineRelearnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        equipment = _equipment_in_scope(request, data["equipment"])
        baseline = services.health_baseline_relearn(
            equipment_id=equipment.pk,
            learn_from_at=data["learn_from_at"],
            actor=request.user,
            reason=data["reason"],
        )
        return Response(s.HealthBaselineSerializer(baseline).data, status=status.HTTP_201_CREATED)


class AnomalyEpisodeViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.AnomalyEpisodeSerializer
    filterset_class = filtersets.AnomalyEpisodeFilterSet

    def get_queryset(self):
        return selectors.anomaly_episode_list(user=self.request.user)


@extend_schema_view(
    list=extend_schema(summary="Sensors found suspect by sensor drift (filter status, equipment)"),
    retrieve=extend_schema(summary="One sensor suspicion"),
)
class SensorSuspicionViewSet(viewsets.ReadOnlyModelViewSet):
    """Sensors found suspect by their redundant pair; ``clear`` after a recalibration."""

    serializer_class = s.SensorSuspicionSerializer
    filterset_class = filtersets.SensorSuspicionFilterSet
    command_permissions = {"clear": "maintenance.change_sensorsuspicion"}

    def get_queryset(self):
        return selectors.sensor_suspicion_list(user=self.request.user)

    @command_schema(
        request=s.ReasonSerializer,
        response=s.SensorSuspicionSerializer,
        summary="Trust the sensor again (recalibrated or replaced)",
    )
    @action(detail=True, methods=["post"])
    def clear(self, request, pk=None):
        suspicion = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cleared = drift.sensor_suspicion_clear(
            suspicion_id=suspicion.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.SensorSuspicionSerializer(cleared).data)


# --- preventive plans, failures, reliability ---------------------------------------------------


class PreventivePlanViewSet(ScopedModelViewSet):
    selector = selectors.preventive_plan_list
    serializer_class = s.PreventivePlanSerializer
    filterset_class = filtersets.PreventivePlanFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    command_permissions = {"check": "maintenance.add_maintenanceworkorder"}

    @extend_schema(
        request=s.PreventivePlanCreateSerializer,
        responses={201: s.PreventivePlanSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.PreventivePlanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        _equipment_in_scope(request, data["equipment"].pk)
        plan = services.preventive_plan_create(actor=request.user, **data)
        return Response(s.PreventivePlanSerializer(plan).data, status=status.HTTP_201_CREATED)

    @command_schema(
        request=None,
        response=s.PlanCheckResultSerializer,
        summary="Usage of the current cycle; creates the preventive order when it is due",
    )
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        plan = self.get_object()
        now = timezone.now()
        order = services.preventive_plan_check(plan_id=plan.pk, now=now)
        plan.refresh_from_db()
        usage = services.plan_usage(plan, now=now)
        due_from = (1 - plan.tolerance_fraction) * plan.interval
        if order is None:
            order = plan.work_orders.filter(plan_cycle_number=plan.cycle_number).first()
        return Response(
            s.PlanCheckResultSerializer(
                {
                    "usage": usage,
                    "due_from": due_from,
                    "is_due": usage >= due_from,
                    "work_order": order,
                }
            ).data
        )


class FailureEventViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.FailureEventSerializer
    filterset_class = filtersets.FailureEventFilterSet
    command_permissions = {"repair": "maintenance.change_failureevent"}

    def get_queryset(self):
        return selectors.failure_event_list(user=self.request.user)

    @extend_schema(
        request=s.FailureEventCreateSerializer,
        responses={201: s.FailureEventSerializer, **ERROR_RESPONSES},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.FailureEventCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        _equipment_in_scope(request, data["equipment"].pk)
        event = services.failure_event_record(actor=request.user, **data)
        return Response(s.FailureEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @command_schema(request=s.FailureRepairSerializer, response=s.FailureEventSerializer)
    @action(detail=True, methods=["post"])
    def repair(self, request, pk=None):
        event = self.get_object()
        serializer = s.FailureRepairSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.failure_event_repair(
            event_id=event.pk, actor=request.user, **serializer.validated_data
        )
        return Response(s.FailureEventSerializer(updated).data)


class ReliabilityViewSet(viewsets.GenericViewSet):
    """ISO 22400 MTBF = ΣTBF/FE and MTTR = ΣTTR/FE of one equipment over a period."""

    queryset = FailureEvent.objects.none()
    serializer_class = s.ReliabilitySerializer
    filter_backends: list = []
    pagination_class = None
    schema = SingleObjectSchema()

    @extend_schema(
        summary="MTBF and MTTR of an equipment (period: since … until, default now)",
        parameters=[s.ReliabilityQuerySerializer],
        responses={200: s.ReliabilitySerializer, **ERROR_RESPONSES},
    )
    def list(self, request):
        query = s.ReliabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        equipment = _equipment_in_scope(request, data["equipment"])
        until = data["until"] or timezone.now()
        figures = selectors.reliability_get(
            equipment_id=equipment.pk, period_start_at=data["since"], period_end_at=until
        )

        def hours(value_s: float | None) -> float | None:
            return None if value_s is None else value_s / 3600.0

        return Response(
            s.ReliabilitySerializer(
                {
                    "equipment": equipment.pk,
                    "period_start_at": data["since"],
                    "period_end_at": until,
                    "failure_event_count": figures.failure_event_count,
                    "operating_time_s": figures.operating_time_s,
                    "total_repair_time_s": figures.total_repair_time_s,
                    "mean_time_between_failures_s": figures.mean_time_between_failures_s,
                    "mean_time_to_repair_s": figures.mean_time_to_repair_s,
                    "mean_time_between_failures_h": hours(figures.mean_time_between_failures_s),
                    "mean_time_to_repair_h": hours(figures.mean_time_to_repair_s),
                }
            ).data
        )
