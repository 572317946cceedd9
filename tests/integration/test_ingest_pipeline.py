"""Mosquitto → bridge (subprocess) → Celery worker (subprocess) → PostgreSQL, with exact row
counts: bad input, a killed bridge, a killed worker (also one killed while taking a task off the
queue), duplicates, a draining SIGTERM, and the Sparkplug host."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from django.db.models import Sum

from mes_site.celery import lost_tasks_redeliver, redelivery_key
from mes_site.redis import redis_client
from workers.models import DeadLetter, IngestBatch, Reading

from .conftest import SIGNALS, ManagedProcess, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


class Publisher:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"it-pub-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish_all(self, messages, *, per_second: float | None = None) -> None:
        infos = []
        started = time.monotonic()
        for index, (topic, payload) in enumerate(messages):
            infos.append(self.client.publish(topic, payload, qos=1))
            if per_second and index % 50 == 49:
                ahead_s = (index + 1) / per_second - (time.monotonic() - started)
                if ahead_s > 0:
                    time.sleep(ahead_s)
        for info in infos:
            info.wait_for_publish(timeout=60)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(pipeline):
    client = Publisher(pipeline.broker_port)
    yield client
    client.close()


def _base() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def _single(pipeline, equipment, index: int, base: datetime, value: float = 1.0):
    """A one-reading message; the index fixes (signal, ts), so it is one row."""
    ts = base + timedelta(milliseconds=index)
    topic = pipeline.topic(equipment.uns_path, SIGNALS[index % len(SIGNALS)])
    payload = json.dumps({"ts": round(ts.timestamp() * 1000), "value": value}).encode()
    return topic, payload


def _unacked_count(queue: str) -> int:
    """Tasks of ``queue`` that a worker took and has not acknowledged (kombu's hash)."""
    entries = (json.loads(raw) for raw in redis_client().hvals("unacked"))
    return sum(1 for _message, _exchange, routing_key in entries if routing_key == queue)


def _is_settled(pipeline) -> bool:
    """No task of the pipeline's queue is waiting in it, taken by a worker, or recorded as
    published and never received (a lost one, until it is published again)."""
    client = redis_client()
    return (
        client.llen(pipeline.queue) == 0
        and _unacked_count(pipeline.queue) == 0
        and client.zcard(redelivery_key(pipeline.queue, "published")) == 0
    )


def _handed_on() -> int:
    """Messages in the batches processed so far (the ledger)."""
    return IngestBatch.objects.aggregate(total=Sum("message_count"))["total"] or 0


def _settled_count(pipeline, expected: int, *, timeout_s: float = 60.0, redeliver_after_s=None):
    """The readings stored once there are ``expected`` and the queue is settled: every task
    published was then processed, so nothing more can arrive. With ``redeliver_after_s``,
    lost tasks are published again meanwhile, as beat's ``lost_ingest_tasks_redeliver`` does."""

    def settled() -> bool:
        if redeliver_after_s is not None:
            lost_tasks_redeliver(after_s=redeliver_after_s)
        return Reading.objects.count() >= expected and _is_settled(pipeline)

    wait_for(settled, timeout_s)
    return Reading.objects.count()


def _stopped_in_brpop(worker: ManagedProcess) -> bool:
    """Stop the worker (SIGSTOP); True if its BRPOP is waiting in Redis, else resume it."""
    worker.pause()
    client = redis_client()
    database = client.connection_pool.connection_kwargs.get("db", 0)
    if any(
        entry["cmd"] == "brpop" and "b" in entry["flags"] and int(entry["db"]) == database
        for entry in client.client_list()
    ):
        return True
    worker.resume()
    return False


def test_bad_input_is_dead_lettered_and_never_stops_the_stream(pipeline, equipment, publisher):
    worker = pipeline.worker().start()
    bridge = pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    base = _base()
    path = equipment.uns_path
    good = [_single(pipeline, equipment, index, base) for index in range(300)]
    batch_base = base + timedelta(seconds=5)
    batches = [
        (
            pipeline.topic(path),
            json.dumps(
                {
                    "ts": round((batch_base + timedelta(seconds=index)).timestamp() * 1000),
                    "values": {name: float(index) for name in SIGNALS},
                }
            ).encode(),
        )
        for index in range(20)
    ]
    ts_ms = round(base.timestamp() * 1000)
    bad = [
        (pipeline.topic(path, "s1"), b"{not json"),
        (pipeline.topic(path, "s1"), b'{"ts": 1, "value": 2}'),
        (pipeline.topic(path, "s2"), json.dumps({"ts": ts_ms, "value": "hot"}).encode()),
        (pipeline.topic(path, "s3"), json.dumps({"ts": ts_ms, "value": 1e9}).encode()),
        (pipeline.topic("x/y/z/w/v/u", "s1"), json.dumps({"ts": ts_ms, "value": 1}).encode()),
        (pipeline.topic(path, "nope"), json.dumps({"ts": ts_ms, "value": 1}).encode()),
        (pipeline.topic(path, "s4"), b'{"ts": 1, "value": "' + b"x" * (1024 * 1024) + b'"}'),
    ]
    flood = [(pipeline.topic(path, "s5"), b"\x00garbage")] * 2000
    # Every bad message is followed by a good one.
    messages = []
    for index, message in enumerate(good):
        messages.append(message)
        if index < len(bad):
            messages.append(bad[index])
    messages += flood[:1000] + batches + flood[1000:] + good[:50]  # and 50 duplicates
    publisher.publish_all(messages)
    # Every message handed on and processed: the readings reach 500 before the last of the
    # flood and the duplicates have left the bridge.
    assert wait_for(lambda: _handed_on() >= len(messages), 60)
    assert _settled_count(pipeline, 500) == 500
    assert _is_settled(pipeline)
    totals = dict(
        DeadLetter.objects.values("reason_code")
        .annotate(total=Sum("count"))
        .values_list("reason_code", "total")
    )
    assert totals == {
        "bad_json": 2001,
        "bad_timestamp": 1,
        "wrong_type": 1,
        "out_of_range": 1,
        "unknown_equipment": 1,
        "unknown_signal": 1,
        "payload_too_large": 1,
    }
    flood_row = DeadLetter.objects.get(topic=pipeline.topic(path, "s5"))
    assert flood_row.count == 2000
    assert flood_row.payloads.count() == 20
    assert worker.is_running() and bridge.is_running()
    assert "Traceback" not in worker.log() + bridge.log()


def test_a_redelivered_celery_task_stores_nothing_twice(pipeline, equipment):
    from mes_site.celery import app
    from workers.bridge.publish import CeleryPublisher
    from workers.bridge.uns import UnsBatch

    pipeline.worker().start()
    base = _base()
    messages = [list(_single(pipeline, equipment, index, base)) for index in range(100)]
    batch = UnsBatch(str(uuid.uuid4()), int(time.time() * 1000), messages, [], 0)
    celery = CeleryPublisher(app, queue=pipeline.queue)
    celery.uns(batch)
    celery.uns(batch)
    assert _settled_count(pipeline, 100) == 100
    assert _is_settled(pipeline)  # both tasks done
    assert IngestBatch.objects.filter(pk=batch.batch_id).count() == 1
    assert IngestBatch.objects.get(pk=batch.batch_id).stored_count == 100


def test_a_bridge_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
    pipeline, equipment, publisher
):
    pipeline.worker().start()
    bridge = pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    base = _base()
    messages = [_single(pipeline, equipment, index, base) for index in range(4000)]
    sender = threading.Thread(
        target=publisher.publish_all, args=(messages,), kwargs={"per_second": 1000}
    )
    sender.start()
    assert wait_for(lambda: Reading.objects.count() > 0, 30)
    bridge.kill(signal.SIGKILL)
    killed_at = Reading.objects.count()
    time.sleep(0.5)
    bridge.start()
    bridge.wait_for_log(r"session present: True")
    sender.join(timeout=60)
    assert killed_at < 4000
    assert _settled_count(pipeline, 4000) == 4000
    assert _is_settled(pipeline)
    handed_on = IngestBatch.objects.aggregate(total=Sum("message_count"))["total"]
    assert handed_on >= 4000  # redelivered messages were handed on again, and dropped
    assert DeadLetter.objects.count() == 0


