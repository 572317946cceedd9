"""Reads of vision results: scoped through the station's line; the review queue; the Pareto
of confirmed defects (confident ones and those a reviewer accepted)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, Q, QuerySet

from mes_site.scope import scope_filter
from quality.choices import VisionReviewStatus
from quality.models import VisionDefect, VisionResult

EQUIPMENT_LINE = "equipment__cell__line_id"
EQUIPMENT_SITE = "equipment__cell__line__area__site_id"


def vision_result_list(*, user) -> QuerySet[VisionResult]:
    return scope_filter(
        VisionResult.objects.select_related("equipment", "lot", "serial_unit").prefetch_related(
            "defects"
        ),
        user,
        line=EQUIPMENT_LINE,
        site=EQUIPMENT_SITE,
    )


def vision_review_queue(*, user) -> QuerySet[VisionResult]:
    return vision_result_list(user=user).filter(review_status=VisionReviewStatus.PENDING)


def defect_pareto(
    *, user, since: datetime | None = None, until: datetime | None = None
) -> list[dict]:
    """Confirmed defects by class, most frequent first, with the cumulative share."""
    results = vision_result_list(user=user)
    if since is not None:
        results = results.filter(inspected_at__gte=since)
    if until is not None:
        results = results.filter(inspected_at__lt=until)
    confirmed = Q(result__review_status=VisionReviewStatus.ACCEPTED) | Q(
        result__review_status=VisionReviewStatus.NOT_NEEDED,
        confidence__gte=F("result__hold_confidence"),  # the threshold when it arrived
    )
    rows = list(
        VisionDefect.objects.filter(result__in=results.values("pk"))
        .filter(confirmed)
        .values("defect_class")
        .annotate(count=Count("id"))
        .order_by("-count", "defect_class")
    )
    total = sum(row["count"] for row in rows)
    cumulative = 0
    for row in rows:
        cumulative += row["count"]
        row["cumulative_share"] = round(cumulative / total, 4)
    return rows
