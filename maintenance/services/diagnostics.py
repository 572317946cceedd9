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
import os
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from maintenance.hooks import health_changed
from maintenance.models import HealthSnapshot, MaintenanceWorkOrder
from mes_site.publish import broadcast, group_name
from production.models import Equipment
from workers.mqtt.address import BrokerAddress, broker_address_from_settings
from workers.mqtt.uns import build_topic

logger = logging.getLogger(__name__)

DIAGNOSTICS_LEAF = "_diagnostics"
PUBLISH_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 30


def _iso_z(value) -> str:
    """An aware datetime in the current time zone, ISO 8601, UTC written as ``Z``."""
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def health_payload(snapshot: HealthSnapshot) -> dict[str, Any]:
    """The live-screen payload of a snapshot: the fields of the health snapshot API."""
    return {
        "id": snapshot.pk,
        "equipment": snapshot.equipment_id,
        "equipment_code": snapshot.equipment.code,
        "ts": _iso_z(snapshot.ts),
        "state": snapshot.state,
        "detail": snapshot.detail,
        "window_count": snapshot.window_count,
        "alpha": snapshot.alpha,
        "chi_square_alpha": snapshot.chi_square_alpha,
        "mahalanobis_distance": snapshot.mahalanobis_distance,
        "kurtosis": snapshot.kurtosis,
        "is_floor_rule_fired": snapshot.is_floor_rule_fired,
        "rms_ratio": snapshot.rms_ratio,
        "health_index": snapshot.health_index,
        "degradation_slope_per_h": snapshot.degradation_slope_per_h,
        "rul_state": snapshot.rul_state,
        "rul_p10_h": snapshot.rul_p10_h,
        "rul_p50_h": snapshot.rul_p50_h,
        "rul_p90_h": snapshot.rul_p90_h,
        "recommendation": snapshot.recommendation,
        "is_anomaly": snapshot.is_anomaly,
        "episode": snapshot.episode_id,
        "model_version": snapshot.model_version,
        "rul_model": snapshot.rul_model,
        "rul_model_version": snapshot.rul_model_version_id,
        "fleet_rul_state": snapshot.fleet_rul_state,
        "rul_detail": snapshot.rul_detail,
    }


def health_broadcast(*, equipment: Equipment, snapshot: HealthSnapshot) -> None:
    broadcast(
        [group_name("equipment", equipment.pk), group_name("line", equipment.cell.line_id)],
        "health",
        health_payload(snapshot),
    )


def diagnostics_topic(equipment: Equipment) -> str:
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
        "rul_model": snapshot.rul_model,
        "fleet_rul_state": snapshot.fleet_rul_state,
    }


def diagnostics_publish_enqueue(*, snapshot_id: int) -> None:
    """Queue the UNS publish once the snapshot is committed."""

    def send() -> None:
        # The task calls back into this module: imported here, where the cycle is closed.
        from maintenance.tasks import diagnostics_publish

        try:
            diagnostics_publish.delay(snapshot_id)
        except Exception:  # the broker being away must not break the health refresh
            logger.warning("could not queue diagnostics of snapshot %s", snapshot_id, exc_info=True)

    transaction.on_commit(send)


class DiagnosticsPublisher:
    """This process's one MQTT connection for the retained diagnostics.

    It connects on the first publish and again when the connection is found down (the broker
    was away); a publish that the broker does not acknowledge raises, closes the connection
    and leaves the retry to the task. Obtained through :func:`diagnostics_publisher`, so it is
    created in the process that publishes — after Celery's fork, never inherited from it.
    """

    def __init__(self, address: BrokerAddress) -> None:
        self.address = address
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish ``payload`` on ``topic`` (QoS 1, retained) and wait for the broker's ack."""
        with self._lock:
            client = self._connected_client()
            info = client.publish(topic, payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=PUBLISH_TIMEOUT_S)
            except Exception:
                self._close()
                raise
            if not info.is_published():
                self._close()
                raise TimeoutError(f"the broker did not acknowledge the diagnostics on {topic}")

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connected_client(self) -> mqtt.Client:
        if self._client is not None and self._client.is_connected():
            return self._client
        self._close()
        self._client = self._connect()
        return self._client

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"mes-diagnostics-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        context = self.address.tls_context()
        if context is not None:
            client.tls_set_context(context)
        answered = threading.Event()
        refusals: list[str] = []

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                refusals.append(str(reason_code))
            answered.set()

        client.on_connect = on_connect
        client.connect(self.address.host, self.address.port, keepalive=KEEPALIVE_S)
        client.loop_start()
        if not answered.wait(CONNECT_TIMEOUT_S) or refusals:
            _client_stop(client)
            reason = refusals[0] if refusals else "no answer"
            raise ConnectionError(f"the MQTT broker at {self.address} refused ({reason})")
        return client

    def _close(self) -> None:
        if self._client is not None:
            _client_stop(self._client)
            self._client = None


def _client_stop(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


_publisher: DiagnosticsPublisher | None = None
_publisher_lock = threading.Lock()


def diagnostics_publisher() -> DiagnosticsPublisher:
    """This process's publisher for ``MQTT_URL`` (a new one when the URL changed)."""
    global _publisher
    address = broker_address_from_settings(settings)
    with _publisher_lock:
        if _publisher is None or _publisher.address != address:
            if _publisher is not None:
                _publisher.close()
            _publisher = DiagnosticsPublisher(address)
        return _publisher


def _publisher_forget_after_fork() -> None:
    """A forked child never uses its parent's connection (nor a lock held at the fork)."""
    global _publisher, _publisher_lock
    _publisher = None
    _publisher_lock = threading.Lock()


os.register_at_fork(after_in_child=_publisher_forget_after_fork)


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
    diagnostics_publisher().publish(topic, body.encode())
    return topic


def scheduler_trigger(*, site_id: int, detail: str) -> None:
    """Tell whoever plans the site (``maintenance.hooks.health_changed``) after commit."""
    transaction.on_commit(lambda: health_changed(site_id=site_id, detail=detail))
