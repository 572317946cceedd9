"""Vision results over the Unified Namespace: ``.../{equipment}/_event`` messages of type
``vision``, handed over by the bridge's event router (``workers.ingest.events``).

Payload: ``{"ts", "type": "vision", "serial": <code>?, "lot": <code>?, "defects": [{"class",
"confidence", "box": [x, y, w, h]}], "image_url"?, "image_base64"?, "image_content_type"?}``.
Each event is stored by ``vision_result_record`` in a savepoint of its own; an event that
names an unknown machine, serial or lot or breaks the contract is rejected with a reason code
(the bridge dead-letters it) and never stops the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from mes_site.errors import DomainError
from production.models import Equipment
from production.services.ingest_contract import EquipmentEventIn, EventIngestResult
from quality.services.vision import DefectIn, image_decode, vision_result_record
from traceability.models import Lot, SerialUnit


class VisionRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _defects(raw) -> list[DefectIn]:
    if not isinstance(raw, list):
        raise VisionRejected("bad_defects", "defects must be a list")
    defects = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            raise VisionRejected("bad_defects", f"defects[{position}] must be an object")
        box = item.get("box")
        values = [item.get("confidence"), *(box if isinstance(box, list) else [])]
        if (
            not isinstance(item.get("class"), str)
            or not isinstance(box, list)
            or len(box) != 4
            or any(type(value) not in (int, float) for value in values)
        ):
            raise VisionRejected(
                "bad_defects",
                f"defects[{position}] needs class (string), confidence and box [x, y, w, h]",
            )
        defects.append(
            DefectIn(
                defect_class=item["class"][:64],
                confidence=float(item["confidence"]),
                box=tuple(float(value) for value in box),
            )
        )
    return defects


def _one(event: EquipmentEventIn, equipment: Equipment | None) -> None:
    if equipment is None:
        raise VisionRejected(
            "unknown_equipment", f"No equipment has the UNS path {event.equipment_path[:200]!r}."
        )
    data = event.data
    serial_unit = lot = None
    if data.get("serial") is not None:
        serial_unit = SerialUnit.objects.filter(serial=str(data["serial"])).first()
        if serial_unit is None:
            raise VisionRejected("unknown_serial", f"Unknown serial {str(data['serial'])[:100]!r}.")
    if data.get("lot") is not None:
        lot = Lot.objects.filter(code=str(data["lot"])).first()
        if lot is None:
            raise VisionRejected("unknown_lot", f"Unknown lot {str(data['lot'])[:100]!r}.")
    image_bytes, content_type = None, ""
    if data.get("image_base64"):
        content_type = str(data.get("image_content_type", ""))
        image_bytes = image_decode(
            image_base64=str(data["image_base64"]), content_type=content_type
        )
    image_url = str(data.get("image_url") or "")
    if image_url and not image_url.lower().startswith(("http://", "https://")):
        raise VisionRejected("bad_image", "image_url must be an http(s) URL")
    vision_result_record(
        equipment=equipment,
        defects=_defects(data.get("defects", [])),
        inspected_at=event.ts,
        lot=lot,
        serial_unit=serial_unit,
        image_url=image_url[:500],
        image_bytes=image_bytes,
        image_content_type=content_type,
    )


def vision_events_ingest(*, events: Sequence[EquipmentEventIn]) -> EventIngestResult:
    machines = {
        machine.uns_path: machine
        for machine in Equipment.objects.filter(
            uns_path__in={event.equipment_path for event in events}
        ).select_related("cell__line__area")
    }
    accepted, rejected = 0, []
    for position, event in enumerate(events):
        try:
            with transaction.atomic():
                _one(event, machines.get(event.equipment_path))
        except VisionRejected as refusal:
            rejected.append((position, refusal.code, refusal.message))
        except DomainError as error:
            rejected.append((position, "vision_rejected", error.message))
        else:
            accepted += 1
    return EventIngestResult(accepted=accepted, rejected=rejected)
