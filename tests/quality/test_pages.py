"""The quality role's pages: overview counts, the review queue with its image, the NCR board
and the disposition signed on the NCR page."""

import base64

import pytest

from quality.models import NonConformance, VisionResult
from quality.services import ncr as ncr_services
from quality.services import vision as vision_services
from traceability.models import ElectronicSignature, Lot

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def quality_pages(make_user, verified_client):
    user = make_user("quality")
    return user, verified_client(user)


@pytest.fixture
def contained_ncr(plant, made_lot, autonomy, quality_pages):
    autonomy("supervised")
    user, _pages = quality_pages
    lot = made_lot("LOT-P")
    ncr = ncr_services.ncr_open(
        site=plant.site, line=plant.line, title="Burr on edge", quantity=3, lots=[lot], actor=user
    )
    ncr_services.ncr_contain(ncr_id=ncr.pk, actor=user)
    return ncr, lot


def test_the_overview_counts_open_ncrs_holds_and_the_review_queue(
    quality_pages, contained_ncr, plant
):
    _user, pages = quality_pages
    vision_services.vision_result_record(
        equipment=plant.equipment,
        defects=[vision_services.DefectIn("pit", 0.5, (0, 0, 2, 2))],
    )
    body = pages.get("/quality/").content.decode()
    for marker in ('id="open-ncrs">1<', 'id="active-holds">1<', 'id="review-count">1<'):
        assert marker in body
    assert contained_ncr[0].number in body
    assert 'href="/quality/spc/"' in body  # the SPC charts are one click away
    board = pages.get("/quality/ncrs/")
    assert board.status_code == 200 and contained_ncr[0].number in board.content.decode()


def test_the_review_queue_shows_the_image_and_a_rejection_passes_the_part(quality_pages, plant):
    _user, pages = quality_pages
    result = vision_services.vision_result_record(
        equipment=plant.equipment,
        defects=[vision_services.DefectIn("pit", 0.5, (1, 2, 3, 4))],
        image_bytes=PNG,
        image_content_type="image/png",
    )
    body = pages.get("/quality/review/").content.decode()
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in body
    answer = pages.post("/quality/review/", {"result": result.pk, "verdict": "reject"})
    assert answer.status_code == 302
    result.refresh_from_db()
    assert (result.review_status, result.is_pass) == ("rejected", True)
    assert "Nothing to review" in pages.get("/quality/review/").content.decode()


def test_the_disposition_is_signed_on_the_ncr_page(quality_pages, contained_ncr):
    user, pages = quality_pages
    ncr, lot = contained_ncr
    url = f"/quality/ncrs/{ncr.pk}/"
    assert 'name="password"' in pages.get(url).content.decode()
    refused = pages.post(url, {"decision": "scrap", "reason": "burr", "password": "nope"})
    assert refused.status_code == 400
    assert "password is not correct" in refused.content.decode()
    assert Lot.objects.get(pk=lot.pk).status == "on_hold"
    signed = pages.post(
        url,
        {"decision": "scrap", "reason": "burr too deep", "meaning": "approval",
         "password": "secret-pass-1"},
    )  # fmt: skip
    assert signed.status_code == 302
    assert NonConformance.objects.get(pk=ncr.pk).status == "dispositioned"
    assert Lot.objects.get(pk=lot.pk).status == "scrapped"
    assert ElectronicSignature.objects.get().signer == user
    assert 'id="disposition-signature"' in pages.get(url).content.decode()


def test_an_operator_sees_the_pages_but_cannot_sign(make_user, verified_client, contained_ncr):
    operator = make_user("operator")
    pages = verified_client(operator)
    ncr, lot = contained_ncr
    url = f"/quality/ncrs/{ncr.pk}/"
    assert 'name="password"' not in pages.get(url).content.decode()
    answer = pages.post(url, {"decision": "use_as_is", "reason": "x", "password": "secret-pass-1"})
    assert answer.status_code == 403
    assert Lot.objects.get(pk=lot.pk).status == "on_hold"
    assert VisionResult.objects.count() == 0


def test_the_quality_role_lands_on_the_quality_overview(quality_pages, make_user, verified_client):
    _user, pages = quality_pages
    landing = pages.get("/")
    assert (landing.status_code, landing["Location"]) == (302, "/quality/")
    supervisor = verified_client(make_user("supervisor"))
    assert supervisor.get("/").status_code == 200
