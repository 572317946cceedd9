"""Vision results: stored per part with defects and image; a confident defect holds the lot, an
uncertain one waits in the review queue; the Pareto counts confirmed defects."""

import base64

import pytest

from quality.models import QualityHold, VisionResult
from traceability.models import Lot, SerialUnit

pytestmark = pytest.mark.django_db

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()


@pytest.fixture
def client(api_for):
    return api_for("quality")


def _post(client, plant, lot, defects, **extra):
    return client.post(
        "/api/quality/vision-results/",
        {"equipment": plant.equipment.pk, "lot": lot.pk, "defects": defects, **extra},
        format="json",
    )


def test_a_confident_defect_holds_the_lot_and_stores_box_and_image(
    client, plant, made_lot, autonomy, settings
):
    settings.QUALITY_VISION_HOLD_CONFIDENCE = 0.9
    autonomy("supervised")
    lot = made_lot()
    serial = SerialUnit.objects.create(lot=lot, serial="SN-7")
    answer = client.post(
        "/api/quality/vision-results/",
        {
            "equipment": plant.equipment.pk,
            "serial_unit": serial.pk,
            "defects": [
                {"defect_class": "scratch", "confidence": 0.97, "box": [10, 20, 30, 5]},
                {"defect_class": "dent", "confidence": 0.4, "box": [0, 0, 4, 4]},
            ],
            "image_url": "https://edge.example/img/7.png",
            "image_base64": PNG,
            "image_content_type": "image/png",
        },
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["lot"], body["is_pass"], body["review_status"], body["has_image"]) == (
        lot.pk,
        False,
        "not_needed",
        True,
    )
    assert body["defects"][0] == {
        "defect_class": "scratch",
        "confidence": 0.97,
        "box": [10.0, 20.0, 30.0, 5.0],
    }
    assert bytes(VisionResult.objects.get().image_bytes).startswith(b"\x89PNG")
    hold = QualityHold.objects.get()
    assert (hold.source, hold.status, body["hold"]) == ("vision", "active", hold.pk)
    assert Lot.objects.get(pk=lot.pk).status == "on_hold"


def test_an_uncertain_defect_waits_for_review_and_holds_only_when_accepted(
    client, plant, made_lot, autonomy
):
    autonomy("supervised")
    lot = made_lot()
    first = _post(client, plant, lot, [{"defect_class": "pit", "confidence": 0.6,
                                        "box": [1, 1, 2, 2]}]).json()  # fmt: skip
    second = _post(client, plant, lot, [{"defect_class": "pit", "confidence": 0.5,
                                         "box": [1, 1, 2, 2]}]).json()  # fmt: skip
    assert (first["review_status"], first["hold"]) == ("pending", None)
    assert Lot.objects.get(pk=lot.pk).status == "available"
    queue = client.get("/api/quality/vision-results/", {"review_status": "pending"}).json()
    assert {row["id"] for row in queue["results"]} == {first["id"], second["id"]}

    rejected = client.post(
        f"/api/quality/vision-results/{second['id']}/review/",
        {"is_defect": False, "reason": "reflection"},
        format="json",
    )
    assert (rejected.status_code, rejected.json()["is_pass"]) == (200, True)
    assert Lot.objects.get(pk=lot.pk).status == "available"
    accepted = client.post(
        f"/api/quality/vision-results/{first['id']}/review/", {"is_defect": True}, format="json"
    )
    assert accepted.status_code == 200
    assert (accepted.json()["review_status"], accepted.json()["is_pass"]) == ("accepted", False)
    assert QualityHold.objects.get().source == "vision_review"
    assert Lot.objects.get(pk=lot.pk).status == "on_hold"
    again = client.post(
        f"/api/quality/vision-results/{first['id']}/review/", {"is_defect": False}, format="json"
    )
    assert again.status_code == 409


def test_the_pareto_counts_confirmed_defects_only(client, plant, made_lot, autonomy):
    autonomy("off")
    lot = made_lot()
    for defect_class, confidence in [("scratch", 0.95), ("scratch", 0.99), ("dent", 0.91),
                                     ("pit", 0.3)]:  # fmt: skip
        _post(client, plant, lot, [{"defect_class": defect_class, "confidence": confidence,
                                    "box": [0, 0, 1, 1]}])  # fmt: skip
    _post(client, plant, lot, [])
    answer = client.get("/api/quality/vision-results/pareto/")
    assert answer.status_code == 200
    assert answer.json() == [
        {"defect_class": "scratch", "count": 2, "cumulative_share": 0.6667},
        {"defect_class": "dent", "count": 1, "cumulative_share": 1.0},
    ]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"defects": [{"defect_class": "x", "confidence": 1.2, "box": [0, 0, 1, 1]}]}, "defects"),
        ({"defects": [{"defect_class": "x", "confidence": 0.5, "box": [0, 0, 1]}]}, "defects"),
        ({"defects": [{"defect_class": "x", "confidence": 0.5, "box": [-1, 0, 1, 1]}]}, "defects"),
        ({"image_base64": PNG, "image_content_type": "image/gif"}, "image_content_type"),
        ({"image_base64": "not base64!", "image_content_type": "image/png"}, "image_base64"),
        (
            {
                "image_base64": base64.b64encode(b"GIF89a....").decode(),
                "image_content_type": "image/png",
            },
            "image_base64",
        ),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
    ],
)
def test_bad_vision_results_are_400_with_the_field(client, plant, made_lot, extra, field):
    lot = made_lot()
    body = {"equipment": plant.equipment.pk, "lot": lot.pk, "defects": [], **extra}
    answer = client.post("/api/quality/vision-results/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in str(answer.json()["detail"])
    assert VisionResult.objects.count() == 0


def test_an_oversized_image_is_refused(client, plant, made_lot):
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * (300 * 1024)).decode()
    answer = client.post(
        "/api/quality/vision-results/",
        {"equipment": plant.equipment.pk, "defects": [], "image_base64": big,
         "image_content_type": "image/png"},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert "image_base64" in str(answer.json()["detail"])
