"""Proposed actions and the risk policy of each kind of automatic decision (the guardrails)."""

from django.conf import settings
from django.db import models

from autonomy.choices import ActionKind, ActionRisk, ActionStatus


class ActionPolicy(models.Model):
    """The risk of one kind of automatic decision (the guardrails' policy table)."""

    kind = models.CharField(max_length=32, choices=ActionKind.choices, unique=True)
    risk = models.CharField(max_length=8, choices=ActionRisk.choices)

    class Meta:
        db_table = "production_actionpolicy"
        ordering = ["kind"]
        verbose_name_plural = "action policies"

    def __str__(self) -> str:
        return f"{self.kind}: {self.risk}"


class ProposedAction(models.Model):
    site = models.ForeignKey(
        "production.Site", on_delete=models.CASCADE, related_name="proposed_actions"
    )
    kind = models.CharField(max_length=32, choices=ActionKind.choices)
    risk = models.CharField(max_length=8, choices=ActionRisk.choices)
    status = models.CharField(max_length=20, choices=ActionStatus.choices)
    target = models.CharField(max_length=300, help_text="What the action changes, for people.")
    payload = models.JSONField(default=dict)
    inverse = models.JSONField(default=dict, help_text="How to undo it once applied.")
    explanation = models.TextField()
    explanation_data = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="The same episode proposes nothing twice.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    signature_name = models.CharField(max_length=200, blank=True)
    signature_meaning = models.CharField(max_length=200, blank=True)
    signature = models.OneToOneField(
        "traceability.ElectronicSignature",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The approver's electronic signature (21 CFR Part 11).",
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "production_proposedaction"
        ordering = ["-created_at"]
        permissions = [
            ("approve_proposedaction", "Can approve, reject and revert proposed actions"),
            ("set_autonomy_mode", "Can change the autonomy mode and use the kill switch"),
        ]
        indexes = [models.Index(fields=["site", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} → {self.target} ({self.status})"
