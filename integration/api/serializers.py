"""Serializers of the webhook API: subscriptions (the secret only in the answers that make
one) and the delivery log."""

from __future__ import annotations

from rest_framework import serializers

from integration.choices import EventType
from integration.models import WebhookDelivery, WebhookSubscription
from mes_site.fields import BigIntegerField, FloatField, IntegerField, ModelSerializer

SUBSCRIPTION_FIELDS = [
    "id",
    "name",
    "target_url",
    "event_types",
    "site_id",
    "is_active",
    "owner",
    "created_at",
    "secret_rotated_at",
]


class WebhookSubscriptionSerializer(ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(EventType.choices))
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = WebhookSubscription
        fields = SUBSCRIPTION_FIELDS
        read_only_fields = SUBSCRIPTION_FIELDS


class WebhookSubscriptionWithSecretSerializer(WebhookSubscriptionSerializer):
    """A subscription as created or with a rotated secret: the only answers with the secret."""

    secret = serializers.CharField(
        read_only=True, help_text="whsec_<base64>: shown once; keep it in the receiver."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*SUBSCRIPTION_FIELDS, "secret"]
        read_only_fields = fields


class WebhookSubscriptionWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    target_url = serializers.URLField(max_length=2000)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(EventType.choices), min_length=1, max_length=50
    )
    site_id = BigIntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Only this site's events; empty: every site and plant-wide events.",
    )
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookDeliverySerializer(ModelSerializer):
    subscription = serializers.PrimaryKeyRelatedField(read_only=True)
    event_type = serializers.CharField(source="event.event_type", read_only=True)
    event_sequence = BigIntegerField(source="event_id", read_only=True)
    occurred_at = serializers.DateTimeField(source="event.occurred_at", read_only=True)
    payload = serializers.JSONField(source="event.payload", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "subscription",
            "event_type",
            "event_sequence",
            "occurred_at",
            "status",
            "attempt_count",
            "replay_count",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "last_duration_s",
            "created_at",
            "next_attempt_at",
            "deadline_at",
            "delivered_at",
            "parked_at",
            "payload",
        ]
        read_only_fields = fields


class DeliveryBacklogSerializer(serializers.Serializer):
    pending_count = IntegerField(help_text="Pending or retrying deliveries.")
    retrying_count = IntegerField(help_text="Deliveries whose last attempt failed.")
    parked_count = IntegerField(help_text="Given up after a day; replay them.")
    oldest_pending_at = serializers.DateTimeField(allow_null=True)
    oldest_pending_age_s = FloatField(allow_null=True)
