"""Small command endpoints the live screens call (under /api/live/).

Each is an explicit POST that calls exactly one service and answers with the API's one error
format. Objects outside the user's plant scope are 404, as everywhere in the API.

- proposed actions: approve (electronic signature: the user's password), reject, revert
- a site's autonomy mode, and the kill switch
- an operation's good/scrap report with a client request id, so that a double-tapped HMI
  button (or a retried request) is booked once
"""

from __future__ import annotations

from django.core.cache import cache
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from mes_site.api import ERROR_RESPONSES, ReasonSerializer
from mes_site.errors import Conflict, Forbidden
from production import selectors, services
from production.api.serializers import OperationSerializer
from production.choices import AutonomyMode
from production.models import ProposedAction
from production.selectors.live import proposed_action_dict
from production.services import guardrails

REQUEST_ID_TTL_S = 24 * 3600

ActionSerializer = inline_serializer(
    name="LiveProposedAction",
    fields={
        "id": serializers.IntegerField(),
        "kind": serializers.CharField(),
        "kind_label": serializers.CharField(),
        "risk": serializers.CharField(),
        "status": serializers.CharField(),
        "status_label": serializers.CharField(),
        "target": serializers.CharField(),
        "explanation": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "decided_by": serializers.CharField(allow_null=True),
        "signature_name": serializers.CharField(),
        "decided_at": serializers.DateTimeField(allow_null=True),
        "result": serializers.JSONField(),
    },
)

SiteModeSerializer = inline_serializer(
    name="LiveSiteMode",
    fields={"site": serializers.IntegerField(), "autonomy_mode": serializers.CharField()},
)


class ApproveSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=256, trim_whitespace=False, style={"input_type": "password"}
    )
    meaning = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AutonomyModeSerializer(ReasonSerializer):
    # Plain text: the service refuses other values with the allowed ones in the detail (a
    # ChoiceField here would name the AutonomyMode enum a second time in the schema).
    mode = serializers.CharField(
        max_length=16, help_text=f"One of: {', '.join(AutonomyMode.values)}."
    )


class IdempotentReportSerializer(serializers.Serializer):
    request_id = serializers.UUIDField(
        help_text="Chosen by the client once per report; a repeat is answered, not booked."
    )
    good = serializers.IntegerField(min_value=0, default=0)
    scrap = serializers.IntegerField(min_value=0, default=0)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _ActionCommand(APIView):
    permission_classes = [IsAuthenticated]

    def action_in_scope(self, request, action_id: int) -> ProposedAction:
        sites = selectors.site_list(user=request.user)
        return get_object_or_404(ProposedAction.objects.filter(site__in=sites), pk=action_id)

    @staticmethod
    def answer(action: ProposedAction) -> Response:
        action = ProposedAction.objects.select_related("decided_by").get(pk=action.pk)
        return Response(proposed_action_dict(action))


class ActionApproveView(_ActionCommand):
    @extend_schema(
        request=ApproveSerializer,
        responses={200: ActionSerializer, **ERROR_RESPONSES},
        summary="Approve a proposed action with your password (electronic signature)",
    )
    def post(self, request, action_id: int):
        action = self.action_in_scope(request, action_id)
        data = _valid(ApproveSerializer, request)
        approved = guardrails.action_approve(
            action_id=action.pk,
            user=request.user,
            password=data["password"],
            meaning=data["meaning"],
        )
        return self.answer(approved)


class ActionRejectView(_ActionCommand):
    @extend_schema(
        request=ReasonSerializer,
        responses={200: ActionSerializer, **ERROR_RESPONSES},
        summary="Reject a proposed action",
    )
    def post(self, request, action_id: int):
        action = self.action_in_scope(request, action_id)
        data = _valid(ReasonSerializer, request)
        rejected = guardrails.action_reject(
            action_id=action.pk, user=request.user, reason=data["reason"]
        )
        return self.answer(rejected)


