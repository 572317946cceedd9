"""The Celery application: queues `ingest`, `default` and `scheduling`.

Ingest tasks also get a redelivery record, for the one gap of kombu's Redis transport that its
visibility timeout does not cover: a worker takes a task off the queue with BRPOP and only then
records it in the ``unacked`` hash that the timeout restores from. A worker killed in between
(SIGKILL, the OOM killer, a lost node; a CPU-starved worker can sit there for tens of
milliseconds with the task in its socket buffer) loses the task for good: it is in neither the
queue nor the hash. So the publisher records each ingest task, message included, before it
publishes it; the worker forgets it once it has received it (kombu has it in ``unacked`` by then);
and ``lost_tasks_redeliver`` (beat) publishes again, under the same task id, every task recorded
more than ``after_s`` ago that cannot still be waiting in the queue: the queue is empty, or a task
published more than ``after_s`` later was received already (the queue is first in, first out).
The record lives in the broker under ``<INGEST_REDIS_PREFIX>:redeliver:``; times are the Redis
server's, so the clocks of the publishers do not matter. A batch published twice is stored once
(the batch ledger).
"""

from __future__ import annotations

import logging
import os
import time

import msgpack
import redis
from celery import Celery
from celery.signals import (
    before_task_publish,
    task_postrun,
    task_prerun,
    task_received,
    worker_process_shutdown,
)
from django.conf import settings

from mes_site.metrics import TASK_DURATION, process_exited
from mes_site.redis import redis_client

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes_site.settings")

app = Celery("mes_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

REDELIVERED_TASKS = frozenset(
    {"workers.tasks.ingest_uns_batch", "workers.tasks.ingest_sparkplug_batch"}
)

# KEYS: queues, published, messages. ARGV: task id, message, queue.
_RECORD_SCRIPT = """
local now = redis.call('TIME')
redis.call('SADD', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(now[2]) / 1000000, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
"""

# KEYS: published, messages, received mark. ARGV: task id.
_FORGET_SCRIPT = """
local published_s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not published_s then
    return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
local mark_s = redis.call('GET', KEYS[3])
if not mark_s or tonumber(published_s) > tonumber(mark_s) then
    redis.call('SET', KEYS[3], published_s)
end
return 1
"""


def _broker_client() -> redis.Redis | None:
    """The process-wide client for the broker; None unless the broker is Redis."""
    url = app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://")):
        return None
    return redis_client(url)


def redelivery_key(*parts: str) -> str:
    return ":".join([settings.INGEST_REDIS_PREFIX, "redeliver", *parts])


@before_task_publish.connect
def _redelivery_record(sender=None, body=None, headers=None, routing_key=None, **_):
    """Publisher: record the task before it reaches the queue (a retry records it again)."""
    client = _broker_client()
    if sender not in REDELIVERED_TASKS or client is None or not routing_key:
        return
    args, kwargs, _embed = body
    message = msgpack.packb(
        [sender, list(args), kwargs, headers.get("retries", 0)], use_bin_type=True
    )
    client.register_script(_RECORD_SCRIPT)(
        keys=[
            redelivery_key("queues"),
            redelivery_key(routing_key, "published"),
            redelivery_key(routing_key, "messages"),
        ],
        args=[headers["id"], message, routing_key],
    )


@task_received.connect
def _redelivery_forget(sender=None, request=None, **_):
    """Worker: the task is in kombu's unacked hash now, which covers it from here on."""
    client = _broker_client()
    if request is None or request.name not in REDELIVERED_TASKS or client is None:
        return
    queue = (request.delivery_info or {}).get("routing_key")
    if not queue:
        return
    client.register_script(_FORGET_SCRIPT)(
        keys=[
            redelivery_key(queue, "published"),
            redelivery_key(queue, "messages"),
            redelivery_key(queue, "received_mark"),
        ],
        args=[request.id],
    )


def lost_tasks_redeliver(*, after_s: float) -> int:
    """Publish again the recorded tasks the broker lost (see the module docstring); their
    number. A task that was in fact still on its way is then processed twice, harmlessly."""
    client = _broker_client()
    if client is None:
        return 0
    seconds, microseconds = client.time()
    now_s = seconds + microseconds / 1_000_000
    redelivered = 0
    for queue in sorted(name.decode() for name in client.smembers(redelivery_key("queues"))):
        published = client.zrangebyscore(
            redelivery_key(queue, "published"), "-inf", now_s - after_s, withscores=True
        )
        if not published:
            continue
        mark_s = float(client.get(redelivery_key(queue, "received_mark")) or 0)
        is_queue_empty = client.llen(queue) == 0
        for task_id, published_s in published:
            if not (is_queue_empty or published_s < mark_s - after_s):
                continue  # may still be waiting in the queue
            message = client.hget(redelivery_key(queue, "messages"), task_id)
            if message is None:
                continue  # received meanwhile
            name, args, kwargs, retries = msgpack.unpackb(message, raw=False)
            logger.warning("task %s (%s) was lost by the broker; published again", task_id, name)
            app.send_task(
                name,
                args=args,
                kwargs=kwargs,
                queue=queue,
                task_id=task_id.decode(),
                retries=retries,
                serializer="msgpack",
            )
            redelivered += 1
    return redelivered


# --- metrics: task durations, the live gauges of ended worker children -------------------------

_task_started_at: dict[str, float] = {}


@task_prerun.connect
def _task_duration_start(task_id=None, **_):
    if task_id is not None:
        _task_started_at[task_id] = time.perf_counter()


@task_postrun.connect
def _task_duration_observe(task_id=None, task=None, state=None, **_):
    """``mes_celery_task_duration_seconds{task, state}`` (success, failure, retry)."""
    started = _task_started_at.pop(task_id, None)
    if started is None or task is None:
        return
    TASK_DURATION.labels(task=task.name, state=str(state or "unknown").lower()).observe(
        time.perf_counter() - started
    )


@worker_process_shutdown.connect
def _worker_child_exited(pid=None, **_):
    if pid is not None:
        process_exited(pid)
