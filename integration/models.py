"""Webhook subscriptions, the transactional outbox of events and the deliveries to send.

An ``OutboxEvent`` and one ``WebhookDelivery`` per matching subscription are written in the
business transaction that caused them (``integration.services.events.emit``); the sender
(``integration.services.deliveries``) brings each delivery to its receiver, in event order per
subscription. The app sits below every domain app, so sites and users are referenced by id
(``site_id``) or through the user model only.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from integration.choices import OPEN_DELIVERY_STATUSES, DeliveryStatus


class WebhookSubscription(models.Model):
    name = models.CharField(max_length=200)
    target_url = models.URLField(max_length=2000, help_text="Where the MES POSTs the events.")
    secret = models.CharField(
        max_length=120,
        help_text="whsec_<base64>: the key of the HMAC-SHA256 signature (Standard Webhooks).",
    )
    event_types = models.JSONField(
        default=list, help_text="The event types this subscription receives (a list)."
    )
    site_id = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Only events of this site (its id); empty: every site and plant-wide events.",
    )
    is_active = models.BooleanField(
        default=True, help_text="An inactive subscription gets no new events; its open ones wait."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class OutboxEvent(models.Model):
    """One business event. Its id is the monotonic ``sequence`` receivers see: events of one
    transaction, and of transactions that follow each other, come in the order they happened."""

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(db_index=True)
    site_id = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type}"

    @property
    def sequence(self) -> int:
        return self.pk


class WebhookDelivery(models.Model):
    """One event for one subscription. ``webhook_id`` is the Standard Webhooks ``webhook-id``
    header: the same on every attempt, so receivers de-duplicate on it."""

    id = models.BigAutoField(primary_key=True)
    webhook_id = models.CharField(max_length=64, unique=True)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    deadline_at = models.DateTimeField(
        help_text="No attempt is scheduled after this instant: the delivery is parked."
    )
    # The sender's lease: while claimed_until lies ahead, one sender owns the delivery; a sender
    # that dies leaves it to be claimed again once the lease has run out.
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    replay_count = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration_s = models.FloatField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    parked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["subscription", "event"],
                condition=models.Q(status__in=OPEN_DELIVERY_STATUSES),
                name="delivery_open_in_order",
            ),
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=OPEN_DELIVERY_STATUSES),
                name="delivery_open_by_age",
            ),
            models.Index(fields=["status", "created_at"], name="delivery_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="delivery_one_per_subscription_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} ({self.status})"
