"""The follow-up work of a batch, after its commit and never inline: the current-value cache,
the debounced alert evaluation, the live broadcast of current values and the hooks of the apps
above (vibration features stored)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from mes_site.publish import broadcast, group_name
from mes_site.redis import redis_client
from production.services.alerts import alerts_evaluate_signal_values
from workers import store
from workers.hooks import vibration_features_stored

logger = logging.getLogger(__name__)


def current_values_broadcast(current: dict[int, dict[str, tuple[datetime, Any, int]]]) -> None:
    """Push each equipment's newest live values to its live screens (an aggregate: at most
    1 Hz per equipment, coalesced to the latest; raw samples are never pushed)."""
    for equipment_id, values in current.items():
        payload = {
            "equipment_id": equipment_id,
            "values": {
                name: {"ts": ts.isoformat(), "value": value}
                for name, (ts, value, _quality) in values.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
        }
        if payload["values"]:
            broadcast([group_name("equipment", equipment_id)], "current_values", payload)


@dataclass
class FollowUps:
    """What a batch hands on; ``run`` after its commit (each part failing on its own)."""

    # equipment_id → signal name → (ts, value, quality): live values for the cache and alerts
    current: dict[int, dict[str, tuple[datetime, Any, int]]] = field(default_factory=dict)
    stale: list[tuple[int, list[str], datetime]] = field(default_factory=list)
    features_equipment: set[int] = field(default_factory=set)

    def live(self, equipment_id: int, name: str, ts: datetime, value: Any, quality: int) -> None:
        values = self.current.get(equipment_id)
        if values is None:
            values = self.current[equipment_id] = {}
        previous = values.get(name)
        if previous is None or ts >= previous[0]:
            values[name] = (ts, value, quality)

    def run(self) -> None:
        try:
            store.current_values_apply(self.current)
            if self.stale:
                store.current_values_mark_stale(self.stale)
        except Exception:
            logger.exception("current-value cache update failed")
        try:
            alerts_schedule(self.current)
        except Exception:
            logger.exception("scheduling the alert evaluation failed")
        try:
            current_values_broadcast(self.current)
        except Exception:
            logger.exception("broadcasting the current values failed")
        for equipment_id in sorted(self.features_equipment):
            try:
                vibration_features_stored(equipment_id=equipment_id)
            except Exception:
                logger.exception("scheduling the health refresh of %s failed", equipment_id)


def _followup_routing() -> dict[str, str]:
    queue = settings.INGEST_FOLLOWUP_QUEUE
    return {"queue": queue} if queue else {}


def alerts_schedule(current: dict[int, dict[str, tuple[datetime, Any, int]]]) -> None:
    """Park the batch's latest value per signal in a Redis hash and enqueue at most one
    ``workers.tasks.alerts_evaluate`` per ``INGEST_ALERTS_DEBOUNCE_S`` (it drains the hash)."""
    if not current:
        return
    mapping = {}
    for equipment_id, values in current.items():
        for name, (ts, value, _quality) in values.items():
            if value is None or type(value) is str:  # alert rules compare numbers
                continue
            mapping[f"{equipment_id}/{name}"] = json.dumps(
                [equipment_id, name, value, int(ts.timestamp() * 1000)]
            )
    if not mapping:
        return
    client = redis_client()
    client.hset(store.redis_key("alerts_pending"), mapping=mapping)
    debounce_s = settings.INGEST_ALERTS_DEBOUNCE_S
    if store.debounce_acquire("alerts", ttl_s=debounce_s):
        # Imported here: workers.tasks imports the ingest (a service enqueuing its own task).
        from workers.tasks import alerts_evaluate

        alerts_evaluate.apply_async(countdown=debounce_s, **_followup_routing())


def alerts_pending_take() -> list[tuple[int, str, Any, datetime]]:
    """Drain the parked latest values: ``[(equipment_id, signal_name, value, ts)]``."""
    client = redis_client()
    key = store.redis_key("alerts_pending")
    pipeline = client.pipeline(transaction=True)
    pipeline.hgetall(key)
    pipeline.delete(key)
    raw, _ = pipeline.execute()
    values = []
    for encoded in raw.values():
        equipment_id, name, value, ts_ms = json.loads(encoded)
        values.append((equipment_id, name, value, datetime.fromtimestamp(ts_ms / 1000, UTC)))
    values.sort(key=lambda item: (item[0], item[1]))
    return values


def alerts_pending_restore(values: list[tuple[int, str, Any, datetime]]) -> None:
    """Park taken values again (an evaluation that failed); a value parked meanwhile is
    newer and stays."""
    if not values:
        return
    client = redis_client()
    key = store.redis_key("alerts_pending")
    pipeline = client.pipeline(transaction=True)
    for equipment_id, name, value, ts in values:
        encoded = json.dumps([equipment_id, name, value, int(ts.timestamp() * 1000)])
        pipeline.hsetnx(key, f"{equipment_id}/{name}", encoded)
    pipeline.execute()


def alerts_evaluate(*, values: list[tuple[int, str, Any, datetime]]) -> None:
    """Hand the values to the production monitoring service."""
    if not values:
        return
    alerts_evaluate_signal_values(values=values)
