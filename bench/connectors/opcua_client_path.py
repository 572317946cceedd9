"""The OPC UA connector's own cost per value change, on one core, without a server.

Run: .venv/bin/python -m bench.connectors.opcua_client_path [--changes N] [--repeats R]

What a connector does with each data change of a subscription, timed alone: decode the binary
PublishResponse (asyncua's decoder; 1,000 notifications per response, as a busy server
sends them), turn each notification into a reading (``OpcUaConnection.publish``: timestamp,
status, value) and publish it as a UNS message through paho to a private Mosquitto. Only
asyncua's scheduling of the handler (one task per notification) is left out. The figure is
the ceiling of one connector process; ``opcua_throughput.py`` measures it end to end against
real servers, which on a loaded machine is bounded by the servers.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import struct_from_binary, struct_to_binary

from connectors.runtime.config import ConnectionConfig, Protocol, TagConfig
from connectors.runtime.mqtt import MqttPublisher
from connectors.runtime.opcua import OpcUaConnection
from connectors.runtime.sink import UnsSink
from tests.mosquitto import Mosquitto
from workers.mqtt.address import parse_broker_url

PATH = "acme/plant1/area/line/cell/press"
PER_RESPONSE = 1000


def _response(first_value: float) -> bytes:
    now = datetime.now(UTC)
    items = [
        ua.MonitoredItemNotification(
            ClientHandle=index + 1,
            Value=ua.DataValue(
                ua.Variant(first_value + index, ua.VariantType.Double),
                SourceTimestamp=now,
                ServerTimestamp=now,
            ),
        )
        for index in range(PER_RESPONSE)
    ]
    result = ua.PublishResult(
        SubscriptionId=1,
        NotificationMessage=ua.NotificationMessage(
            SequenceNumber=1,
            PublishTime=now,
            NotificationData=[ua.DataChangeNotification(MonitoredItems=items)],
        ),
    )
    return struct_to_binary(ua.PublishResponse(Parameters=result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    responses = [_response(float(index)) for index in range(arguments.changes // PER_RESPONSE)]
    with tempfile.TemporaryDirectory() as directory:
        broker = Mosquitto(Path(directory), limits={"max_queued_messages": 1000}).start()
        publisher = MqttPublisher(parse_broker_url(broker.url)).start()
        publisher.connected.wait(10)
        config = ConnectionConfig(
            name="bench",
            protocol=Protocol.OPCUA,
            endpoint="opc.tcp://unused:4840",
            tags=tuple(
                TagConfig(PATH, f"v{index}", f"ns=2;s=v{index}") for index in range(PER_RESPONSE)
            ),
        )
        connection = OpcUaConnection(config, UnsSink(publisher, "bench"))
        connection._requests(None)
        rates = []
        try:
            for _repeat in range(arguments.repeats):
                started = time.process_time()
                for data in responses:
                    response = struct_from_binary(ua.PublishResponse, Buffer(data))
                    notification = response.Parameters.NotificationMessage.NotificationData[0]
                    for item in notification.MonitoredItems:
                        tag = connection.tags_by_handle[item.ClientHandle]
                        connection.publish(tag, item.Value, item.Value.Value.Value)
                rates.append(len(responses) * PER_RESPONSE / (time.process_time() - started))
        finally:
            publisher.stop()
            broker.stop()
    print(
        f"OPC UA client path, {len(responses) * PER_RESPONSE:,} changes × {arguments.repeats}: "
        f"{statistics.median(rates):,.0f} changes/s per core "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f})"
    )


if __name__ == "__main__":
    main()
