"""REST API of the guardrails: proposed actions with their explanation, and their decisions.

The autonomy mode of a site and the kill switch are a site's commands, served with the plant
model (``production.api.views.AutonomyViewSet``).
"""

from rest_framework.decorators import action
from rest_framework.response import Response

from autonomy import selectors
from autonomy.api.serializers import ActionSignatureSerializer, ProposedActionSerializer
from autonomy.filtersets import ProposedActionFilterSet
from autonomy.models import ProposedAction
from autonomy.services import guardrails
from mes_site.api import ReasonSerializer, ScopedReadOnlyViewSet, command_schema, validated_input
from mes_site.throttles import authentication_throttles


class ProposedActionViewSet(ScopedReadOnlyViewSet):
    """Automatic decisions with their explanation; supervisors approve (signed), reject, revert."""

    selector = selectors.proposed_action_list
    serializer_class = ProposedActionSerializer
    filterset_class = ProposedActionFilterSet
    search_fields = ["target", "explanation"]
    ordering_fields = ["created_at"]
    command_permissions = {
        "approve": "autonomy.approve_proposedaction",
        "reject": "autonomy.approve_proposedaction",
        "revert": "autonomy.approve_proposedaction",
    }

    @staticmethod
    def _answer(action_id: int) -> Response:
        proposed = ProposedAction.objects.select_related(
            "decided_by", "reverted_by", "signature__signer"
        ).get(pk=action_id)
        return Response(ProposedActionSerializer(proposed).data)

    @command_schema(
        request=ActionSignatureSerializer,
        response=ProposedActionSerializer,
        summary="Approve with your password (electronic signature) and apply",
    )
    @action(detail=True, methods=["post"], throttle_classes=authentication_throttles())
    def approve(self, request, pk=None):
        proposed = self.get_object()
        data = validated_input(ActionSignatureSerializer, request)
        guardrails.action_approve(
            action_id=proposed.pk,
            user=request.user,
            password=data["password"],
            meaning=data["meaning"],
            reason=data["reason"],
            request=request,
        )
        return self._answer(proposed.pk)

    @command_schema(request=ReasonSerializer, response=ProposedActionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        proposed = self.get_object()
        reason = validated_input(ReasonSerializer, request)["reason"]
        guardrails.action_reject(action_id=proposed.pk, user=request.user, reason=reason)
        return self._answer(proposed.pk)

    @command_schema(request=ReasonSerializer, response=ProposedActionSerializer)
    @action(detail=True, methods=["post"])
    def revert(self, request, pk=None):
        proposed = self.get_object()
        reason = validated_input(ReasonSerializer, request)["reason"]
        guardrails.action_revert(action_id=proposed.pk, user=request.user, reason=reason)
        return self._answer(proposed.pk)
