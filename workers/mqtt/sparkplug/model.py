"""The Sparkplug B message model (Eclipse Sparkplug 3.0): namespace and protocol constants,
message types, datatypes, and the decoded topic, payload, metric and host-state values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Final

NAMESPACE: Final = "spBv1.0"
DEFAULT_MAX_PAYLOAD_BYTES: Final = 1024 * 1024
BD_SEQ_METRIC: Final = "bdSeq"
REBIRTH_METRIC: Final = "Node Control/Rebirth"
CONTROL_METRIC_PREFIXES: Final = ("Node Control/", "Device Control/")
MAX_SEQUENCE: Final = 255
MAX_TIMESTAMP_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"
    STATE = "STATE"


NODE_MESSAGE_TYPES: Final = frozenset(
    {MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA, MessageType.NCMD}
)
DEVICE_MESSAGE_TYPES: Final = frozenset(
    {MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD}
)
MESSAGE_TYPES_BY_NAME: Final = {member.value: member for member in MessageType}


class DataType(IntEnum):
    """Sparkplug data types (``DataType`` enum of sparkplug_b.proto)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTY_SET = 20
    PROPERTY_SET_LIST = 21
    INT8_ARRAY = 22
    INT16_ARRAY = 23
    INT32_ARRAY = 24
    INT64_ARRAY = 25
    UINT8_ARRAY = 26
    UINT16_ARRAY = 27
    UINT32_ARRAY = 28
    UINT64_ARRAY = 29
    FLOAT_ARRAY = 30
    DOUBLE_ARRAY = 31
    BOOLEAN_ARRAY = 32
    STRING_ARRAY = 33
    DATETIME_ARRAY = 34


# --- value model -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SparkplugDataSet:
    columns: tuple[str, ...]
    types: tuple[int, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    name: str
    datatype: int
    value: Any


@dataclass(frozen=True, slots=True)
class SparkplugTemplate:
    version: str | None
    template_ref: str | None
    is_definition: bool
    metrics: tuple[SparkplugMetric, ...]
    parameters: tuple[TemplateParameter, ...] = ()


@dataclass(slots=True)  # not frozen: built once per metric, and frozen costs ~1 µs each
class SparkplugMetric:
    """One metric. ``timestamp`` None: take the payload's. ``datatype`` None: not sent (data
    messages may rely on the birth). ``value`` None with ``is_null`` False: no value carried.
    Read-only by convention."""

    name: str | None
    alias: int | None
    datatype: int | None
    value: Any
    timestamp: datetime | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    properties: Mapping[str, Any] | None = None
    # The protobuf oneof that carried the value (decode only; not part of equality).
    value_field: str | None = field(default=None, compare=False)
    problem: str | None = None  # "<reason_code>: <message>" when this metric is unusable


@dataclass(frozen=True, slots=True)
class SparkplugPayload:
    timestamp: datetime | None
    seq: int | None
    metrics: tuple[SparkplugMetric, ...]
    uuid: str | None = None
    body: bytes | None = None
    problems: tuple[str, ...] = ()  # payload-level problems that did not reject the message
    # Deferred decoding (data messages, ``decode_payload(defer_metrics=True)``): ``metrics`` is
    # empty, ``raw`` holds the payload and ``metric_keys`` each metric's (alias, name) — what
    # the host needs to resolve and order it; the metrics are decoded later, elsewhere.
    raw: bytes | None = None
    metric_keys: tuple[tuple[int | None, str | None], ...] = ()

    def metric_named(self, name: str) -> SparkplugMetric | None:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        return None


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    message_type: MessageType
    group_id: str | None  # None only for STATE
    edge_node_id: str | None  # None only for STATE
    device_id: str | None = None  # device message types only
    host_id: str | None = None  # STATE only


@dataclass(frozen=True, slots=True)
class HostState:
    is_online: bool
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class SparkplugMessage:
    topic: SparkplugTopic
    payload: SparkplugPayload | None  # None for STATE
    host_state: HostState | None = None  # STATE only


def is_control_metric(name: str) -> bool:
    """bdSeq, ``Node Control/...`` and ``Device Control/...`` drive the protocol; not data."""
    return name == BD_SEQ_METRIC or name.startswith(CONTROL_METRIC_PREFIXES)
