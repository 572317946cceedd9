"""Vision results: store a station's per-part defects, hold on a confident defect, queue the
uncertain ones for a human review (accept = defect confirmed and held; reject = false call).

The confidence from which a defect holds its lot is the setting
``QUALITY_VISION_HOLD_CONFIDENCE`` (0.9 by default); a defect below it goes to the review
queue. A result with no defect passes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mes_site.errors import ValidationFailed
from quality.choices import HoldSource, VisionReviewStatus
from quality.models import VisionDefect, VisionResult
from quality.models.vision import IMAGE_CONTENT_TYPES, IMAGE_MAX_BYTES
from quality.services.holds import hold_propose
from traceability.services.audit import audit_event_record, state_transition

_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}


def vision_hold_confidence() -> float:
    return float(getattr(settings, "QUALITY_VISION_HOLD_CONFIDENCE", 0.9))


@dataclass(frozen=True)
class DefectIn:
    defect_class: str
    confidence: float
    box: tuple[float, float, float, float]  # x, y, width, height in pixels


def image_decode(*, image_base64: str, content_type: str) -> bytes:
    """A small PNG or JPEG from base64, checked by size and by its first bytes."""
    if content_type not in IMAGE_CONTENT_TYPES:
        raise ValidationFailed(
            f"Images are {' or '.join(IMAGE_CONTENT_TYPES)}.",
            detail={"image_content_type": content_type},
        )
    if len(image_base64) > IMAGE_MAX_BYTES * 4 // 3 + 4:
        raise ValidationFailed(
            f"The image is larger than {IMAGE_MAX_BYTES} bytes.", detail={"image_base64": "size"}
        )
    try:
        data = base64.b64decode(image_base64, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed(
            "The image is not valid base64.", detail={"image_base64": "base64"}
        ) from error
    if len(data) > IMAGE_MAX_BYTES:
        raise ValidationFailed(
            f"The image is larger than {IMAGE_MAX_BYTES} bytes.", detail={"image_base64": "size"}
        )
    if not data.startswith(_MAGIC[content_type]):
        raise ValidationFailed(
            f"The image is not a {content_type}.", detail={"image_base64": "content"}
        )
    return data


def _check_defect(defect: DefectIn, position: int) -> None:
    values = (defect.confidence, *defect.box)
    if any(value != value or value in (float("inf"), float("-inf")) for value in values):
        raise ValidationFailed(
            "Confidence and box are finite numbers.", detail={"defects": {position: "finite"}}
        )
    if not 0.0 <= defect.confidence <= 1.0:
        raise ValidationFailed(
            "Confidence lies between 0 and 1.", detail={"defects": {position: "confidence"}}
        )
    if any(value < 0 for value in defect.box):
        raise ValidationFailed(
            "A bounding box has no negative coordinates.", detail={"defects": {position: "box"}}
        )
    if not defect.defect_class:
        raise ValidationFailed(
            "A defect names its class.", detail={"defects": {position: "defect_class"}}
        )


@transaction.atomic
def vision_result_record(
    *,
    equipment,
    defects: list[DefectIn],
    inspected_at: datetime | None = None,
    lot=None,
    serial_unit=None,
    image_url: str = "",
    image_bytes: bytes | None = None,
    image_content_type: str = "",
    actor=None,
) -> VisionResult:
    for position, defect in enumerate(defects):
        _check_defect(defect, position)
    if serial_unit is not None:
        if lot is not None and serial_unit.lot_id != lot.pk:
            raise ValidationFailed(
                f"Serial {serial_unit.serial} is not of lot {lot.code}.", detail={"lot": lot.pk}
            )
        lot = serial_unit.lot
    threshold = vision_hold_confidence()
    confident = [defect for defect in defects if defect.confidence >= threshold]
    if not defects or confident:
        review = VisionReviewStatus.NOT_NEEDED
    else:
        review = VisionReviewStatus.PENDING
    result = VisionResult.objects.create(
        equipment=equipment,
        inspected_at=inspected_at or timezone.now(),
        lot=lot,
        serial_unit=serial_unit,
        image_url=image_url,
        image_bytes=image_bytes,
        image_content_type=image_content_type if image_bytes else "",
        is_pass=not defects,
        review_status=review,
        hold_confidence=threshold,
    )
    VisionDefect.objects.bulk_create(
        VisionDefect(
            result=result,
            defect_class=defect.defect_class,
            confidence=defect.confidence,
            box_x_px=defect.box[0],
            box_y_px=defect.box[1],
            box_width_px=defect.box[2],
            box_height_px=defect.box[3],
        )
        for defect in defects
    )
    if confident and lot is not None:
        top = max(confident, key=lambda defect: defect.confidence)
        _hold(result, source=HoldSource.VISION, why=f"{top.defect_class} at {top.confidence:.2f}",
              actor=actor)  # fmt: skip
    return result


def _hold(result: VisionResult, *, source: str, why: str, actor) -> None:
    part = f"serial {result.serial_unit.serial}" if result.serial_unit else f"lot {result.lot.code}"
    hold_propose(
        lot=result.lot,
        source=source,
        reason=f"vision station {result.equipment.code}: {part} shows {why}",
        equipment=result.equipment,
        explanation_data={"vision_result_id": result.pk},
        actor=actor,
        vision_result=result,
    )


@transaction.atomic
def vision_result_review(
    *, result_id: int, is_defect: bool, actor, reason: str = ""
) -> VisionResult:
    """A reviewer's verdict on an uncertain result: a confirmed defect fails the part and
    proposes the hold; a rejected one passes it."""
    status = VisionReviewStatus.ACCEPTED if is_defect else VisionReviewStatus.REJECTED
    result = state_transition(
        model=VisionResult,
        pk=result_id,
        allowed_from={VisionReviewStatus.PENDING},
        to_state=status,
        field="review_status",
        actor=actor,
        action="review",
        reason=reason,
        updates={
            "is_pass": not is_defect,
            "reviewed_by": actor,
            "reviewed_at": timezone.now(),
            "review_reason": reason,
        },
    )
    if is_defect and result.lot_id is not None:
        top = result.defects.order_by("-confidence").first()
        _hold(
            result,
            source=HoldSource.VISION_REVIEW,
            why=f"{top.defect_class}, confirmed by {actor.get_username()}",
            actor=actor,
        )
    elif not is_defect:
        audit_event_record(actor=actor, obj=result, action="false call", reason=reason)
    return result
