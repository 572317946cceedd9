"""The simulator's MQTT side: a paho-mqtt 2 publisher loop around a :class:`PlantSimulation`.

One client publishes the UNS topics (QoS 1, clean session); each Sparkplug edge node has its own
client (MQTT 3.1.1, clean session, its NDEATH as the Will, NCMD subscribed in ``on_connect``),
as the Sparkplug specification requires. paho runs without its network thread: the loop below
drives every client (``client.loop``) and reconnects them. It wakes at each tick (at least
every 100 ms),
publishes everything the simulation produced up to the wall-clock time, polls the dispatched
orders every few seconds, answers rebirth commands and logs a status line every 10 s. Timestamps
come from the simulation, not from the moment of sending: a slow loop catches up, and the
payloads stay those of the simulated instants.

``stop()`` (from a SIGTERM/SIGINT handler) ends the loop; Sparkplug nodes then publish their
NDEATH, in-flight QoS 1 messages get a few seconds to be acknowledged, and the clients
disconnect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from workers.mqtt.address import BrokerAddress
from workers.simulator.model import UNS_CHANNEL, OrderSpec, OutboundMessage
from workers.simulator.simulation import PlantSimulation
from workers.simulator.sparkplug_node import WILL_QOS, SparkplugEdgeNode

__all__ = [
    "PublishStats",
    "SimulatorConnectionError",
    "SimulatorPublisher",
    "mqtt_client_connect",
]

logger = logging.getLogger("workers.simulator")

MAX_SLEEP_S: Final = 0.1
# Catching up (a past --start, or a rate the machine cannot sustain) goes in steps of at most
# this much simulated time, and waits while this many messages are unacknowledged: memory stays
# bounded and paho's 16-bit message ids never run out.
MAX_STEP_MS: Final = 1000
MAX_UNACKNOWLEDGED: Final = 20_000
CONNECT_TIMEOUT_S: Final = 10.0
DRAIN_TIMEOUT_S: Final = 5.0


class SimulatorConnectionError(RuntimeError):
    """The MQTT broker cannot be reached or refused the connection."""


def mqtt_client_connect(
    client: mqtt.Client,
    endpoint: BrokerAddress,
    *,
    keepalive_s: int = 30,
    is_threaded: bool = True,
) -> None:
    """Connect (blocking); errors name the broker and the fix.

    ``is_threaded``: start paho's network thread; otherwise the caller drives ``client.loop()``.
    """
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    context = endpoint.tls_context()
    if context is not None:
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=keepalive_s)
    except (OSError, ValueError) as error:
        raise SimulatorConnectionError(
            f"cannot reach the MQTT broker at {endpoint} ({error}); start it "
            "(e.g. `sudo systemctl start mosquitto`) or point MQTT_URL at it"
        ) from None
    if is_threaded:
        client.loop_start()


@dataclass
class PublishStats:
    messages: int = 0
    readings: int = 0
    acknowledged: int = 0
    dropped: int = 0
    elapsed_s: float = 0.0

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _Connection:
    """One paho client, driven from the publisher's loop, and what its callbacks reported."""

    def __init__(self, name: str, client: mqtt.Client) -> None:
        self.name = name
        self.client = client
        self.is_connected = False
        self.refused: str | None = None
        self.acknowledged = 0
        self.next_reconnect_s = 0.0
        self.reconnect_delay_s = 1.0


