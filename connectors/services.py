"""Writes of the connectors: the exported configuration and the recorded connection states."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from connectors.models import Connection, TagMapping
from connectors.runtime.config import (
    ConnectionConfig,
    ConnectorsConfig,
    connection_from_dict,
)
from connectors.selectors import connection_list

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
