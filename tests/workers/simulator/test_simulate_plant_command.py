"""``manage.py simulate_plant`` against the real Mosquitto, with the demo plant in the test DB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from paho.mqtt.enums import CallbackAPIVersion

from tests.mosquitto import Mosquitto
from workers.mqtt.address import parse_broker_url
from workers.mqtt.sparkplug.decode import decode_message
from workers.mqtt.sparkplug.encode import encode_rebirth_command
from workers.mqtt.sparkplug.model import BD_SEQ_METRIC
from workers.mqtt.uns import DecodedEvent, UnsDecoder

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 30.0


@dataclass
class Subscriber:
    client: mqtt.Client
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, condition: Callable[[list[tuple[str, bytes]]], bool]) -> bool:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if condition(self.snapshot()):
                return True
            time.sleep(0.05)
        return False


@pytest.fixture
def subscribe(mqtt_url) -> Iterator[Callable[[str], Subscriber]]:
    """Subscribers on the session's broker."""
    clients: list[mqtt.Client] = []

    def start(topic_filter: str) -> Subscriber:
        endpoint = parse_broker_url(mqtt_url)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-test-{uuid.uuid4().hex}")
        subscriber = Subscriber(client)
        subscribed = threading.Event()

        def on_connect(client, userdata, flags, reason_code, properties):
            client.subscribe(topic_filter, qos=1)

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            subscribed.set()

        def on_message(client, userdata, message):
            with subscriber.lock:
                subscriber.messages.append((message.topic, message.payload))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        clients.append(client)
        assert subscribed.wait(10), "the test subscriber could not subscribe"
        return subscriber

    yield start
    for client in clients:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def demo_plant_db():
    from django.contrib.auth.models import Group, Permission

    from mes_site.roles import roles_sync
    from workers.demo_plant import demo_plant_load

    roles_sync(Group, Permission)  # a transactional test starts from a flushed database
    return demo_plant_load()