@pytest.mark.xdist_group("heavy")  # processes killed on a timeline: not beside another
def test_a_worker_killed_while_ingesting_is_replaced_without_loss_or_duplicates(
    pipeline, equipment, publisher
):
    worker = pipeline.worker().start()
    worker.wait_for_log("ready")
    bridge = pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    worker.kill(signal.SIGKILL)
    base = _base()
    publisher.publish_all([_single(pipeline, equipment, index, base) for index in range(3000)])
    assert wait_for(lambda: redis_client().llen(pipeline.queue) > 0, 30)
    worker.start()
    worker.wait_for_log(r"Task workers.tasks.ingest_uns_batch\[.*\] received")
    worker.kill(signal.SIGKILL)  # in the middle of the first batches
    # Redis hands the killed worker's task out again once its visibility timeout (4 s here)
    # has passed; a worker starting after that restores it at once.
    # A task the killed worker had taken off the queue but not yet recorded as unacknowledged
    # (a starved worker can be killed there) is published again by the redelivery sweep.
    time.sleep(5)
    worker.start()
    assert _settled_count(pipeline, 3000, timeout_s=90, redeliver_after_s=1.0) == 3000
    assert _is_settled(pipeline)
    assert DeadLetter.objects.count() == 0


def test_a_task_handed_to_a_worker_killed_before_it_recorded_the_task_is_published_again(
    pipeline, equipment
):
    from mes_site.celery import app
    from workers.bridge.publish import CeleryPublisher
    from workers.bridge.uns import UnsBatch

    worker = pipeline.worker().start()
    worker.wait_for_log("ready")
    celery = CeleryPublisher(app, queue=pipeline.queue)
    client = redis_client()
    base = _base()
    batch_ids = []
    for attempt in range(5):
        # Redis hands the task to the stopped worker's waiting BRPOP, as to a worker starved
        # of CPU between taking a task off the queue and recording it.
        assert wait_for(lambda: _stopped_in_brpop(worker), 30)
        messages = [
            list(_single(pipeline, equipment, attempt * 100 + index, base)) for index in range(100)
        ]
        batch = UnsBatch(str(uuid.uuid4()), int(time.time() * 1000), messages, [], 0)
        celery.uns(batch)
        batch_ids.append(batch.batch_id)
        if wait_for(lambda: client.llen(pipeline.queue) == 0, 0.5):
            break
        worker.resume()  # its BRPOP had timed out: it takes this task normally; again
    else:
        pytest.fail("no task was handed to the stopped worker")
    assert _unacked_count(pipeline.queue) == 0  # in neither the queue nor the unacked hash
    assert client.zcard(redelivery_key(pipeline.queue, "published")) == 1
    worker.kill(signal.SIGKILL)
    worker.start()
    expected = 100 * len(batch_ids)
    assert _settled_count(pipeline, expected, redeliver_after_s=1.0) == expected
    assert _is_settled(pipeline)
    assert IngestBatch.objects.get(pk=batch_ids[-1]).stored_count == 100
    assert IngestBatch.objects.count() == len(batch_ids)
    assert DeadLetter.objects.count() == 0


