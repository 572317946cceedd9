"""The webhook API: an ERP manages its own subscriptions (the secret is in the answers of
create and rotate-secret only), reads the delivery log and the backlog, and replays."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integration import filtersets, selectors
from integration.api import serializers as s
from integration.services import replay, subscriptions
from mes_site.api import ERROR_RESPONSES, command_schema, validated_input


class WebhookSubscriptionViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Webhook subscriptions. There is no DELETE: a subscription's deliveries are the log of
    what the ERP was sent; switch it off with ``is_active: false``."""

    queryset = selectors.webhook_subscription_list()  # for the permission class; see get_queryset
    serializer_class = s.WebhookSubscriptionSerializer
    filterset_class = filtersets.WebhookSubscriptionFilterSet
    search_fields = ["name", "target_url"]
    command_permissions = {"rotate_secret": "integration.change_webhooksubscription"}

    def get_queryset(self):
        return selectors.webhook_subscription_list_scoped(user=self.request.user)

    @extend_schema(
        request=s.WebhookSubscriptionWriteSerializer,
        responses={201: s.WebhookSubscriptionWithSecretSerializer, **ERROR_RESPONSES},
        summary="Subscribe: the answer carries the signing secret, shown this once",
    )
    def create(self, request, *args, **kwargs):
        data = validated_input(s.WebhookSubscriptionWriteSerializer, request)
        created = subscriptions.subscription_create(**data, owner=request.user, actor=request.user)
        return Response(
            s.WebhookSubscriptionWithSecretSerializer(created).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.WebhookSubscriptionWriteSerializer,
        responses={200: s.WebhookSubscriptionSerializer, **ERROR_RESPONSES},
    )
    def update(self, request, *args, **kwargs):
        subscription = self.get_object()
        serializer = s.WebhookSubscriptionWriteSerializer(
            data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        current = {
            "name": subscription.name,
            "target_url": subscription.target_url,
            "event_types": subscription.event_types,
            "site_id": subscription.site_id,
            "is_active": subscription.is_active,
        }
        # A PUT names every field (defaults fill the optional ones); a PATCH only what changes.
        changes = serializer.validated_data
        updated = subscriptions.subscription_update(
            subscription_id=subscription.pk, actor=request.user, **{**current, **changes}
        )
        return Response(s.WebhookSubscriptionSerializer(updated).data)

    @extend_schema(
        request=s.WebhookSubscriptionWriteSerializer(partial=True),
        responses={200: s.WebhookSubscriptionSerializer, **ERROR_RESPONSES},
    )
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @command_schema(
        response=s.WebhookSubscriptionWithSecretSerializer,
        summary="A new signing secret, shown this once; every attempt from now on uses it",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        rotated = subscriptions.subscription_secret_rotate(subscription_id=self.get_object().pk)
        return Response(s.WebhookSubscriptionWithSecretSerializer(rotated).data)


class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """The delivery log of the subscriptions in scope, newest first; ``backlog/`` counts what
    the receivers have not accepted yet; ``{id}/replay/`` sends a delivered or parked
    delivery again with the same ``webhook-id``."""

    queryset = selectors.webhook_delivery_list()  # for the permission class; see get_queryset
    serializer_class = s.WebhookDeliverySerializer
    filterset_class = filtersets.WebhookDeliveryFilterSet
    command_permissions = {"replay": "integration.change_webhookdelivery"}

    def get_queryset(self):
        return selectors.webhook_delivery_list_scoped(user=self.request.user)

    @extend_schema(
        responses={200: s.DeliveryBacklogSerializer, **ERROR_RESPONSES},
        summary="Deliveries not yet accepted: counts and the age of the oldest",
    )
    @action(detail=False, methods=["get"])
    def backlog(self, request):
        figures = selectors.webhook_backlog(deliveries=self.get_queryset())
        return Response(s.DeliveryBacklogSerializer(figures).data)

    @command_schema(
        response=s.WebhookDeliverySerializer,
        summary="Send a delivered or parked delivery again (same webhook-id and body)",
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        replayed = replay.delivery_replay(delivery_id=self.get_object().pk)
        return Response(s.WebhookDeliverySerializer(replayed).data)
