"""Sparkplug B topics: ``spBv1.0/{group_id}/{NBIRTH|NDEATH|NDATA|NCMD}/{edge_node_id}``,
``spBv1.0/{group_id}/{DBIRTH|DDEATH|DDATA|DCMD}/{edge_node_id}/{device_id}`` and the host
application's ``spBv1.0/STATE/{host_id}``."""

from __future__ import annotations

from workers.mqtt.errors import DecodeError, DecodeReason
from workers.mqtt.sparkplug.model import (
    DEVICE_MESSAGE_TYPES,
    MESSAGE_TYPES_BY_NAME,
    NAMESPACE,
    MessageType,
    SparkplugTopic,
)


def _check_identifier(identifier: str, what: str, topic: str) -> None:
    if not identifier or "+" in identifier or "#" in identifier or "\x00" in identifier:
        raise DecodeError(
            DecodeReason.BAD_TOPIC,
            f"{topic[:200]!r}: {what} must be non-empty and free of '+', '#'",
        )


def parse_topic(topic: str) -> SparkplugTopic:
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise DecodeError(DecodeReason.BAD_TOPIC, f"{topic[:200]!r} is not below {NAMESPACE}/")
    level_count = len(parts)
    if level_count == 3 and parts[1] == "STATE":
        _check_identifier(parts[2], "host id", topic)
        return SparkplugTopic(MessageType.STATE, None, None, None, parts[2])
    if level_count not in (4, 5):
        raise DecodeError(
            DecodeReason.BAD_TOPIC,
            f"{topic[:200]!r} must be {NAMESPACE}/group/TYPE/edge_node[/device] "
            f"or {NAMESPACE}/STATE/host",
        )
    message_type = MESSAGE_TYPES_BY_NAME.get(parts[2])
    if message_type is None or message_type is MessageType.STATE:
        raise DecodeError(
            DecodeReason.BAD_TOPIC, f"{topic[:200]!r}: unknown message type {parts[2][:32]!r}"
        )
    _check_identifier(parts[1], "group id", topic)
    _check_identifier(parts[3], "edge node id", topic)
    if message_type in DEVICE_MESSAGE_TYPES:
        if level_count != 5:
            raise DecodeError(
                DecodeReason.BAD_TOPIC, f"{topic[:200]!r}: {message_type} needs a device id"
            )
        _check_identifier(parts[4], "device id", topic)
        return SparkplugTopic(message_type, parts[1], parts[3], parts[4])
    if level_count != 4:
        raise DecodeError(
            DecodeReason.BAD_TOPIC, f"{topic[:200]!r}: {message_type} takes no device id"
        )
    return SparkplugTopic(message_type, parts[1], parts[3])


def build_topic(
    group_id: str, message_type: MessageType, edge_node_id: str, device_id: str | None = None
) -> str:
    if message_type is MessageType.STATE:
        raise ValueError("use host_state_topic() for STATE")
    if (message_type in DEVICE_MESSAGE_TYPES) != (device_id is not None):
        raise ValueError(f"{message_type} {'needs' if device_id is None else 'takes no'} device")
    for identifier in (group_id, edge_node_id, device_id or "x"):
        if not identifier or any(character in identifier for character in "/+#"):
            raise ValueError(f"Sparkplug id {identifier!r} must be non-empty without / + #")
    topic = f"{NAMESPACE}/{group_id}/{message_type.value}/{edge_node_id}"
    return f"{topic}/{device_id}" if device_id is not None else topic


def host_state_topic(host_id: str) -> str:
    if not host_id or any(character in host_id for character in "/+#"):
        raise ValueError(f"host id {host_id!r} must be non-empty without / + #")
    return f"{NAMESPACE}/STATE/{host_id}"