def test_sigterm_drains_the_open_batch_and_exits_zero(pipeline, equipment, publisher):
    pipeline.environment["INGEST_BATCH_MAX_WAIT_MS"] = "60000"
    pipeline.worker().start()
    bridge = pipeline.bridge().start()
    bridge.wait_for_log("subscribed to")
    base = _base()
    publisher.publish_all([_single(pipeline, equipment, index, base) for index in range(30)])
    time.sleep(0.5)
    assert Reading.objects.count() == 0  # still in the open batch
    assert bridge.terminate() == 0
    assert _settled_count(pipeline, 30) == 30
    batches = IngestBatch.objects.count()
    bridge.start()  # everything was acknowledged: nothing comes back
    bridge.wait_for_log(r"session present: True")
    time.sleep(1.5)
    assert IngestBatch.objects.count() == batches
    assert Reading.objects.count() == 30


def test_sparkplug_births_and_data_reach_the_store_and_the_live_cache(
    pipeline, equipment, publisher
):
    from workers.models import SparkplugNodeMapping
    from workers.mqtt.sparkplug.encode import encode_data, encode_nbirth, encode_ndeath
    from workers.mqtt.sparkplug.model import DataType, MessageType, SparkplugMetric
    from workers.mqtt.sparkplug.topics import build_topic
    from workers.store import current_values_get

    group = f"it{uuid.uuid4().hex[:8]}"
    SparkplugNodeMapping.objects.create(group_id=group, edge_node_id="edge", equipment=equipment)
    pipeline.worker().start()
    bridge = pipeline.bridge("--no-uns", "--sparkplug", "--sparkplug-group", group).start()
    bridge.wait_for_log("Sparkplug host .* online")
    time.sleep(0.3)  # the subscription is sent before the online STATE
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    births = [
        SparkplugMetric(name, index, DataType.DOUBLE, 1.0, now)
        for index, name in enumerate(SIGNALS)
    ]
    messages = [
        (
            build_topic(group, MessageType.NBIRTH, "edge"),
            encode_nbirth(timestamp=now, bd_seq=3, metrics=births),
        )
    ]
    for seq in range(1, 21):
        ts = now + timedelta(seconds=seq)
        metrics = [
            SparkplugMetric(None, index, DataType.DOUBLE, float(seq), ts) for index in range(10)
        ]
        messages.append(
            (
                build_topic(group, MessageType.NDATA, "edge"),
                encode_data(timestamp=ts, seq=seq, metrics=metrics),
            )
        )
    publisher.publish_all(messages)
    assert _settled_count(pipeline, 210) == 210
    assert wait_for(lambda: current_values_get(equipment.id).get("s9", {}).get("value") == 20.0)
    publisher.publish_all(
        [(build_topic(group, MessageType.NDEATH, "edge"), encode_ndeath(bd_seq=3))]
    )
    assert wait_for(lambda: current_values_get(equipment.id)["s0"]["stale_at"] is not None)
    assert DeadLetter.objects.count() == 0