class SimulatorPublisher:
    """Runs a simulation in real time and publishes it. Not reusable: one ``run()``.

    paho runs without its network thread: the loop calls ``client.loop()`` between
    publications (a second Python thread halves the QoS 1 rate through GIL contention) and
    reconnects with a backoff of 1 s doubling to 30 s. Callbacks therefore run in this loop.
    """

    def __init__(
        self,
        simulation: PlantSimulation,
        *,
        endpoint: BrokerAddress,
        client_id_prefix: str,
        end_ms: int | None = None,
        orders_source: Callable[[], Sequence[OrderSpec]] | None = None,
        order_poll_s: float = 5.0,
        status_period_s: float = 10.0,
        max_inflight_messages: int = 1000,
        max_queued_messages: int = 60_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._simulation = simulation
        self._endpoint = endpoint
        self._end_ms = end_ms
        self._orders_source = orders_source
        self._order_poll_s = order_poll_s
        self._status_period_s = status_period_s
        self._clock = clock
        self._stop = threading.Event()
        self._commands: list[tuple[str, bytes]] = []
        self._births_due: set[str] = set()
        self.stats = PublishStats()
        self._connections: dict[str, _Connection] = {}
        # paho numbers QoS 1 messages with 16-bit ids: keep the queue below that.
        max_queued_messages = min(max_queued_messages, 60_000)
        uns_client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{client_id_prefix}-uns",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        uns_client.max_inflight_messages_set(max_inflight_messages)
        uns_client.max_queued_messages_set(max_queued_messages)
        self._add_connection(UNS_CHANNEL, uns_client)
        for node in simulation.sparkplug_nodes:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{client_id_prefix}-{node.node_id}",
                protocol=mqtt.MQTTv311,
                clean_session=True,
            )
            client.max_inflight_messages_set(max_inflight_messages)
            client.max_queued_messages_set(max_queued_messages)
            will_topic, will_payload = node.will()
            client.will_set(will_topic, will_payload, qos=WILL_QOS, retain=False)
            self._add_connection(node.node_id, client, node)

    def _add_connection(
        self, name: str, client: mqtt.Client, node: SparkplugEdgeNode | None = None
    ) -> None:
        connection = _Connection(name, client)
        self._connections[name] = connection

        def on_connect(
            client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
        ) -> None:
            if reason_code.is_failure:
                connection.refused = str(reason_code)
                logger.warning("MQTT %s connection refused: %s", name, reason_code)
                return
            connection.refused = None
            connection.is_connected = True
            connection.reconnect_delay_s = 1.0
            if node is not None:
                client.subscribe(node.command_topic, qos=1)
                self._births_due.add(node.node_id)
            logger.info("MQTT %s connected to %s", name, self._endpoint)

        def on_disconnect(
            client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
        ) -> None:
            was_connected, connection.is_connected = connection.is_connected, False
            if node is not None and was_connected:
                # The next connection is a new Sparkplug session: next bdSeq, and its Will.
                node.connection_lost()
                will_topic, will_payload = node.will()
                client.will_set(will_topic, will_payload, qos=WILL_QOS, retain=False)
            if not self._stop.is_set():
                logger.warning("MQTT %s disconnected (%s); reconnecting", name, reason_code)

        def on_publish(
            client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
        ) -> None:
            connection.acknowledged += 1

        def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            self._commands.append((message.topic, bytes(message.payload)))  # only queue

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message

    # --- control -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler or another thread)."""
        self._stop.set()

    def connect(self) -> None:
        for connection in self._connections.values():
            mqtt_client_connect(connection.client, self._endpoint, is_threaded=False)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not all(item.is_connected for item in self._connections.values()):
            for connection in self._connections.values():
                if connection.refused is not None:
                    self._disconnect_all()
                    raise SimulatorConnectionError(
                        f"the MQTT broker at {self._endpoint} refused the {connection.name} "
                        f"connection: {connection.refused} (check the user and password in "
                        "MQTT_URL)"
                    )
                connection.client.loop(timeout=0.02)
            if time.monotonic() > deadline:
                self._disconnect_all()
                raise SimulatorConnectionError(
                    f"no answer from the MQTT broker at {self._endpoint} within "
                    f"{CONNECT_TIMEOUT_S:g} s"
                )

    def run(self) -> PublishStats:
        """Connect, publish until the end time or ``stop()``, then shut down cleanly."""
        self.connect()
        started = time.monotonic()
        next_status = started + self._status_period_s
        next_poll = started
        status_mark = (started, 0, 0)
        try:
            while True:
                now_ms = int(self._clock() * 1000)
                if self._orders_source is not None and time.monotonic() >= next_poll:
                    self._poll_orders(now_ms)
                    next_poll = time.monotonic() + self._order_poll_s
                target_ms = min(now_ms, self._simulation.until_ms + MAX_STEP_MS)
                if self._end_ms is not None:
                    target_ms = min(target_ms, self._end_ms - 1)
                self._publish(self._births_and_commands(now_ms))
                self._publish(self._simulation.step(target_ms))
                monotonic_now = time.monotonic()
                if monotonic_now >= next_status:
                    status_mark = self._log_status(status_mark)
                    next_status = monotonic_now + self._status_period_s
                if self._stop.is_set() or (
                    self._end_ms is not None and target_ms >= self._end_ms - 1
                ):
                    break
                if target_ms < now_ms:
                    continue  # behind: publish the next step at once
                wait_s = (self._simulation.next_tick_ms() - self._clock() * 1000) / 1000
                self._network(min(max(wait_s, 0.0), MAX_SLEEP_S))
        finally:
            self.stats.elapsed_s = time.monotonic() - started
            self._shutdown()
        return self.stats

    # --- loop parts --------------------------------------------------------------------------

    def _network(self, wait_s: float = 0.0) -> None:
        """Let paho read and write and reconnect lost clients; waits up to ``wait_s`` for the
        UNS socket (the other clients are polled)."""
        has_waited = False
        for name, connection in self._connections.items():
            client = connection.client
            timeout_s = wait_s if name == UNS_CHANNEL else 0.0
            if client.loop(timeout=timeout_s) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                has_waited = has_waited or timeout_s > 0
                continue
            now = time.monotonic()
            if connection.is_connected or now < connection.next_reconnect_s:
                continue
            connection.next_reconnect_s = now + connection.reconnect_delay_s
            connection.reconnect_delay_s = min(connection.reconnect_delay_s * 2, 30.0)
            try:
                client.reconnect()
            except (OSError, ValueError) as error:
                logger.warning(
                    "MQTT %s: cannot reconnect to %s (%s); retrying", name, self._endpoint, error
                )
        if wait_s > 0 and not has_waited:
            time.sleep(wait_s)  # the UNS client is down: do not spin

    def _poll_orders(self, now_ms: int) -> None:
        assert self._orders_source is not None
        try:
            orders = self._orders_source()
        except Exception as error:  # a database hiccup must not stop the telemetry
            logger.warning("could not read the dispatched orders: %s", error)
            return
        self._simulation.orders_update(orders, now_ms)

    def _births_and_commands(self, now_ms: int) -> list[OutboundMessage]:
        messages: list[OutboundMessage] = []
        for node_id in sorted(self._births_due):
            messages.extend(self._simulation.node_birth(node_id, now_ms))
            logger.info("Sparkplug node %s born (bdSeq %s)", node_id, self._nodes_bd_seq())
        self._births_due.clear()
        commands, self._commands = self._commands, []
        for topic, payload in commands:
            answer = self._simulation.handle_command(topic, payload, now_ms)
            if answer:
                logger.info("rebirth requested on %s: births re-sent", topic)
            messages.extend(answer)
        return messages

    def _nodes_bd_seq(self) -> str:
        return ", ".join(
            f"{node.node_id}={node.bd_seq}" for node in self._simulation.sparkplug_nodes
        )

    def _publish(self, messages: Sequence[OutboundMessage]) -> None:
        stats = self.stats
        for index, message in enumerate(messages):
            while (
                self._unacknowledged() >= MAX_UNACKNOWLEDGED
                and self._connections[UNS_CHANNEL].is_connected
                and not self._stop.is_set()
            ):
                self._network(0.001)  # back-pressure: let the broker acknowledge
            connection = self._connections[message.channel]
            info = connection.client.publish(message.topic, message.payload, qos=message.qos)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
                info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and message.qos > 0
            ):
                stats.messages += 1
                stats.readings += message.reading_count
            else:
                stats.dropped += 1
            if index % 200 == 199:
                self._network()  # read acknowledgements, keep the socket moving
        self._network()

    def _log_status(self, mark: tuple[float, int, int]) -> tuple[float, int, int]:
        now = time.monotonic()
        elapsed_s = max(now - mark[0], 1e-9)
        messages = self.stats.messages - mark[1]
        readings = self.stats.readings - mark[2]
        orders = sum(
            (runner.current_order is not None) + len(runner.queued_orders)
            for runner in self._simulation.line_runners
        )
        acknowledged = sum(item.acknowledged for item in self._connections.values())
        logger.info(
            "simulator: %.1f msg/s, %.1f readings/s, %d published, %d unacknowledged, "
            "%d dropped, lag %d ms, %d customer orders on the lines",
            messages / elapsed_s,
            readings / elapsed_s,
            self.stats.messages,
            max(self.stats.messages - acknowledged, 0),
            self.stats.dropped,
            max(int(self._clock() * 1000) - self._simulation.until_ms, 0),
            orders,
        )
        return (now, self.stats.messages, self.stats.readings)

    def _unacknowledged(self) -> int:
        return self.stats.messages - sum(item.acknowledged for item in self._connections.values())

    def _shutdown(self) -> None:
        deaths = [
            node.death()
            for node in self._simulation.sparkplug_nodes
            if self._connections[node.node_id].is_connected
        ]
        self._publish(deaths)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self._unacknowledged() > 0 and time.monotonic() < deadline:
            if not any(item.is_connected for item in self._connections.values()):
                break
            self._network(0.01)
        if self._unacknowledged() > 0:
            logger.warning(
                "%d messages were not acknowledged by the broker before shutdown",
                self._unacknowledged(),
            )
        self.stats.acknowledged = sum(item.acknowledged for item in self._connections.values())
        self._disconnect_all()

    def _disconnect_all(self) -> None:
        self._stop.set()
        for connection in self._connections.values():
            connection.client.disconnect()
            connection.client.loop(timeout=0.01)
