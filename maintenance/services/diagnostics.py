"""What a health change tells the rest of the plant, after commit.

* live screens: the snapshot on the equipment's and the line's groups (``health`` event);
* the UNS: ``{MQTT_UNS_ROOT}/{equipment uns_path}/_diagnostics``, JSON, QoS 1, retained —
  published by the ``maintenance.tasks.diagnostics_publish`` task, which retries when the
  broker is away (a failed publish is logged, it never breaks the loop);
* the scheduler: a new plan for the site (trigger ``health_change``).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction

from maintenance.hooks import health_changed
from maintenance.models import HealthSnapshot, MaintenanceWorkOrder
from mes_site.publish import broadcast, group_name
from production.models import Equipment

logger = logging.getLogger(__name__)

DIAGNOSTICS_LEAF = "_diagnostics"
PUBLISH_TIMEOUT_S = 10.0


def health_payload(snapshot: HealthSnapshot) -> dict[str, Any]:
    """The live-screen payload of a snapshot (the API serializer's fields)."""
    from maintenance.api.serializers import HealthSnapshotSerializer

    return dict(HealthSnapshotSerializer(snapshot).data)


def health_broadcast(*, equipment: Equipment, snapshot: HealthSnapshot) -> None:
    broadcast(
        [group_name("equipment", equipment.pk), group_name("line", equipment.cell.line_id)],
        "health",
        health_payload(snapshot),
    )


def diagnostics_topic(equipment: Equipment) -> str:
    from workers.mqtt.uns import build_topic

    return build_topic(getattr(settings, "MQTT_UNS_ROOT", ""), equipment.uns_path, DIAGNOSTICS_LEAF)


def diagnostics_payload(snapshot: HealthSnapshot) -> dict[str, Any]:
    """ts, α, RUL p10/p50/p90 (h), recommendation and the predictive work order number."""
    work_order = None
    if snapshot.episode_id is not None:
        work_order = (
            MaintenanceWorkOrder.objects.filter(anomaly_episode_id=snapshot.episode_id)
            .order_by("requested_at")
            .first()
        )
    loop = snapshot.episode.loop_result if snapshot.episode_id is not None else {}
    return {
        "ts": snapshot.ts.isoformat().replace("+00:00", "Z"),
        "equipment": snapshot.equipment.uns_path,
        "state": snapshot.state,
        "alpha": snapshot.alpha,
        "health_index": snapshot.health_index,
        "degradation_slope_per_h": snapshot.degradation_slope_per_h,
        "rul_state": snapshot.rul_state,
        "rul_p10_h": snapshot.rul_p10_h,
        "rul_p50_h": snapshot.rul_p50_h,
        "rul_p90_h": snapshot.rul_p90_h,
        "recommendation": snapshot.recommendation,
        "is_anomaly": snapshot.is_anomaly,
        "work_order_number": work_order.number if work_order is not None else None,
        "work_order_state": work_order.state if work_order is not None else None,
        "proposed_work_order_number": (loop or {}).get("work_order_number"),
        "component": (loop or {}).get("component") or None,
        "model_version": snapshot.model_version,
    }


def diagnostics_publish_enqueue(*, snapshot_id: int) -> None:
    """Queue the UNS publish once the snapshot is committed."""

    def send() -> None:
        from maintenance.tasks import diagnostics_publish

        try:
            diagnostics_publish.delay(snapshot_id)
        except Exception:  # the broker being away must not break the health refresh
            logger.warning("could not queue diagnostics of snapshot %s", snapshot_id, exc_info=True)

    transaction.on_commit(send)


def _mqtt_client(client_id: str):
    import paho.mqtt.client as mqtt

    url = urlparse(getattr(settings, "MQTT_URL", "mqtt://localhost:1883"))
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
    )
    if url.username:
        client.username_pw_set(url.username, url.password or None)
    if url.scheme in {"mqtts", "ssl", "tls"}:
        client.tls_set()
    port = url.port or (8883 if url.scheme in {"mqtts", "ssl", "tls"} else 1883)
    return client, url.hostname or "localhost", port


def diagnostics_publish(*, snapshot_id: int) -> str | None:
    """Publish one snapshot's diagnostics (QoS 1, retained); returns the topic.

    Raises on a broker error so that the task retries; returns None when the snapshot is
    gone (nothing to publish).
    """
    snapshot = (
        HealthSnapshot.objects.select_related("equipment", "episode").filter(pk=snapshot_id).first()
    )
    if snapshot is None:
        return None
    topic = diagnostics_topic(snapshot.equipment)
    body = json.dumps(diagnostics_payload(snapshot), separators=(",", ":"), allow_nan=False)
    client, host, port = _mqtt_client(f"mes-diagnostics-{uuid.uuid4().hex[:12]}")
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        info = client.publish(topic, body.encode(), qos=1, retain=True)
        info.wait_for_publish(timeout=PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise TimeoutError(f"the broker did not acknowledge the diagnostics on {topic}")
    finally:
        client.disconnect()
        client.loop_stop()
    return topic


def scheduler_trigger(*, site_id: int, detail: str) -> None:
    """Tell whoever plans the site (``maintenance.hooks.health_changed``) after commit."""
    transaction.on_commit(lambda: health_changed(site_id=site_id, detail=detail))
