"""Connections to PLCs (OPC UA, Modbus TCP) and their tag → Signal mappings.

Configured in the admin; ``python manage.py connect`` runs them, and
``python manage.py connect --export file.json`` writes the file a gateway without a database
runs with ``python -m connectors.run --config file.json`` (docs/connectors.md)."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from connectors.choices import (
    ByteOrder,
    ConnectionState,
    DataType,
    Protocol,
    RegisterKind,
    SecurityMode,
    SecurityPolicy,
)


class Connection(models.Model):
    """One device (an OPC UA server or a Modbus TCP slave) and how to talk to it."""

    name = models.SlugField(max_length=100, unique=True)
    protocol = models.CharField(max_length=16, choices=Protocol.choices)
    endpoint = models.CharField(
        max_length=300, help_text="opc.tcp://host:4840[/path] or modbus://host:502"
    )
    is_enabled = models.BooleanField(default=True)
    security_policy = models.CharField(
        max_length=32, choices=SecurityPolicy.choices, default=SecurityPolicy.NONE
    )
    security_mode = models.CharField(
        max_length=32, choices=SecurityMode.choices, default=SecurityMode.SIGN_AND_ENCRYPT
    )
    certificate_path = models.CharField(
        max_length=300,
        blank=True,
        help_text="The client's certificate (DER or PEM) on the gateway.",
    )
    private_key_path = models.CharField(max_length=300, blank=True)
    server_certificate_path = models.CharField(
        max_length=300, blank=True, help_text="The server's certificate, to trust it explicitly."
    )
    username = models.CharField(max_length=100, blank=True)
    password = models.CharField(max_length=200, blank=True)
    sampling_interval_ms = models.FloatField(
        default=1000.0,
        validators=[MinValueValidator(0.0)],
        help_text="OPC UA: the monitored items' sampling interval; Modbus: the poll period.",
    )
    deadband = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0)],
        help_text="Absolute deadband: smaller changes are not published (a tag may override).",
    )
    max_requests_per_s = models.FloatField(
        default=50.0,
        validators=[MinValueValidator(0.001)],
        help_text="Modbus: the device's rate limit (requests per second).",
    )
    timeout_s = models.FloatField(default=3.0, validators=[MinValueValidator(0.001)])
    retries = models.PositiveSmallIntegerField(default=2)
    unit_id = models.PositiveSmallIntegerField(default=1, help_text="Modbus unit (slave) id.")
    state = models.CharField(
        max_length=16, choices=ConnectionState.choices, default=ConnectionState.UNKNOWN
    )
    state_reason = models.CharField(max_length=500, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.security_policy != SecurityPolicy.NONE and not (
            self.certificate_path and self.private_key_path
        ):
            raise ValidationError(
                {"certificate_path": "Basic256Sha256 needs the client's certificate and key."}
            )
        if self.protocol == Protocol.MODBUS and self.security_policy != SecurityPolicy.NONE:
            raise ValidationError({"security_policy": "Modbus TCP has no security policy."})


class TagMapping(models.Model):
    """One tag of a connection and the Signal its values become."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="tags")
    signal = models.ForeignKey("production.Signal", on_delete=models.CASCADE, related_name="+")
    address = models.CharField(
        max_length=300,
        help_text="OPC UA node id (ns=2;s=Line1.Temperature) or Modbus address (0-based).",
    )
    register_kind = models.CharField(
        max_length=16, choices=RegisterKind.choices, default=RegisterKind.HOLDING
    )
    data_type = models.CharField(max_length=16, choices=DataType.choices, default=DataType.INT16)
    byte_order = models.CharField(max_length=8, choices=ByteOrder.choices, default=ByteOrder.BIG)
    word_order = models.CharField(max_length=8, choices=ByteOrder.choices, default=ByteOrder.BIG)
    scale = models.FloatField(default=1.0, help_text="value = raw × scale + offset")
    offset = models.FloatField(default=0.0)
    deadband = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="Empty: the connection's.",
    )

    class Meta:
        ordering = ["connection", "address"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "signal"], name="tag_signal_unique")
        ]

    def __str__(self) -> str:
        return f"{self.connection.name}:{self.address}"

    def clean(self) -> None:
        protocol = self.connection.protocol if self.connection_id else None
        if protocol == Protocol.MODBUS and (
            not self.address.isdigit() or int(self.address) > 65535
        ):
            raise ValidationError({"address": "A Modbus address is a number 0..65535."})
        if (
            self.register_kind in (RegisterKind.COIL, RegisterKind.DISCRETE_INPUT)
            and self.data_type != DataType.BOOL
        ):
            raise ValidationError({"data_type": "Coils and discrete inputs hold a bool."})
