"""Telemetry store, ingest ledger, dead letters and Sparkplug mappings.

``Reading`` is the historical store. On PostgreSQL its table is partitioned by day on ``ts``
(created by migration ``0001`` with SQL; partitions are created ahead and dropped after the
retention period by ``workers.store``); on SQLite it is a plain table. Rows are written in bulk
by ``workers.store.readings_write`` (COPY into a staging table, then ``INSERT … ON CONFLICT DO
NOTHING``), never one ORM save per reading. The primary key (signal, ts) makes a redelivered
reading harmless.
"""

from django.conf import settings
from django.db import models

from workers.choices import QUALITY_GOOD, IngestSource


class Reading(models.Model):
    """One historical value of a signal. Numbers and booleans (0/1) in ``value``; text in
    ``text_value``. ``quality`` follows OPC UA / Sparkplug: 192 good, 0 bad."""

    pk = models.CompositePrimaryKey("signal", "ts")
    # No database foreign key: the ingest checks the signal (cached contract) and a per-row
    # referential trigger would cost a large part of the insert rate. Deleting a Signal still
    # deletes its readings (Django's cascade).
    signal = models.ForeignKey(
        "production.Signal", on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    ts = models.DateTimeField()
    value = models.FloatField(null=True)
    text_value = models.TextField(null=True)  # noqa: DJ001 (NULL: not a string signal)
    quality = models.SmallIntegerField(default=QUALITY_GOOD)

    class Meta:
        ordering = ["signal", "ts"]

    def __str__(self) -> str:
        return f"{self.signal_id}@{self.ts.isoformat()}"


class ReadingRollup(models.Model):
    """Per-minute aggregate of a numeric signal, maintained on write from the rows actually
    inserted (so redelivery does not count twice). Mean = sum_value / count."""

    pk = models.CompositePrimaryKey("signal", "bucket")
    signal = models.ForeignKey(
        "production.Signal", on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    bucket = models.DateTimeField(help_text="Start of the minute (UTC).")
    min_value = models.FloatField()
    max_value = models.FloatField()
    sum_value = models.FloatField()
    count = models.PositiveIntegerField()

    class Meta:
        ordering = ["signal", "bucket"]
        indexes = [models.Index(fields=["bucket"], name="workers_rollup_bucket")]

    def __str__(self) -> str:
        return f"{self.signal_id}@{self.bucket.isoformat()}"

    @property
    def mean_value(self) -> float:
        return self.sum_value / self.count


class IngestBatch(models.Model):
    """The ledger of processed ingest batches: makes a redelivered Celery task a no-op and
    feeds the ingest status (rate, lag). Old rows are deleted by ``telemetry_maintain``."""

    id = models.UUIDField(primary_key=True)
    source = models.CharField(max_length=16, choices=IngestSource.choices)
    published_at = models.DateTimeField(help_text="When the bridge handed the batch to Celery.")
    processed_at = models.DateTimeField(db_index=True)
    message_count = models.PositiveIntegerField(default=0)
    reading_count = models.PositiveIntegerField(default=0, help_text="Valid readings.")
    stored_count = models.PositiveIntegerField(default=0, help_text="Rows newly inserted.")
    dead_letter_count = models.PositiveIntegerField(default=0)
    event_count = models.PositiveIntegerField(default=0)
    conflict_count = models.PositiveIntegerField(
        default=0,
        help_text="Readings dropped: their signal already had another value at that instant.",
    )

    class Meta:
        ordering = ["-processed_at"]
        verbose_name_plural = "ingest batches"

    def __str__(self) -> str:
        return f"{self.source} batch {self.id}"


class DeadLetter(models.Model):
    """Messages that could not be stored, grouped by (source, topic, reason) with a counter.

    A flood of one bad topic is one row whose ``count`` grows. The last
    ``INGEST_DEAD_LETTER_KEEP_PAYLOADS`` payloads of a group are kept for replay."""

    source = models.CharField(max_length=16, choices=IngestSource.choices)
    topic = models.CharField(max_length=512)
    reason_code = models.CharField(max_length=64, db_index=True)
    message = models.CharField(max_length=500, help_text="The latest occurrence's message.")
    payload_excerpt = models.TextField(blank=True, help_text="The latest payload, bounded.")
    payload_size_bytes = models.PositiveIntegerField(default=0)
    count = models.PositiveBigIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    equipment = models.ForeignKey(
        "production.Equipment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Set when the topic names a known equipment.",
    )
    is_resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "topic", "reason_code"], name="dead_letter_group_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reason_code}: {self.topic} ×{self.count}"


class DeadLetterPayload(models.Model):
    """One kept payload of a dead-letter group, for replay after the cause is fixed."""

    dead_letter = models.ForeignKey(DeadLetter, on_delete=models.CASCADE, related_name="payloads")
    received_at = models.DateTimeField()
    payload = models.BinaryField()

    class Meta:
        ordering = ["dead_letter", "id"]

    def __str__(self) -> str:
        return f"payload {self.pk} of {self.dead_letter_id}"


class SparkplugNodeMapping(models.Model):
    """A Sparkplug edge node (group, node id) and the equipment its own metrics belong to."""

    group_id = models.CharField(max_length=100)
    edge_node_id = models.CharField(max_length=100)
    equipment = models.ForeignKey(
        "production.Equipment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Equipment of the node's own metrics (empty: node metrics are not stored).",
    )
    auto_create_signals = models.BooleanField(
        default=False,
        help_text="Create a Signal for a metric that has none (data type from the birth).",
    )

    class Meta:
        ordering = ["group_id", "edge_node_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group_id", "edge_node_id"], name="sparkplug_node_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id}/{self.edge_node_id}"


class SparkplugDeviceMapping(models.Model):
    """A Sparkplug device of a mapped node and the equipment its metrics belong to."""

    node = models.ForeignKey(SparkplugNodeMapping, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=100)
    equipment = models.ForeignKey(
        "production.Equipment", on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["node", "device_id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "device_id"], name="sparkplug_device_unique")
        ]

    def __str__(self) -> str:
        return f"{self.node}/{self.device_id}"