def _environment(mqtt_url: str) -> dict[str, str]:
    """The command's environment: the test database and the test's broker."""
    database = connection.settings_dict
    environment = dict(os.environ)
    environment["DATABASE_URL"] = (
        f"postgres://{database['USER']}@{database['HOST'] or 'localhost'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )
    environment["MQTT_URL"] = mqtt_url
    return environment


def _command(*arguments: str) -> list[str]:
    return [sys.executable, "manage.py", "simulate_plant", *arguments]


def _run(*arguments: str, mqtt_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*arguments),
        cwd=REPOSITORY_ROOT,
        env=_environment(mqtt_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_plant_publishes_on_its_uns_paths(demo_plant_db, subscribe, mqtt_url) -> None:
    from planning.models import CustomerOrder, CustomerOrderLine
    from production.models import Equipment, Line, Product

    line = Line.objects.select_related("area__site").get(code="MPS1")
    order = CustomerOrder.objects.create(
        number="CO-SIM-1",
        site=line.area.site,
        area=line.area,
        state="dispatched",
        line=line,
        dispatched_at=datetime.now(UTC),
    )
    CustomerOrderLine.objects.create(
        order=order, product=Product.objects.get(code="PART_A"), quantity=2
    )
    equipment_paths = set(Equipment.objects.values_list("uns_path", flat=True))
    root = f"simtest-{uuid.uuid4().hex}"
    subscriber = subscribe(f"{root}/#")

    result = _run("--duration-s", "4", "--root", root, "--seed", "1", mqtt_url=mqtt_url)

    assert result.returncode == 0, result.stderr
    assert "simulator stopped:" in result.stdout
    assert "0 dropped" in result.stdout
    assert subscriber.wait_for(
        lambda messages: any(b'"order_start"' in payload for _, payload in messages)
    ), result.stderr
    decoder = UnsDecoder(root=root)
    batches, events, features = set(), {}, set()
    stations = []
    for topic, payload in subscriber.snapshot():
        decoded = decoder.decode(topic, payload)
        if isinstance(decoded, DecodedEvent):
            events.setdefault(decoded.equipment_path, []).append(decoded)
            if decoded.kind == "station":
                stations.append((decoded.equipment_path, dict(decoded.data)))
        elif topic.endswith("/_features"):
            features.add(decoded[0].equipment_path)
        else:
            batches.add(decoded[0].equipment_path)
    assert len(equipment_paths) == 12
    assert batches == equipment_paths
    assert set(events) == equipment_paths
    assert all(
        path_events[0].kind == "state" and path_events[0].data["state"] == "producing"
        for path_events in events.values()
    )
    assert features == {
        "acme/plant1/machining/CNC/cell7/CNC_Spindle_7",
        "acme/plant1/machining/CNC/cell8/CNC_Spindle_8",
    }
    assert stations[0] == (
        "acme/plant1/assembly/MPS1/distribution/MPS1_distribution",
        {"station": "order_start", "order": "CO-SIM-1"},
    )
    assert not any(path.split("/")[3] == "MPS2" for path, _ in stations)


def test_a_sparkplug_node_births_answers_a_rebirth_and_dies_on_sigterm(
    demo_plant_db, subscribe, mqtt_url
) -> None:
    root = f"simtest-{uuid.uuid4().hex}"
    group = f"simtest-{uuid.uuid4().hex[:12]}"
    subscriber = subscribe(f"spBv1.0/{group}/#")
    uns = subscribe(f"{root}/#")
    process = subprocess.Popen(
        _command(
            "--root",
            root,
            "--seed",
            "2",
            "--sparkplug-node",
            "CNC_Spindle_8",
            "--sparkplug-group",
            group,
        ),
        cwd=REPOSITORY_ROOT,
        env=_environment(mqtt_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        node = f"spBv1.0/{group}/NBIRTH/CNC_Spindle_8"
        ddata = f"spBv1.0/{group}/DDATA/CNC_Spindle_8/CNC_Spindle_8"
        assert subscriber.wait_for(lambda messages: ddata in {topic for topic, _ in messages})
        rebirth = encode_rebirth_command(timestamp=datetime.now(UTC))
        subscriber.client.publish(f"spBv1.0/{group}/NCMD/CNC_Spindle_8", rebirth, qos=1)
        assert subscriber.wait_for(
            lambda messages: [topic for topic, _ in messages].count(node) == 2
        )
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, stderr
    assert "simulator stopped:" in stdout
    assert subscriber.wait_for(
        lambda messages: f"spBv1.0/{group}/NDEATH/CNC_Spindle_8" in {t for t, _ in messages}
    )
    decoded = [decode_message(topic, payload) for topic, payload in subscriber.snapshot()]
    types = [message.topic.message_type.value for message in decoded]
    assert types[:2] == ["NBIRTH", "DBIRTH"]
    assert types[-1] == "NDEATH"
    births = [message for message in decoded if message.topic.message_type.value == "NBIRTH"]
    death = decoded[-1]
    bd_seqs = {message.payload.metric_named(BD_SEQ_METRIC).value for message in [*births, death]}
    assert len(bd_seqs) == 1  # one MQTT session: the births and the death share the bdSeq
    assert [message.payload.seq for message in births] == [0, 0]
    # The spindle's readings went over Sparkplug, its events and features stayed on the UNS.
    uns_topics = {topic for topic, _ in uns.snapshot()}
    spindle = "acme/plant1/machining/CNC/cell8/CNC_Spindle_8"
    assert f"{root}/{spindle}/_event" in uns_topics
    assert f"{root}/{spindle}" not in uns_topics
    assert f"{root}/acme/plant1/machining/CNC/cell7/CNC_Spindle_7" in uns_topics


BAD_OPTIONS = [
    (["--sparkplug-node", "NO_SUCH_LINE"], "--sparkplug-node 'NO_SUCH_LINE': no equipment"),
    (["--degrade", "MPS1_storage"], "cannot degrade 'MPS1_storage': it has no vibration"),
    (["--degrade-minutes", "1", "--degrade-onset-minutes", "2"], "must fail after the onset"),
    (["--rate", "-5"], "--rate: '-5.0' must be a positive number"),
    (["--start", "2025-01-01T08:00:00"], "needs a UTC offset"),
    (["--duration-s", "0"], "--duration-s must be a positive number"),
    (["--site", "plant9"], "no active equipment in site 'plant9'"),
]


# These run in-process (call_command): manage.py prints a CommandError as one line, no traceback.
@pytest.mark.django_db
def test_bad_options_and_an_unreachable_broker_are_refused_with_clear_messages(
    demo_plant_db, settings
) -> None:
    settings.MQTT_URL = "mqtt://127.0.0.1:1"
    for arguments, message in BAD_OPTIONS:
        with pytest.raises(CommandError) as caught:
            call_command("simulate_plant", *arguments)
        assert message in str(caught.value), arguments

    with pytest.raises(CommandError) as caught:
        call_command("simulate_plant", "--duration-s", "1")

    assert "cannot reach the MQTT broker at mqtt://127.0.0.1:1" in str(caught.value)


@pytest.mark.django_db
def test_an_empty_database_asks_for_the_demo_plant() -> None:
    with pytest.raises(CommandError, match="load the demo plant first"):
        call_command("simulate_plant", "--duration-s", "1")


def test_the_simulator_survives_a_broker_restart_with_a_new_sparkplug_session(
    demo_plant_db, tmp_path
) -> None:
    broker = Mosquitto(tmp_path / "broker").start()
    port = broker.port
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-watch-{uuid.uuid4().hex}")
    watcher.on_connect = lambda client, *_: client.subscribe("#", qos=1)

    def on_message(client, userdata, message):
        with lock:
            received.append((message.topic, message.payload))

    watcher.on_message = on_message
    watcher.reconnect_delay_set(min_delay=1, max_delay=2)
    watcher.connect("127.0.0.1", port)
    watcher.loop_start()
    process = subprocess.Popen(
        _command(
            "--root",
            "restart",
            "--seed",
            "3",
            "--sparkplug-node",
            "CNC_Spindle_8",
            "--sparkplug-group",
            "restart",
        ),
        cwd=REPOSITORY_ROOT,
        env=_environment(broker.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    nbirth = "spBv1.0/restart/NBIRTH/CNC_Spindle_8"
    batch = "restart/acme/plant1/assembly/MPS1/storage/MPS1_storage"

    def wait_for(condition: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with lock:
                if condition():
                    return True
            time.sleep(0.05)
        return False

    try:
        assert wait_for(lambda: any(topic == nbirth for topic, _ in received))
        broker.stop()
        restarted_at = time.time()
        time.sleep(1.5)  # the simulator publishes into its queue meanwhile
        broker.start()
        assert wait_for(lambda: [topic for topic, _ in received].count(nbirth) == 2)
        assert wait_for(
            lambda: any(
                topic == batch
                and UnsDecoder(root="restart").decode(topic, payload)[0].ts.timestamp()
                > restarted_at + 2
                for topic, payload in received
            )
        )
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        watcher.disconnect()
        watcher.loop_stop()
        broker.stop()

    assert process.returncode == 0, stderr
    assert "simulator stopped:" in stdout
    assert "disconnected" in stderr and "reconnecting" in stderr
    births = [
        decode_message(topic, payload).payload.metric_named(BD_SEQ_METRIC).value
        for topic, payload in received
        if topic == nbirth
    ]
    assert births[1] == (births[0] + 1) % 256  # a new MQTT session is a new bdSeq
