"""Messages and sessions the Sparkplug host session tests build (no test here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.encode import (
    encode_data,
    encode_dbirth,
    encode_ddeath,
    encode_nbirth,
    encode_ndeath,
)
from workers.mqtt.sparkplug.model import (
    DataType,
    MessageType,
    SparkplugMessage,
    SparkplugMetric,
)
from workers.mqtt.sparkplug.session import SparkplugHostSession
from workers.mqtt.sparkplug.session_model import (
    DataQualityReason,
    SessionOutput,
    SessionSettings,
)
from workers.mqtt.sparkplug.topics import build_topic

GROUP = "plant_1"
NODE = "edge-1"
DEVICE = "press_7"
OTHER_DEVICE = "oven_2"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _message(
    message_type: MessageType, payload: bytes, device_id: str | None = None
) -> SparkplugMessage:
    return decode_message(build_topic(GROUP, message_type, NODE, device_id), payload)


def nbirth(*, bd_seq: int = 1, seq: int = 0, timestamp: datetime = T0) -> SparkplugMessage:
    metrics = [SparkplugMetric("Supply Voltage", 1, DataType.FLOAT, 24.0, timestamp)]
    return _message(
        MessageType.NBIRTH,
        encode_nbirth(timestamp=timestamp, bd_seq=bd_seq, metrics=metrics, seq=seq),
    )


def dbirth(seq: int, device_id: str = DEVICE, *, first_alias: int = 10) -> SparkplugMessage:
    metrics = [
        SparkplugMetric("Force", first_alias, DataType.DOUBLE, 0.0, T0),
        SparkplugMetric("Count", first_alias + 1, DataType.INT32, 0, T0),
    ]
    return _message(
        MessageType.DBIRTH, encode_dbirth(timestamp=T0, seq=seq, metrics=metrics), device_id
    )


def ddata(
    seq: int,
    force: float = 1.0,
    *,
    device_id: str = DEVICE,
    alias: int = 10,
    timestamp: datetime | None = None,
    is_historical: bool = False,
    is_transient: bool = False,
) -> SparkplugMessage:
    metric = SparkplugMetric(
        None,
        alias,
        DataType.DOUBLE,
        force,
        timestamp,
        is_historical=is_historical,
        is_transient=is_transient,
    )
    return _message(
        MessageType.DDATA, encode_data(timestamp=T0, seq=seq, metrics=[metric]), device_id
    )


def ndata(seq: int, voltage: float = 24.5) -> SparkplugMessage:
    metric = SparkplugMetric(None, 1, DataType.FLOAT, voltage, T0)
    return _message(MessageType.NDATA, encode_data(timestamp=T0, seq=seq, metrics=[metric]))


def ndeath(bd_seq: int = 1) -> SparkplugMessage:
    return _message(MessageType.NDEATH, encode_ndeath(bd_seq=bd_seq))


def ddeath(seq: int, device_id: str = DEVICE, timestamp: datetime = T0) -> SparkplugMessage:
    return _message(MessageType.DDEATH, encode_ddeath(timestamp=timestamp, seq=seq), device_id)


def born_session(settings: SessionSettings | None = None) -> SparkplugHostSession:
    """A node born with seq 0 and its device born with seq 1: the next expected seq is 2."""
    session = SparkplugHostSession(settings)
    session.handle(nbirth(), received_at=at(0))
    session.handle(dbirth(1), received_at=at(0))
    return session


def forces(output: SessionOutput) -> list[float]:
    return [reading.value for reading in output.readings if reading.metric_name == "Force"]


def reasons(output: SessionOutput) -> list[DataQualityReason]:
    return [event.reason_code for event in output.data_quality_events]
