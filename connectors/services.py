"""Writes of the connectors: the exported configuration and the recorded connection states."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from connectors.choices import ByteOrder, DataType, Protocol, RegisterKind
from connectors.models import Connection, TagMapping
from connectors.runtime.config import (
    ConnectionConfig,
    ConnectorsConfig,
    connection_from_dict,
)
from connectors.selectors import connection_list
from production.models import Equipment, Signal

STATE_REASON_MAX_LENGTH = Connection._meta.get_field("state_reason").max_length


def _tag_document(tag: TagMapping) -> dict[str, object]:
    return {
        "equipment_path": tag.signal.equipment.uns_path,
        "signal": tag.signal.name,
        "address": tag.address,
        "register_kind": tag.register_kind,
        "data_type": tag.data_type,
        "byte_order": tag.byte_order,
        "word_order": tag.word_order,
        "scale": tag.scale,
        "offset": tag.offset,
        "deadband": tag.deadband,
    }


def connection_config_build(connection: Connection) -> ConnectionConfig:
    """The runtime configuration of one connection (validated like the file)."""
    document = {
        "name": connection.name,
        "protocol": connection.protocol,
        "endpoint": connection.endpoint,
        "tags": [_tag_document(tag) for tag in connection.tags.all()],
        "security_policy": connection.security_policy,
        "security_mode": connection.security_mode,
        "certificate_path": connection.certificate_path,
        "private_key_path": connection.private_key_path,
        "server_certificate_path": connection.server_certificate_path,
        "username": connection.username,
        "password": connection.password,
        "sampling_interval_ms": connection.sampling_interval_ms,
        "deadband": connection.deadband,
        "max_requests_per_s": connection.max_requests_per_s,
        "timeout_s": connection.timeout_s,
        "retries": connection.retries,
        "unit_id": connection.unit_id,
    }
    return connection_from_dict(document, f"connection {connection.name!r}")


def connectors_config_build(*, names: list[str] | None = None) -> ConnectorsConfig:
    """The configuration of the enabled connections (or of ``names``) with the project's
    broker and UNS root: what ``connect`` runs and ``connect --export`` writes."""
    connections = connection_list(enabled_only=not names)
    if names:
        connections = connections.filter(name__in=names)
    return ConnectorsConfig(
        mqtt_url=settings.MQTT_URL,
        uns_root=settings.MQTT_UNS_ROOT.strip("/"),
        connections=tuple(connection_config_build(connection) for connection in connections),
    )


def connection_state_record(*, name: str, state: str, reason: str, at: datetime) -> None:
    """Record the runtime's latest state of a connection (shown in the admin)."""
    Connection.objects.filter(name=name).update(
        state=state, state_reason=reason[:STATE_REASON_MAX_LENGTH], state_changed_at=at
    )


# --- the demo plant's field devices (manage.py serve_demo_devices) ---------------------------

DEMO_OPCUA_SIGNAL = ("hydraulic_pressure", "bar", 0.0, 400.0)
DEMO_MODBUS_SIGNALS = (
    ("coolant_flow", "l/min", 0.0, 200.0),
    ("coolant_temperature", "degC", -20.0, 100.0),
)


def _demo_signal(equipment: Equipment, name: str, unit: str, low: float, high: float) -> Signal:
    signal, _ = Signal.objects.update_or_create(
        equipment=equipment,
        name=name,
        defaults={"unit": unit, "min_value": low, "max_value": high, "sample_period_s": 1.0},
    )
    return signal


@transaction.atomic
def demo_connections_ensure(
    *,
    opcua_equipment: list[Equipment],
    modbus_equipment: Equipment,
    opcua_endpoint: str,
    modbus_endpoint: str,
) -> tuple[list[str], list[str]]:
    """The demo's two connections, their signals and tags (idempotent). Returns the OPC UA
    node names and the Modbus value names in register order (what the servers must hold)."""
    opcua = Connection.objects.update_or_create(
        name="demo-opcua",
        defaults={
            "protocol": Protocol.OPCUA,
            "endpoint": opcua_endpoint,
            "sampling_interval_ms": 500.0,
            "deadband": 0.05,
            "is_enabled": True,
        },
    )[0]
    modbus = Connection.objects.update_or_create(
        name="demo-modbus",
        defaults={
            "protocol": Protocol.MODBUS,
            "endpoint": modbus_endpoint,
            "sampling_interval_ms": 1000.0,
            "deadband": 0.05,
            "max_requests_per_s": 20.0,
            "is_enabled": True,
        },
    )[0]
    node_names = []
    for equipment in opcua_equipment:
        signal = _demo_signal(equipment, *DEMO_OPCUA_SIGNAL)
        node = f"{equipment.code}.{signal.name}"
        node_names.append(node)
        TagMapping.objects.update_or_create(
            connection=opcua, signal=signal, defaults={"address": f"ns=2;s={node}"}
        )
    value_names = []
    for index, spec in enumerate(DEMO_MODBUS_SIGNALS):
        signal = _demo_signal(modbus_equipment, *spec)
        value_names.append(signal.name)
        TagMapping.objects.update_or_create(
            connection=modbus,
            signal=signal,
            defaults={
                "address": str(2 * index),
                "register_kind": RegisterKind.HOLDING,
                "data_type": DataType.FLOAT32,
                "word_order": ByteOrder.LITTLE,
            },
        )
    return node_names, value_names
