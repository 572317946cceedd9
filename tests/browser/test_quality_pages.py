"""The quality role in a real browser: the overview, then a disposition signed with the
password on the NCR page (Chromium through Playwright, against daphne)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from inventory.models import Item
from production.models import Operation, Site
from quality.models import NonConformance
from quality.services import ncr as ncr_services
from traceability.models import ElectronicSignature, Lot
from traceability.services import lot_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_quality_role_signs_a_scrap_disposition(open_page, live_scene, screenshot):
    site = Site.objects.get(code="plant1")
    Site.objects.filter(pk=site.pk).update(autonomy_mode="supervised")
    quality = get_user_model().objects.get(username="quality")
    lot = lot_create(
        item=Item.objects.order_by("pk").first(),
        code="LOT-BROWSER",
        quantity=Decimal(20),
        origin="produced",
        produced_by=Operation.objects.filter(work_order__site=site).order_by("pk").first(),
    )
    ncr = ncr_services.ncr_open(
        site=site, title="Burr on the bore edge", quantity=Decimal(20), lots=[lot], actor=quality
    )
    ncr_services.ncr_contain(ncr_id=ncr.pk, actor=quality)
    assert Lot.objects.get(pk=lot.pk).status == "on_hold"

    overview = open_page("quality", "quality-demo", "/quality/")
    assert overview.locator("#open-ncrs").inner_text() == "1"
    overview.click(f"text={ncr.number}")
    overview.wait_for_url(f"**/quality/ncrs/{ncr.pk}/")
    overview.select_option("#id_decision", "scrap")
    overview.fill("#id_reason", "The burr cannot be removed")
    overview.fill("#id_password", "quality-demo")
    screenshot(overview, "quality-disposition-form")
    overview.click("text=Sign disposition")
    signature = overview.locator("#disposition-signature")
    signature.wait_for()
    assert "Signed by" in signature.inner_text()
    screenshot(overview, "quality-disposition-signed")

    assert NonConformance.objects.get(pk=ncr.pk).status == "dispositioned"
    assert Lot.objects.get(pk=lot.pk).status == "scrapped"
    assert ElectronicSignature.objects.get(object_id=str(ncr.pk)).signer == quality
