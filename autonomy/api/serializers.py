from rest_framework import serializers

from autonomy.models import ProposedAction
from mes_site.fields import ModelSerializer
from traceability.services.audit import SignatureMeaning


class ElectronicSignatureSerializer(serializers.Serializer):
    """A Part 11 signature shown with the signed record: name, UTC time, meaning, reason."""

    printed_name = serializers.CharField(read_only=True)
    signer = serializers.CharField(source="signer.username", read_only=True)
    signed_at = serializers.DateTimeField(read_only=True)
    meaning = serializers.CharField(read_only=True)
    reason = serializers.CharField(read_only=True)


class ProposedActionSerializer(ModelSerializer):
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, default=None, allow_null=True
    )
    reverted_by = serializers.CharField(
        source="reverted_by.username", read_only=True, default=None, allow_null=True
    )
    payload = serializers.DictField(read_only=True)
    inverse = serializers.DictField(read_only=True)
    explanation_data = serializers.DictField(read_only=True)
    result = serializers.DictField(read_only=True)
    signature = ElectronicSignatureSerializer(read_only=True, default=None)

    class Meta:
        model = ProposedAction
        fields = [
            "id",
            "site",
            "kind",
            "risk",
            "status",
            "target",
            "payload",
            "inverse",
            "explanation",
            "explanation_data",
            "created_at",
            "decided_by",
            "decided_at",
            "signature_name",
            "signature_meaning",
            "signature",
            "applied_at",
            "reverted_at",
            "reverted_by",
            "result",
        ]
        read_only_fields = fields


class ActionSignatureSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=256,
        trim_whitespace=False,
        write_only=True,
        style={"input_type": "password"},
        help_text="Your password: the electronic signature of the approval.",
    )
    meaning = serializers.ChoiceField(
        choices=SignatureMeaning.choices,
        default=SignatureMeaning.APPROVAL,
        help_text="What the signature means (21 CFR Part 11 §11.50).",
    )
    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="Why you sign."
    )
