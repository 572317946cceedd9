"""Lots, serial units, genealogy, the append-only audit log, electronic signatures and the API's
idempotency keys."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator
from django.db import models

from traceability.choices import (
    ConsumptionMethod,
    IdempotencyKeyState,
    LotOrigin,
    LotStatus,
    SerialStatus,
    SignatureMeaning,
)


class Lot(models.Model):
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(max_length=100, unique=True)
    supplier = models.CharField(max_length=200, blank=True, help_text="Who delivered it.")
    supplier_lot_code = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="The supplier's batch (GS1 AI 10)."
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="End of shelf life.")
    quantity = models.DecimalField(
        max_digits=14, decimal_places=3, validators=[MinValueValidator(0)]
    )
    status = models.CharField(max_length=16, choices=LotStatus.choices, default=LotStatus.AVAILABLE)
    origin = models.CharField(max_length=16, choices=LotOrigin.choices)
    produced_by = models.ForeignKey(
        "production.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="produced_lots",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="lot_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return self.code


class SerialUnit(models.Model):
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="serial_units")
    serial = models.CharField(max_length=100, unique=True)
    status = models.CharField(
        max_length=16, choices=SerialStatus.choices, default=SerialStatus.IN_PROCESS
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["serial"]

    def __str__(self) -> str:
        return self.serial


class GenealogyNode(models.Model):
    """One lot or one serial unit in the genealogy graph (exactly one of the two).

    The trace queries walk integer node ids only (``traceability.selectors.trace``); a node
    is made the first time its lot or serial takes part in a link."""

    id = models.BigAutoField(primary_key=True)
    lot = models.OneToOneField(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="genealogy_node"
    )
    serial_unit = models.OneToOneField(
        SerialUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="genealogy_node"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lot__isnull=False, serial_unit__isnull=True)
                | models.Q(lot__isnull=True, serial_unit__isnull=False),
                name="genealogy_node_lot_xor_serial",
            )
        ]

    def __str__(self) -> str:
        return f"lot {self.lot_id}" if self.lot_id else f"serial {self.serial_unit_id}"


class GenealogyLink(models.Model):
    """``child`` (a consumed lot or serial) went into ``parent`` (the lot or serial made):
    how much, at which operation, when and by whom. Backward trace walks parent → child,
    forward trace child → parent. A serial is consumed at most once (partial unique index)."""

    id = models.BigAutoField(primary_key=True)
    parent = models.ForeignKey(GenealogyNode, on_delete=models.PROTECT, related_name="child_links")
    child = models.ForeignKey(GenealogyNode, on_delete=models.PROTECT, related_name="parent_links")
    child_is_serial = models.BooleanField(default=False)
    quantity = models.DecimalField(
        max_digits=14, decimal_places=3, validators=[MinValueValidator(0)]
    )
    operation = models.ForeignKey(
        "production.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    method = models.CharField(
        max_length=16, choices=ConsumptionMethod.choices, default=ConsumptionMethod.MANUAL
    )
    linked_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["linked_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("child")), name="genealogy_not_self"
            ),
            models.UniqueConstraint(
                fields=["child"],
                condition=models.Q(child_is_serial=True),
                name="genealogy_serial_consumed_once",
            ),
        ]


class AuditEvent(models.Model):
    """Append-only record of a state change: who, when (UTC), what, old → new, why.

    On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE of the table, and a deferred
    trigger seals every row when its transaction commits: ``chain_seq`` (1, 2, 3, ... in
    commit order, no gaps), ``prev_hash`` (the previous row's ``hash``) and ``hash`` (SHA-256
    of the previous hash and the row, see ``traceability.services.audit_chain``). The
    migration ``0003_audit_hash_chain`` installs both; docs/operations.md has the role split.
    """

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A user with audit events is deactivated, never deleted.",
    )
    actor_name = models.CharField(max_length=150)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    action = models.CharField(max_length=64)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Written by the database's sealing trigger at commit, never by the application.
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


class ElectronicSignature(models.Model):
    """An electronic signature (21 CFR Part 11 §11.50, §11.70): who signed which record, when,
    what it means and why. Append-only like the audit log (same database trigger); each
    signature also writes a ``sign`` audit event, so the hash chain covers it.
    """

    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="electronic_signatures"
    )
    printed_name = models.CharField(max_length=300, help_text="The signer's full name.")
    signed_at = models.DateTimeField(help_text="UTC.")
    meaning = models.CharField(max_length=16, choices=SignatureMeaning.choices)
    reason = models.TextField(blank=True)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return (
            f"{self.printed_name} ({self.get_meaning_display()}) "
            f"{self.signed_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Electronic signatures are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Electronic signatures are append-only.")


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` on an unsafe API request and the response it got.

    Written only by ``traceability.services.idempotency`` for ``mes_site.idempotency``; the
    unique constraint on (user, key) decides between concurrent requests with the same key.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.TextField()
    body_sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=IdempotencyKeyState.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.state})"


class ApiToken(models.Model):
    """A key for ``Authorization: Token <key>``, stored as its SHA-256 only.

    Written only by ``traceability.services.api_tokens``. The key itself is shown once, when
    it is created; ``prefix`` (its first characters) finds the row, ``key_hash`` proves the
    key. A token works until ``expires_at`` and stops at once when revoked; a rotation gives
    the old token a short grace and points it at its replacement.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for: 'ERP', 'script'.")
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        # No add/change/delete/view permissions: "traceability.*" of a role must not reach
        # other users' tokens. Owners manage their own; the admin role everybody's.
        default_permissions = ()
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, {self.user})"

    def is_active_at(self, when) -> bool:
        return self.revoked_at is None and when < self.expires_at
