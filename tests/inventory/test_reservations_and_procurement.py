"""Reservations (available vs on hand) and the procurement outbox the ERP polls."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import services
from inventory.models import Item, Location, ProcurementRequest, Reservation, Stock, StockMovement
from inventory.selectors import item_available, item_on_hand, stock_availability
from mes_site.errors import Conflict, InvalidTransition, ValidationFailed
from tests.mfa import login_verified
from traceability.services import lot_create


@pytest.fixture
def bearings(plant):
    item = Item.objects.create(code="BRG", name="Bearing", kind="spare")
    store = Location.objects.create(site=plant.site, code="STORE", name="Store")
    old = lot_create(item=item, code="BRG-OLD", quantity=Decimal(1), origin="received")
    new = lot_create(item=item, code="BRG-NEW", quantity=Decimal(3), origin="received")
    services.stock_receive(lot=old, location=store, quantity=Decimal(1))
    services.stock_receive(lot=new, location=store, quantity=Decimal(3))
    return item, store, old, new


def test_a_reservation_lowers_available_not_on_hand(plant, bearings):
    item, store, old, _ = bearings
    reservation = services.item_reserve(
        item_id=item.pk, site_id=plant.site.pk, quantity=Decimal(1), reference="PDM-1"
    )
    assert reservation.stock.lot_id == old.pk  # oldest lot first
    assert item_on_hand(item_id=item.pk) == Decimal(4)
    assert item_available(item_id=item.pk, site_id=plant.site.pk) == Decimal(3)
    assert item_available(item_id=item.pk, site_id=plant.other_site.pk) == Decimal(0)
    rows = stock_availability(item_id=item.pk, site_id=plant.site.pk)
    assert [(row.lot_code, row.on_hand, row.reserved, row.available) for row in rows] == [
        ("BRG-OLD", Decimal(1), Decimal(1), Decimal(0)),
        ("BRG-NEW", Decimal(3), Decimal(0), Decimal(3)),
    ]
    # Someone else cannot issue the reserved unit …
    with pytest.raises(ValidationFailed) as error:
        services.stock_issue(lot=old, location=store, quantity=Decimal(1))
    assert error.value.code == "reserved"
    # … and it cannot be reserved twice.
    with pytest.raises(ValidationFailed) as error:
        services.reservation_create(stock_id=reservation.stock_id, quantity=Decimal(1))
    assert error.value.code == "not_available"
    with pytest.raises(ValidationFailed, match="No stock of BRG with 4"):
        services.item_reserve(item_id=item.pk, site_id=plant.site.pk, quantity=Decimal(4))
    assert Reservation.objects.count() == 1


def test_consuming_issues_the_reserved_unit_and_release_frees_it(plant, bearings):
    item, store, old, new = bearings
    first = services.item_reserve(item_id=item.pk, site_id=plant.site.pk, quantity=Decimal(1))
    second = services.item_reserve(item_id=item.pk, site_id=plant.site.pk, quantity=Decimal(2))
    services.reservation_consume(reservation_id=first.pk, reason="bearing replaced")
    assert Stock.objects.get(lot=old, location=store).quantity == Decimal(0)
    movement = StockMovement.objects.latest("id")
    assert (movement.kind, movement.quantity, movement.from_location_id) == (
        "issue",
        Decimal(1),
        store.pk,
    )
    with pytest.raises(InvalidTransition):
        services.reservation_release(reservation_id=first.pk)
    services.reservation_release(reservation_id=second.pk, reason="not needed")
    assert Reservation.objects.get(pk=second.pk).status == "released"
    assert item_available(item_id=item.pk, site_id=plant.site.pk) == Decimal(3)
    services.stock_issue(lot=new, location=store, quantity=Decimal(3))  # free again


def test_the_erp_polls_acknowledges_and_stale_requests_come_back(plant, bearings):
    item, *_ = bearings
    first = services.procurement_request_create(
        site=plant.site, item=item, quantity=Decimal(2), reason="anomaly", reference="PDM-7"
    )
    second = services.procurement_request_create(site=plant.site, item=item, quantity=Decimal(1))
    with pytest.raises(ValidationFailed, match="positive"):
        services.procurement_request_create(site=plant.site, item=item, quantity=Decimal(0))
    fetched = services.procurement_requests_fetch()
    assert [row.pk for row in fetched] == [first.pk, second.pk]
    assert {row.status for row in fetched} == {"sent"}
    assert services.procurement_requests_fetch() == []
    services.procurement_request_acknowledge(request_id=first.pk, erp_reference="PO-1")
    # Acknowledging again with the same reference is harmless; another reference is a conflict.
    services.procurement_request_acknowledge(request_id=first.pk, erp_reference="PO-1")
    with pytest.raises(Conflict, match="acknowledged already as 'PO-1'"):
        services.procurement_request_acknowledge(request_id=first.pk, erp_reference="PO-2")
    later = timezone.now() + timedelta(hours=25)
    assert services.procurement_requests_mark_stale(stale_after_s=24 * 3600, now=later) == 1
    assert services.procurement_requests_mark_stale(stale_after_s=24 * 3600, now=later) == 0
    stale = ProcurementRequest.objects.get(pk=second.pk)
    assert (stale.is_stale, stale.stale_since) == (True, later)
    again = services.procurement_requests_fetch()
    assert [(row.pk, row.send_count, row.is_stale) for row in again] == [(second.pk, 2, False)]
    services.procurement_request_cancel(request_id=second.pk, reason="bought elsewhere")
    with pytest.raises(InvalidTransition):
        services.procurement_request_cancel(request_id=first.pk)


def test_procurement_api_for_the_erp(api_for, plant, bearings):
    item, *_ = bearings
    technician = api_for("maintenance")
    created = technician.post(
        "/api/inventory/procurement-requests/",
        {"site": plant.site.pk, "item": item.pk, "quantity": "2", "reference": "PDM-9"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert technician.post("/api/inventory/procurement-requests/fetch/").status_code == 403
    erp = api_for("integration")
    polled = erp.post("/api/inventory/procurement-requests/fetch/", {"limit": 10}, format="json")
    assert [(row["number"], row["status"]) for row in polled.json()] == [
        (created.json()["number"], "sent")
    ]
    request_id = created.json()["id"]
    acknowledged = erp.post(
        f"/api/inventory/procurement-requests/{request_id}/acknowledge/",
        {"erp_reference": "PO-77"},
        format="json",
    )
    assert acknowledged.json()["status"] == "acknowledged"
    refused = technician.post(f"/api/inventory/procurement-requests/{request_id}/cancel/")
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition")
    listed = api_for("supervisor").get(
        "/api/inventory/procurement-requests/", {"status": "acknowledged"}
    )
    assert [row["erp_reference"] for row in listed.json()["results"]] == ["PO-77"]


def test_reservation_api_and_stock_shows_reserved_and_available(api_for, plant, bearings):
    item = bearings[0]
    technician = api_for("maintenance")
    assert (
        api_for("supervisor")
        .post(
            "/api/inventory/reservations/",
            {"item": item.pk, "site": plant.site.pk, "quantity": "1"},
            format="json",
        )
        .status_code
        == 403
    )
    created = technician.post(
        "/api/inventory/reservations/",
        {"item": item.pk, "site": plant.site.pk, "quantity": "1", "reference": "job 1"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["lot_code"] == "BRG-OLD"
    too_much = technician.post(
        "/api/inventory/reservations/",
        {"stock": created.json()["stock"], "quantity": "1"},
        format="json",
    )
    assert (too_much.status_code, too_much.json()["code"]) == (400, "not_available")
    neither = technician.post("/api/inventory/reservations/", {"quantity": "1"}, format="json")
    assert neither.status_code == 400
    stock = {
        row["lot_code"]: row for row in technician.get("/api/inventory/stock/").json()["results"]
    }
    assert (stock["BRG-OLD"]["quantity"], stock["BRG-OLD"]["reserved"]) == ("1.000", "1.000")
    assert stock["BRG-OLD"]["available"] == "0.000"
    assert stock["BRG-NEW"]["available"] == "3.000"
    released = technician.post(f"/api/inventory/reservations/{created.json()['id']}/release/")
    assert released.json()["status"] == "released"


@pytest.mark.parametrize(
    "url",
    [
        "/api/inventory/reservations/",
        "/api/inventory/procurement-requests/",
        "/api/inventory/stock/",
    ],
)
def test_inventory_lists_do_not_grow_queries(
    api_for, plant, bearings, url, django_assert_max_num_queries
):
    item, *_ = bearings
    client = api_for("maintenance")

    def grow(count: int) -> None:
        for index in range(count):
            lot = lot_create(
                item=item,
                code=f"L{Stock.objects.count()}-{index}",
                quantity=Decimal(1),
                origin="received",
            )
            services.stock_receive(lot=lot, location=bearings[1], quantity=Decimal(1))
            services.item_reserve(item_id=item.pk, site_id=plant.site.pk, quantity=Decimal(1))
            services.procurement_request_create(site=plant.site, item=item, quantity=Decimal(1))

    grow(2)
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    grow(4)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).json()["count"] >= 6
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(6):
        client.get(url)


def test_admin_releases_reservations_and_cancels_requests(client, plant, bearings):
    from django.contrib.auth import get_user_model

    item, *_ = bearings
    reservation = services.item_reserve(item_id=item.pk, site_id=plant.site.pk, quantity=Decimal(1))
    request = services.procurement_request_create(site=plant.site, item=item, quantity=Decimal(1))
    login_verified(
        client,
        get_user_model().objects.create_superuser("root", "root@example.invalid", "pw-12345"),
    )
    page = client.get(f"/admin/inventory/reservation/{reservation.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    released = client.post(
        "/admin/inventory/reservation/",
        {"action": "release", "_selected_action": [reservation.pk]},
        follow=True,
    )
    assert b"Released 1 reservation(s)." in released.content
    cancelled = client.post(
        "/admin/inventory/procurementrequest/",
        {"action": "cancel", "_selected_action": [request.pk]},
        follow=True,
    )
    assert b"Cancelled 1 request(s)." in cancelled.content
    assert Reservation.objects.get().status == "released"
    assert ProcurementRequest.objects.get().status == "cancelled"
