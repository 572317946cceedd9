"""The quality lists cost the same number of queries for 2 rows as for 8: no serializer
field fetches a related object per row (house rule: list endpoints have a query-count test)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from quality.models import (
    Capa,
    CapaAction,
    InspectionPlan,
    InspectionResult,
    LotInspection,
    NonConformance,
    QualityHold,
    VisionDefect,
    VisionResult,
)

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/quality/inspection-results/",
    "/api/quality/lot-inspections/",
    "/api/quality/holds/",
    "/api/quality/vision-results/",
    "/api/quality/ncrs/",
    "/api/quality/capas/",
]


def _rows(plant, made_lot, user, start: int, count: int) -> None:
    now = timezone.now()
    plan, _ = InspectionPlan.objects.get_or_create(
        code="IP", defaults={"name": "Lots", "product": plant.product,
                             "sampling_method": "iso_2859", "aql": 2.5},
    )  # fmt: skip
    for number in range(start, start + count):
        lot = made_lot(f"LOT-{number}")
        result = InspectionResult.objects.create(
            inspected_at=now, is_pass=False, defect_class="x", equipment=plant.equipment, lot=lot
        )
        QualityHold.objects.create(
            lot=lot, source="inspection", reason="r", inspection_result=result
        )
        LotInspection.objects.create(
            plan=plan, lot=lot, lot_size=1000, code_letter="J", sample_size=80,
            acceptance_number=5, rejection_number=6, nonconforming_count=0, is_accepted=True,
            inspected_at=now,
        )  # fmt: skip
        vision = VisionResult.objects.create(
            equipment=plant.equipment, inspected_at=now, lot=lot, is_pass=False, hold_confidence=0.9
        )
        VisionDefect.objects.create(
            result=vision, defect_class="pit", confidence=0.5, box_x_px=0, box_y_px=0,
            box_width_px=1, box_height_px=1,
        )  # fmt: skip
        ncr = NonConformance.objects.create(
            number=f"NCR-{number}", title="t", site=plant.site, line=plant.line, quantity=1
        )
        ncr.lots.add(lot)
        capa = Capa.objects.create(non_conformance=ncr, method="five_whys")
        CapaAction.objects.create(
            capa=capa, kind="corrective", description="d", owner=user, due_at=now
        )


def test_quality_lists_take_a_bounded_number_of_queries(plant, made_lot, make_user, api_for):
    user = make_user("quality", username="owner")
    client = api_for("supervisor")
    _rows(plant, made_lot, user, 0, 2)
    client.get(LISTS[0])  # the user's permissions and scope, cached for the next requests
    few = {}
    for url in LISTS:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        few[url] = len(queries.captured_queries)
    _rows(plant, made_lot, user, 2, 6)
    many = {}
    for url in LISTS:
        with CaptureQueriesContext(connection) as queries:
            body = client.get(url).json()
        assert body["count"] == 8, url
        many[url] = len(queries.captured_queries)
    assert many == few
