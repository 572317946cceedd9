"""Serializers of the telemetry API (input checks and typed output for the schema)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mes_site.fields import FloatField, IntegerField, ModelSerializer
from workers.models import DeadLetter

MAX_SERIES_POINTS = 10_000


class SeriesQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(
        required=False, help_text="Start of the range (default: one hour before end)."
    )
    end = serializers.DateTimeField(required=False, help_text="End of the range (default: now).")
    max_points = IntegerField(
        required=False,
        default=500,
        min_value=3,
        max_value=MAX_SERIES_POINTS,
        help_text="At most this many points (LTTB keeps the shape and the peaks).",
    )
    source = serializers.ChoiceField(
        choices=["raw", "rollup"],
        required=False,
        help_text="Force raw readings or per-minute rollups (default: by the range length).",
    )

    def validate(self, attrs):
        start = attrs.get("start")
        end = attrs.get("end")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end": "end must be after start."})
        return attrs


class SeriesPointSerializer(serializers.Serializer):
    ts = serializers.DateTimeField()
    value = FloatField(help_text="The reading, or the minute's mean for rollups.")
    min_value = FloatField(allow_null=True, help_text="Rollups: the minute's min.")
    max_value = FloatField(allow_null=True, help_text="Rollups: the minute's max.")


class SeriesSerializer(serializers.Serializer):
    signal = IntegerField()
    name = serializers.CharField()
    unit = serializers.CharField()
    data_type = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=["raw", "rollup"])
    total_points = IntegerField(help_text="Points in the range before downsampling.")
    points = SeriesPointSerializer(many=True)


@extend_schema_field(
    {"oneOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}], "nullable": True}
)
class ScalarField(serializers.Field):
    def to_representation(self, value):
        return value


class CurrentValueSerializer(serializers.Serializer):
    signal = serializers.CharField()
    value = ScalarField(allow_null=True)
    unit = serializers.CharField()
    ts = serializers.DateTimeField()
    quality = IntegerField(
        allow_null=True, help_text="OPC UA / Sparkplug quality: 192 good, 0 bad."
    )
    is_stale = serializers.BooleanField()
    stale_at = serializers.DateTimeField(allow_null=True)


class CurrentValuesSerializer(serializers.Serializer):
    equipment = IntegerField()
    uns_path = serializers.CharField()
    values = CurrentValueSerializer(many=True)


class ReasonCountSerializer(serializers.Serializer):
    reason_code = serializers.CharField()
    group_count = IntegerField(help_text="Dead-letter groups (topic × reason).")
    message_count = IntegerField(help_text="Messages dead-lettered in them.")


class WebhookBacklogSerializer(serializers.Serializer):
    pending_count = IntegerField(help_text="Deliveries not yet accepted (pending or retrying).")
    retrying_count = IntegerField(help_text="Of those, the ones whose last attempt failed.")
    parked_count = IntegerField(help_text="Given up after the retry window; replay in the admin.")
    oldest_pending_at = serializers.DateTimeField(allow_null=True)
    oldest_pending_age_s = FloatField(allow_null=True)


class ProcurementOutboxBacklogSerializer(serializers.Serializer):
    pending_count = IntegerField(help_text="Requests the ERP has not fetched yet.")
    unacknowledged_count = IntegerField(help_text="Pending or fetched, not acknowledged.")
    stale_count = IntegerField(help_text="Unacknowledged past MAINTENANCE_PROCUREMENT_STALE_H.")
    oldest_unacknowledged_at = serializers.DateTimeField(allow_null=True)
    oldest_unacknowledged_age_s = FloatField(allow_null=True)


class IngestStatusSerializer(serializers.Serializer):
    window_s = FloatField()
    batch_count = IntegerField()
    messages_per_s = FloatField()
    readings_per_s = FloatField()
    stored_per_s = FloatField()
    dead_letters_per_s = FloatField()
    reading_conflict_count = IntegerField(
        help_text="Readings dropped in the window because their signal already had another "
        "value at the same instant (the (signal, ts) key keeps the first)."
    )
    lag_p50_s = FloatField(
        allow_null=True, help_text="Median time from the bridge's hand-off to the commit."
    )
    lag_max_s = FloatField(allow_null=True)
    last_processed_at = serializers.DateTimeField(allow_null=True)
    queue_length = IntegerField(
        allow_null=True, help_text="Batches waiting in the Celery ingest queue."
    )
    dead_letters_by_reason = ReasonCountSerializer(many=True)
    webhooks = WebhookBacklogSerializer(help_text="Backlog of webhook deliveries to the ERP.")
    procurement_outbox = ProcurementOutboxBacklogSerializer(
        help_text="Backlog of the procurement outbox the ERP polls."
    )


class DeadLetterSerializer(ModelSerializer):
    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "source",
            "topic",
            "reason_code",
            "message",
            "payload_excerpt",
            "payload_size_bytes",
            "count",
            "first_seen_at",
            "last_seen_at",
            "equipment",
            "is_resolved",
            "resolved_at",
        ]
        read_only_fields = fields