def test_the_sparkplug_host_owns_the_plants_groups_only(pipeline, equipment, publisher):
    """Without --sparkplug-group or SPARKPLUG_GROUPS the host takes the groups the plant
    knows (here: a mapped one); a foreign group on the same broker is neither ingested nor
    sent rebirth requests."""
    from workers.models import SparkplugNodeMapping
    from workers.mqtt.sparkplug.encode import encode_data
    from workers.mqtt.sparkplug.model import DataType, MessageType, SparkplugMetric
    from workers.mqtt.sparkplug.topics import build_topic

    group = f"it{uuid.uuid4().hex[:8]}"
    foreign = f"{group}x"
    SparkplugNodeMapping.objects.create(group_id=group, edge_node_id="edge", equipment=equipment)
    commands: list[str] = []
    watcher = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"it-watch-{uuid.uuid4().hex[:10]}"
    )
    watcher.on_message = lambda client, userdata, message: commands.append(message.topic)
    watcher.connect("127.0.0.1", pipeline.broker_port)
    watcher.subscribe("spBv1.0/+/NCMD/+", qos=1)
    watcher.loop_start()
    pipeline.environment.pop("SPARKPLUG_GROUPS", None)
    pipeline.worker().start()
    bridge = pipeline.bridge("--no-uns", "--sparkplug").start()
    bridge.wait_for_log("Sparkplug host .* online")
    now = datetime.now(UTC).replace(microsecond=0)
    metric = SparkplugMetric("s1", 1, DataType.DOUBLE, 1.0, now)
    # Data before a birth, in the foreign group and then in the owned one: each would get a
    # rebirth request and a data_before_birth dead letter from a host that owns its group.
    publisher.publish_all(
        [
            (
                build_topic(foreign, MessageType.NDATA, "edge"),
                encode_data(timestamp=now, seq=3, metrics=[metric]),
            ),
            (
                build_topic(foreign, MessageType.DDATA, "edge", "dev"),
                encode_data(timestamp=now, seq=4, metrics=[metric]),
            ),
            (
                build_topic(group, MessageType.NDATA, "edge"),
                encode_data(timestamp=now, seq=3, metrics=[metric]),
            ),
        ]
    )
    assert wait_for(lambda: DeadLetter.objects.filter(reason_code="data_before_birth").exists())
    assert wait_for(lambda: build_topic(group, MessageType.NCMD, "edge") in commands)
    assert _is_settled(pipeline) or wait_for(lambda: _is_settled(pipeline))
    watcher.loop_stop()
    watcher.disconnect()
    assert commands == [build_topic(group, MessageType.NCMD, "edge")]
    assert list(DeadLetter.objects.values_list("topic", "reason_code")) == [
        (f"spBv1.0/{group}/edge", "data_before_birth")
    ]
    assert f"spBv1.0/{group}/#" in bridge.log() and "spBv1.0/#" not in bridge.log()
