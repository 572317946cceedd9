"""Equipment events of a UNS batch: station events to the line order state machine (through the
``station_events_received`` hook), vision results to quality, the others to production
monitoring; rejects and failures become dead letters."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from django.db import transaction

from production.services.equipment_events import equipment_events_ingest
from production.services.ingest_contract import EquipmentEventIn
from quality.services.spc_ingest import uns_measurements_ingest
from quality.services.vision_ingest import vision_events_ingest
from workers.choices import IngestReason, IngestSource
from workers.hooks import station_events_received
from workers.ingest.dead_letters import DeadLetterCollector
from workers.mqtt.uns import MEASUREMENT_EVENT_KIND, DecodedEvent

logger = logging.getLogger(__name__)


def events_route(
    events: list[tuple[int, DecodedEvent]],
    messages: Sequence[Sequence[Any]],
    dead: DeadLetterCollector,
) -> int:
    """Equipment events → ``production.services.equipment_events.equipment_events_ingest``; its
    rejects (and everything, when the service fails) become dead letters."""
    uns = IngestSource.UNS
    inputs = [
        EquipmentEventIn(
            equipment_path=event.equipment_path, ts=event.ts, kind=event.kind, data=dict(event.data)
        )
        for _index, event in events
    ]
    try:
        with transaction.atomic():
            result = _events_dispatch(inputs)
    except Exception as error:
        logger.exception("equipment_events_ingest failed for %d events", len(inputs))
        for index, _event in events:
            topic, payload = messages[index]
            dead.add(
                source=uns,
                topic=topic,
                reason_code=IngestReason.EVENT_SERVICE_UNAVAILABLE,
                message=f"equipment_events_ingest raised {type(error).__name__}: {error}"[:500],
                payload=payload,
            )
        return 0
    rejected = list(result.rejected)
    for position, reason_code, message in rejected:
        index, _event = events[position]
        topic, payload = messages[index]
        dead.add(
            source=uns,
            topic=topic,
            reason_code=reason_code or IngestReason.EVENT_REJECTED,
            message=message,
            payload=payload,
        )
    return len(inputs) - len(rejected)


def _station_events_ingest(*, events: list) -> Any:
    """Station events belong to the line order state machine, which registers for them;
    without a receiver they are rejected (and so dead-lettered)."""
    results = station_events_received(events=events)
    if not results:
        return SimpleNamespace(
            accepted=0,
            rejected=[
                (i, "no_line_orders", "no line order service receives station events")
                for i in range(len(events))
            ],
        )
    return results[0]


def _events_dispatch(inputs: list) -> Any:
    """Station events go to the line order state machine, quality measurements to SPC, the
    others to monitoring; the rejects come back with their positions in ``inputs``."""
    station = [i for i, event in enumerate(inputs) if event.kind == "station"]
    vision = [i for i, event in enumerate(inputs) if event.kind == "vision"]
    measured = [i for i, event in enumerate(inputs) if event.kind == MEASUREMENT_EVENT_KIND]
    routed = {"station", "vision", MEASUREMENT_EVENT_KIND}
    other = [i for i, event in enumerate(inputs) if event.kind not in routed]
    rejected: list[tuple[int, str, str]] = []
    accepted = 0
    for positions, service in (
        (other, equipment_events_ingest),
        (station, _station_events_ingest),
        (vision, vision_events_ingest),
        (measured, uns_measurements_ingest),
    ):
        if not positions:
            continue
        result = service(events=[inputs[i] for i in positions])
        accepted += result.accepted
        rejected.extend((positions[i], code, message) for i, code, message in result.rejected)
    return SimpleNamespace(accepted=accepted, rejected=rejected)