class ActionRevertView(_ActionCommand):
    @extend_schema(
        request=ReasonSerializer,
        responses={200: ActionSerializer, **ERROR_RESPONSES},
        summary="Revert an applied action through its inverse",
    )
    def post(self, request, action_id: int):
        action = self.action_in_scope(request, action_id)
        data = _valid(ReasonSerializer, request)
        reverted = guardrails.action_revert(
            action_id=action.pk, user=request.user, reason=data["reason"]
        )
        return self.answer(reverted)


class _SiteCommand(APIView):
    permission_classes = [IsAuthenticated]

    def site_in_scope(self, request, site_id: int):
        site = get_object_or_404(selectors.site_list(user=request.user), pk=site_id)
        if not request.user.has_perm("production.set_autonomy_mode"):
            raise Forbidden("Only supervisors change the autonomy mode.")
        return site


class AutonomyModeView(_SiteCommand):
    @extend_schema(
        request=AutonomyModeSerializer,
        responses={200: SiteModeSerializer, **ERROR_RESPONSES},
        summary="Set a site's autonomy mode (off, supervised, full)",
    )
    def post(self, request, site_id: int):
        site = self.site_in_scope(request, site_id)
        data = _valid(AutonomyModeSerializer, request)
        updated = guardrails.autonomy_mode_set(
            site_id=site.pk, mode=data["mode"], actor=request.user, reason=data["reason"]
        )
        return Response({"site": updated.pk, "autonomy_mode": updated.autonomy_mode})


class KillSwitchView(_SiteCommand):
    @extend_schema(
        request=ReasonSerializer,
        responses={200: SiteModeSerializer, **ERROR_RESPONSES},
        summary="Kill switch: stop all automatic application on a site at once",
    )
    def post(self, request, site_id: int):
        site = self.site_in_scope(request, site_id)
        data = _valid(ReasonSerializer, request)
        updated = guardrails.kill_switch(
            site_id=site.pk, actor=request.user, reason=data["reason"] or "kill switch"
        )
        return Response({"site": updated.pk, "autonomy_mode": updated.autonomy_mode})


class OperationReportView(APIView):
    """Report good and scrap units once per client request id (safe against double taps)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=IdempotentReportSerializer,
        responses={200: OperationSerializer, **ERROR_RESPONSES},
        summary="Report good/scrap units of a running operation, at most once per request id",
    )
    def post(self, request, operation_id: int):
        if not request.user.has_perm("production.operate_operation"):
            raise Forbidden("You may not report quantities.")
        operation = get_object_or_404(selectors.operation_list(user=request.user), pk=operation_id)
        data = _valid(IdempotentReportSerializer, request)
        key = f"live:report:{request.user.pk}:{data['request_id']}"
        if not cache.add(key, "in_flight", timeout=REQUEST_ID_TTL_S):
            previous = cache.get(key)
            if previous == "in_flight":
                raise Conflict("This report is being booked already.", code="duplicate_request")
            operation.refresh_from_db()
            return Response({**OperationSerializer(operation).data, "duplicate": True})
        try:
            updated = services.operation_report_quantity(
                operation_id=operation.pk,
                good=data["good"],
                scrap=data["scrap"],
                reason=data["reason"],
                actor=request.user,
            )
        except Exception:
            cache.delete(key)  # not booked: the same request may be tried again
            raise
        cache.set(key, "done", timeout=REQUEST_ID_TTL_S)
        return Response(OperationSerializer(updated).data, status=status.HTTP_200_OK)


urlpatterns = [
    path("actions/<int:action_id>/approve/", ActionApproveView.as_view(), name="live-approve"),
    path("actions/<int:action_id>/reject/", ActionRejectView.as_view(), name="live-reject"),
    path("actions/<int:action_id>/revert/", ActionRevertView.as_view(), name="live-revert"),
    path("sites/<int:site_id>/autonomy-mode/", AutonomyModeView.as_view(), name="live-autonomy"),
    path("sites/<int:site_id>/kill-switch/", KillSwitchView.as_view(), name="live-kill-switch"),
    path(
        "operations/<int:operation_id>/report/",
        OperationReportView.as_view(),
        name="live-operation-report",
    ),
]
