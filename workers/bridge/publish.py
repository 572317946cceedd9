"""Hands bridge batches to Celery: one task per batch on the ingest queue, msgpack-encoded
(payloads travel as raw bytes; JSON would need base64). A publish that returns means the
Celery broker has accepted the task message (Redis: the LPUSH was answered)."""

from __future__ import annotations

from typing import Any

from workers.bridge.uns import UnsBatch

UNS_TASK = "workers.tasks.ingest_uns_batch"
SPARKPLUG_TASK = "workers.tasks.ingest_sparkplug_batch"


class CeleryPublisher:
    def __init__(self, app: Any, *, queue: str, serializer: str = "msgpack") -> None:
        self._app = app
        self._queue = queue
        self._serializer = serializer

    def uns(self, batch: UnsBatch) -> None:
        self._app.send_task(
            UNS_TASK,
            args=[batch.batch_id, batch.published_at_ms, batch.messages, batch.oversize],
            queue=self._queue,
            serializer=self._serializer,
            retry=False,
        )

    def sparkplug(self, batch_id: str, published_at_ms: int, **parts: Any) -> None:
        self._app.send_task(
            SPARKPLUG_TASK,
            args=[batch_id, published_at_ms],
            kwargs=parts,
            queue=self._queue,
            serializer=self._serializer,
            retry=False,
        )
