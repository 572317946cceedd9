"""Writes of the inventory app: every stock change is a ledger row plus a locked stock update.

Reservations set stock aside for a job: they lower the *available* quantity of a stock row
(on hand − active reservations) but not its on-hand quantity, and a movement out of a stock
row may not eat into what others have reserved. Procurement requests are an outbox the ERP
polls (pending → sent → acknowledged); each new one is also a ``procurement_request.created``
webhook, emitted in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from integration.choices import EventType
from integration.services.events import emit
from inventory.choices import MovementKind, ProcurementStatus, ReservationStatus
from inventory.models import Item, Location, ProcurementRequest, Reservation, Stock, StockMovement
from inventory.selectors import stock_availability
from mes_site.errors import Conflict, NotFound, ValidationFailed
from traceability.choices import LotStatus
from traceability.models import Lot
from traceability.services import audit_event_record, state_transition


def _locked_stock(*, lot: Lot, location: Location) -> Stock:
    stock, _ = Stock.objects.get_or_create(lot=lot, location=location)
    return Stock.objects.select_for_update().get(pk=stock.pk)


def _reserved_quantity(*, stock_id: int, excluding: Reservation | None = None) -> Decimal:
    queryset = Reservation.objects.filter(stock_id=stock_id, status=ReservationStatus.ACTIVE)
    if excluding is not None:
        queryset = queryset.exclude(pk=excluding.pk)
    return queryset.aggregate(total=Sum("quantity"))["total"] or Decimal(0)


def _check_quantity(quantity: Decimal) -> Decimal:
    quantity = Decimal(quantity)
    if quantity <= 0:
        raise ValidationFailed("The quantity must be positive.", detail={"quantity": str(quantity)})
    return quantity


@transaction.atomic
def stock_move(
    *,
    lot: Lot,
    quantity: Decimal,
    kind: str,
    from_location: Location | None = None,
    to_location: Location | None = None,
    reference: str = "",
    actor=None,
    at: datetime | None = None,
    reservation: Reservation | None = None,
) -> StockMovement:
    """Book one movement: draw from ``from_location`` and/or add to ``to_location``.

    Quantity reserved on the source stock row for other jobs cannot be drawn; pass the
    ``reservation`` being issued to draw its own quantity.
    """
    quantity = _check_quantity(quantity)
    if kind not in MovementKind.values:
        raise ValidationFailed(f"Unknown movement kind {kind!r}.")
    if from_location is None and to_location is None:
        raise ValidationFailed("A movement needs a source or a destination location.")
    if from_location is not None and from_location == to_location:
        raise ValidationFailed("Source and destination are the same location.")
    if lot.status in {LotStatus.SCRAPPED, LotStatus.SHIPPED}:
        raise ValidationFailed(f"Lot {lot.code} is {lot.status}; its stock cannot move.")
    if from_location is not None:
        source = _locked_stock(lot=lot, location=from_location)
        if source.quantity < quantity:
            raise ValidationFailed(
                f"Only {source.quantity} of lot {lot.code} at {from_location.code}; "
                f"cannot move {quantity}.",
                detail={"available": str(source.quantity), "requested": str(quantity)},
            )
        reserved = _reserved_quantity(stock_id=source.pk, excluding=reservation)
        if source.quantity - quantity < reserved:
            raise ValidationFailed(
                f"{reserved} of lot {lot.code} at {from_location.code} is reserved; only "
                f"{source.quantity - reserved} can move.",
                code="reserved",
                detail={
                    "on_hand": str(source.quantity),
                    "reserved": str(reserved),
                    "requested": str(quantity),
                },
            )
        source.quantity -= quantity
        source.save(update_fields=["quantity"])
    if to_location is not None:
        target = _locked_stock(lot=lot, location=to_location)
        target.quantity += quantity
        target.save(update_fields=["quantity"])
    return StockMovement.objects.create(
        at=at or timezone.now(),
        kind=kind,
        lot=lot,
        from_location=from_location,
        to_location=to_location,
        quantity=quantity,
        reference=reference,
        actor=actor if actor is not None and actor.is_authenticated else None,
    )


def stock_receive(*, lot: Lot, location: Location, quantity: Decimal, reference="", actor=None):
    return stock_move(
        lot=lot,
        quantity=quantity,
        kind=MovementKind.RECEIPT,
        to_location=location,
        reference=reference,
        actor=actor,
    )


def stock_issue(*, lot: Lot, location: Location, quantity: Decimal, reference="", actor=None):
    return stock_move(
        lot=lot,
        quantity=quantity,
        kind=MovementKind.ISSUE,
        from_location=location,
        reference=reference,
        actor=actor,
    )


def stock_transfer(
    *, lot: Lot, from_location: Location, to_location: Location, quantity: Decimal, actor=None
):
    return stock_move(
        lot=lot,
        quantity=quantity,
        kind=MovementKind.TRANSFER,
        from_location=from_location,
        to_location=to_location,
        actor=actor,
    )


# --- reservations ----------------------------------------------------------------------------


def _actor_or_none(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def reservation_create(
    *,
    stock_id: int,
    quantity: Decimal,
    maintenance_work_order=None,
    reference: str = "",
    reason: str = "",
    actor=None,
) -> Reservation:
    """Reserve ``quantity`` of one stock row; refused when less is available."""
    quantity = _check_quantity(quantity)
    try:
        stock = Stock.objects.select_for_update().select_related("lot", "location").get(pk=stock_id)
    except Stock.DoesNotExist:
        raise NotFound(f"No stock row {stock_id}.") from None
    if stock.lot.status != LotStatus.AVAILABLE:
        raise ValidationFailed(
            f"Lot {stock.lot.code} is {stock.lot.status}; it cannot be reserved."
        )
    available = stock.quantity - _reserved_quantity(stock_id=stock.pk)
    if available < quantity:
        raise ValidationFailed(
            f"Only {available} of lot {stock.lot.code} at {stock.location.code} is available; "
            f"cannot reserve {quantity}.",
            code="not_available",
            detail={"available": str(available), "requested": str(quantity)},
        )
    reservation = Reservation.objects.create(
        stock=stock,
        quantity=quantity,
        maintenance_work_order=maintenance_work_order,
        reference=reference,
        reason=reason[:300],
        created_at=timezone.now(),
        created_by=_actor_or_none(actor),
    )
    audit_event_record(
        actor=actor,
        obj=reservation,
        action="reserve",
        new_value=ReservationStatus.ACTIVE,
        reason=reason,
        data={"stock": stock.pk, "quantity": str(quantity), "reference": reference},
    )
    return reservation


@transaction.atomic
def item_reserve(
    *,
    item_id: int,
    site_id: int,
    quantity: Decimal,
    maintenance_work_order=None,
    reference: str = "",
    reason: str = "",
    actor=None,
) -> Reservation:
    """Reserve ``quantity`` of an item at a site from the oldest lot that has it available."""
    quantity = _check_quantity(quantity)
    for row in stock_availability(item_id=item_id, site_id=site_id):
        if row.available >= quantity:
            return reservation_create(
                stock_id=row.stock_id,
                quantity=quantity,
                maintenance_work_order=maintenance_work_order,
                reference=reference,
                reason=reason,
                actor=actor,
            )
    item = Item.objects.filter(pk=item_id).first()
    raise ValidationFailed(
        f"No stock of {item.code if item else item_id} with {quantity} available at site "
        f"{site_id}.",
        code="not_available",
        detail={"item": item_id, "site": site_id, "requested": str(quantity)},
    )


def _reservation_close(*, reservation_id: int, to_status: str, actor, action: str, reason: str):
    return state_transition(
        model=Reservation,
        pk=reservation_id,
        allowed_from={ReservationStatus.ACTIVE},
        to_state=to_status,
        field="status",
        actor=actor,
        action=action,
        reason=reason,
        updates={"closed_at": timezone.now()},
    )


@transaction.atomic
def reservation_release(*, reservation_id: int, actor=None, reason: str = "") -> Reservation:
    """Give the reserved quantity back to the available stock."""
    return _reservation_close(
        reservation_id=reservation_id,
        to_status=ReservationStatus.RELEASED,
        actor=actor,
        action="release",
        reason=reason,
    )


@transaction.atomic
def reservation_consume(*, reservation_id: int, actor=None, reason: str = "") -> Reservation:
    """Issue the reserved quantity from its stock row (a ledger row) and close the reservation."""
    reservation = _reservation_close(
        reservation_id=reservation_id,
        to_status=ReservationStatus.CONSUMED,
        actor=actor,
        action="consume",
        reason=reason,
    )
    stock = Stock.objects.select_related("lot", "location").get(pk=reservation.stock_id)
    stock_move(
        lot=stock.lot,
        quantity=reservation.quantity,
        kind=MovementKind.ISSUE,
        from_location=stock.location,
        reference=reservation.reference or f"reservation {reservation.pk}",
        actor=actor,
        reservation=reservation,
    )
    return reservation


def reservations_release_for(
    *, maintenance_work_order_id: int, actor=None, reason: str = ""
) -> int:
    """Release every active reservation of a maintenance work order; returns how many."""
    ids = list(
        Reservation.objects.filter(
            maintenance_work_order_id=maintenance_work_order_id, status=ReservationStatus.ACTIVE
        ).values_list("id", flat=True)
    )
    for reservation_id in ids:
        reservation_release(reservation_id=reservation_id, actor=actor, reason=reason)
    return len(ids)


def reservations_link(*, reference: str, maintenance_work_order) -> int:
    """Attach the reservations and procurement requests made for ``reference`` to its order."""
    linked = Reservation.objects.filter(
        reference=reference, maintenance_work_order__isnull=True
    ).update(maintenance_work_order=maintenance_work_order)
    linked += ProcurementRequest.objects.filter(
        reference=reference, maintenance_work_order__isnull=True
    ).update(maintenance_work_order=maintenance_work_order)
    return linked


# --- procurement outbox --------------------------------------------------------------------


def _procurement_number() -> str:
    return f"PR-{timezone.now():%Y%m%d%H%M%S%f}"


@transaction.atomic
def procurement_request_create(
    *,
    site,
    item,
    quantity: Decimal,
    needed_by: datetime | None = None,
    reason: str = "",
    reference: str = "",
    maintenance_work_order=None,
    number: str | None = None,
    actor=None,
) -> ProcurementRequest:
    """Put one request to buy ``quantity`` of ``item`` into the ERP outbox (pending)."""
    quantity = _check_quantity(quantity)
    try:
        with transaction.atomic():
            request = ProcurementRequest.objects.create(
                number=number or _procurement_number(),
                site=site,
                item=item,
                quantity=quantity,
                needed_by=needed_by,
                reason=reason,
                reference=reference,
                maintenance_work_order=maintenance_work_order,
                created_at=timezone.now(),
            )
    except IntegrityError as error:
        raise Conflict(f"Procurement request {number!r} exists already.") from error
    audit_event_record(
        actor=actor, obj=request, action="create", new_value=request.status, reason=reason
    )
    emit(EventType.PROCUREMENT_REQUEST_CREATED, procurement_event_data(request), site=site)
    return request


def procurement_event_data(request: ProcurementRequest) -> dict:
    """The webhook payload of a procurement request (docs/api.md "Webhooks")."""
    return {
        "id": request.pk,
        "number": request.number,
        "site": request.site.code,
        "item": request.item.code,
        "quantity": request.quantity,
        "unit": request.item.unit,
        "needed_by": request.needed_by,
        "status": request.status,
        "reason": request.reason,
        "reference": request.reference,
        "maintenance_work_order": (
            request.maintenance_work_order.number if request.maintenance_work_order_id else None
        ),
        "created_at": request.created_at,
    }


@transaction.atomic
def procurement_requests_fetch(*, actor=None, limit: int = 100) -> list[ProcurementRequest]:
    """The ERP's poll: hand out pending and stale requests, which become (again) ``sent``.

    Concurrent polls never hand out the same row twice (rows are locked, locked ones skipped).
    """
    now = timezone.now()
    limit = max(1, min(int(limit), 1000))
    rows = list(
        ProcurementRequest.objects.select_for_update(skip_locked=True)
        .filter(
            Q(status=ProcurementStatus.PENDING) | Q(status=ProcurementStatus.SENT, is_stale=True)
        )
        .order_by("created_at", "id")[:limit]
    )
    for row in rows:
        row.status = ProcurementStatus.SENT
        row.sent_at = now
        row.send_count += 1
        row.is_stale = False
        row.stale_since = None
        row.save(update_fields=["status", "sent_at", "send_count", "is_stale", "stale_since"])
    ids = [row.pk for row in rows]
    return list(ProcurementRequest.objects.filter(pk__in=ids).select_related("item", "site"))


@transaction.atomic
def procurement_request_acknowledge(
    *, request_id: int, erp_reference: str, actor=None
) -> ProcurementRequest:
    """The ERP took the request over under its own reference (idempotent for that reference)."""
    if not erp_reference:
        raise ValidationFailed("The ERP's reference is required.")
    current = ProcurementRequest.objects.filter(pk=request_id).first()
    if current is None:
        raise NotFound(f"No procurement request {request_id}.")
    if current.status == ProcurementStatus.ACKNOWLEDGED:
        if current.erp_reference == erp_reference:
            return current
        raise Conflict(
            f"{current.number} was acknowledged already as {current.erp_reference!r}.",
            detail={"erp_reference": current.erp_reference},
        )
    return state_transition(
        model=ProcurementRequest,
        pk=request_id,
        allowed_from={ProcurementStatus.PENDING, ProcurementStatus.SENT},
        to_state=ProcurementStatus.ACKNOWLEDGED,
        field="status",
        actor=actor,
        action="acknowledge",
        reason=erp_reference,
        updates={
            "acknowledged_at": timezone.now(),
            "erp_reference": erp_reference[:200],
            "is_stale": False,
            "stale_since": None,
        },
    )


@transaction.atomic
def procurement_request_cancel(
    *, request_id: int, actor=None, reason: str = ""
) -> ProcurementRequest:
    """Withdraw a request the ERP has not acknowledged yet (an acknowledged one is the ERP's)."""
    return state_transition(
        model=ProcurementRequest,
        pk=request_id,
        allowed_from={ProcurementStatus.PENDING, ProcurementStatus.SENT},
        to_state=ProcurementStatus.CANCELLED,
        field="status",
        actor=actor,
        action="cancel",
        reason=reason,
        updates={"cancelled_at": timezone.now()},
    )


def procurement_requests_mark_stale(*, stale_after_s: float, now: datetime | None = None) -> int:
    """Mark requests not acknowledged within ``stale_after_s`` of their creation or last
    hand-out as stale; returns how many were newly marked."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_after_s)
    return (
        ProcurementRequest.objects.filter(is_stale=False)
        .filter(
            Q(status=ProcurementStatus.PENDING, created_at__lt=cutoff)
            | Q(status=ProcurementStatus.SENT, sent_at__lt=cutoff)
        )
        .update(is_stale=True, stale_since=now)
    )


# --- cycle counts --------------------------------------------------------------------------


@transaction.atomic
def cycle_count_record(
    *, stock_id: int, counted_quantity: Decimal, actor=None, reason: str = ""
) -> Stock:
    """Book a physical count of one stock row: the difference to the book quantity becomes an
    ``adjustment`` movement (none when they agree) and the count is an audit event (book →
    counted, difference, reason) either way. A count below what is reserved is refused:
    release the reservations first."""
    counted = Decimal(counted_quantity)
    if counted < 0:
        raise ValidationFailed(
            "A counted quantity cannot be negative.", detail={"counted_quantity": str(counted)}
        )
    stock = Stock.objects.select_for_update().select_related("lot", "location").get(pk=stock_id)
    book = stock.quantity
    difference = counted - book
    reference = f"cycle count: {reason}"[:200] if reason else "cycle count"
    if difference > 0:
        stock_move(
            lot=stock.lot, quantity=difference, kind=MovementKind.ADJUSTMENT,
            to_location=stock.location, reference=reference, actor=actor,
        )  # fmt: skip
    elif difference < 0:
        reserved = _reserved_quantity(stock_id=stock.pk)
        if counted < reserved:
            raise Conflict(
                f"{reserved} of lot {stock.lot.code} at {stock.location.code} is reserved but "
                f"only {counted} was counted; release reservations first.",
                detail={"reserved": str(reserved), "counted_quantity": str(counted)},
            )
        stock_move(
            lot=stock.lot, quantity=-difference, kind=MovementKind.ADJUSTMENT,
            from_location=stock.location, reference=reference, actor=actor,
        )  # fmt: skip
    audit_event_record(
        actor=actor,
        obj=stock,
        action="cycle count",
        old_value=str(book),
        new_value=str(counted),
        reason=reason,
        data={"difference": str(difference), "lot": stock.lot.code},
    )
    stock.refresh_from_db()
    return stock
