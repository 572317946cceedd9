"""API of the recall impact report: ``GET recall/?supplier_lot=…`` and the one-click hold."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from autonomy.api.serializers import ProposedActionSerializer
from mes_site.api import ERROR_RESPONSES, command_schema, validated_input
from mes_site.fields import IntegerField
from planning.selectors.recall import recall_report
from planning.services.recall import recall_hold_propose
from traceability.selectors import lot_list_scoped


class RecallRowSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="lot or serial")
    code = serializers.CharField()
    item = serializers.CharField()
    is_finished = serializers.BooleanField()
    status = serializers.CharField()
    place_kind = serializers.ChoiceField(choices=["wip", "stock", "shipped", "other"])
    place = serializers.CharField(help_text="Work order, location or customer order.")
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    lot_code = serializers.CharField()
    lot_status = serializers.CharField()
    is_in_our_hands = serializers.BooleanField()


class RecallPlaceSerializer(serializers.Serializer):
    place_kind = serializers.CharField()
    place = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)


class RecallReportSerializer(serializers.Serializer):
    supplier_lot_code = serializers.CharField()
    reached_count = IntegerField()
    finished_serial_count = IntegerField()
    lots_to_hold = serializers.ListField(child=IntegerField())
    quantity_by_place = serializers.SerializerMethodField()
    rows = RecallRowSerializer(many=True)

    def get_quantity_by_place(self, report) -> list[dict]:
        return RecallPlaceSerializer(
            [
                {"place_kind": kind, "place": place, "quantity": quantity}
                for kind, place, quantity in report.quantity_by_place
            ],
            many=True,
        ).data


class RecallHoldSerializer(serializers.Serializer):
    supplier_lot = serializers.CharField(max_length=100)


class MayTrace(permissions.BasePermission):
    """Reading the report needs ``traceability.view_lot``; the hold ``change_lot``."""

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in permissions.SAFE_METHODS:
            return user.has_perm("traceability.view_lot")
        return user.has_perm("traceability.change_lot")


class RecallView(APIView):
    """Recall impact of a supplier lot: every lot and serial unit it went into, at any depth,
    with where each one is (WIP, stock by location, shipped for which customer order); only
    lots in the user's scope are followed. An unknown supplier lot has an empty report."""

    permission_classes = [MayTrace]

    @extend_schema(
        parameters=[OpenApiParameter("supplier_lot", str, required=True)],
        responses={200: RecallReportSerializer, **ERROR_RESPONSES},
    )
    def get(self, request):
        code = (request.query_params.get("supplier_lot") or "").strip()
        report = recall_report(supplier_lot_code=code, visible=lot_list_scoped(user=request.user))
        return Response(RecallReportSerializer(report).data)


class RecallHoldView(APIView):
    """Propose holding every lot of the report still in our hands: ONE proposed action
    through the guardrails (applied or waiting for a supervisor, as the policy says). 404 for
    an unknown supplier lot, 409 when nothing is left to hold."""

    permission_classes = [MayTrace]

    @command_schema(request=RecallHoldSerializer, response=ProposedActionSerializer)
    def post(self, request):
        data = validated_input(RecallHoldSerializer, request)
        proposed = recall_hold_propose(
            supplier_lot_code=data["supplier_lot"],
            actor=request.user,
            visible=lot_list_scoped(user=request.user),
        )
        return Response(ProposedActionSerializer(proposed).data)
