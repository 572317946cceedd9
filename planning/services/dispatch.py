"""Writes of customer orders and their dispatch to the lines of their area.

Customer orders (part counts per product code) go to a line of their area by the online
rule (:func:`customer_order_create`, :func:`customer_order_dispatch`) or many at once by the
integer program (:func:`customer_orders_dispatch_batch`); without room they wait in the
backlog, retried whenever an order completes or is cancelled and periodically
(:func:`customer_orders_backlog_retry`). Dispatch serialises per area by locking the area's
line rows (:func:`dispatch_setup_lock`). A supervisor's override is a ``dispatch_override``
action (high risk, :func:`customer_order_dispatch_override_request`; its handler is in
:mod:`planning.services.actions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from autonomy.choices import ActionKind
from autonomy.models import ProposedAction
from autonomy.services.guardrails import action_propose
from mes_site.errors import Conflict, NotFound, ValidationFailed
from planning.algorithms.dispatch.batch import BatchAssignment, BatchResult, dispatch_batch
from planning.algorithms.dispatch.model import (
    Decision,
    DispatchInputError,
    NoCapableLineError,
    NonPositiveQuantityError,
    Order,
    OrderTooLargeError,
    UnknownPartTypeError,
)
from planning.algorithms.dispatch.online import dispatch_order, order_costs
from planning.algorithms.line_order import LineOrderStage
from planning.choices import CustomerOrderState
from planning.models import CustomerOrder, CustomerOrderLine
from planning.selectors.dispatch import (
    LOADING_STATES,
    DispatchSetup,
    dispatch_setup_get,
    line_loads_units,
)
from planning.services.order_transitions import customer_order_broadcast, customer_order_move
from planning.services.values import jsonable, setting
from production.models import Area, Line, Product
from traceability.services import audit_event_record

__all__ = [
    "BatchDispatchOutcome",
    "customer_order_cancel",
    "customer_order_create",
    "customer_order_dispatch",
    "customer_order_dispatch_override_request",
    "customer_orders_backlog_retry",
    "customer_orders_dispatch_batch",
    "dispatch_setup_lock",
]

ORDER = CustomerOrderState


def _dispatch_error(error: DispatchInputError) -> ValidationFailed:
    codes = {
        UnknownPartTypeError: "unknown_part_type",
        NoCapableLineError: "no_capable_line",
        OrderTooLargeError: "order_too_large",
        NonPositiveQuantityError: "invalid_quantity",
    }
    return ValidationFailed(str(error), code=codes.get(type(error), "invalid_order"))


def _pure_order(order: CustomerOrder) -> Order:
    return Order(
        id=order.number,
        quantities={line.product.code: line.quantity for line in order.lines.all()},
    )


def dispatch_setup_lock(
    area_id: int, *, setup: DispatchSetup | None = None
) -> tuple[DispatchSetup, dict[str, int]]:
    """Lock the area's lines (dispatch of one area is serialised) and read their loads.

    A ``setup`` read earlier in the same transaction is reused when the lines are the same.
    """
    lines = list(Line.objects.select_for_update().filter(area_id=area_id).order_by("pk"))
    if setup is None or {line.pk for line in setup.lines.values()} - {line.pk for line in lines}:
        setup = dispatch_setup_get(area_id=area_id, lines=lines)
    loads = line_loads_units(line_ids=[line.pk for line in setup.lines.values()])
    return setup, {code: loads[line.pk] for code, line in setup.lines.items()}


def _decision_record(decision: Decision, setup: DispatchSetup, *, method: str) -> dict[str, Any]:
    return {
        "method": method,
        "rule": decision.rule.value,
        "line": decision.line_id,
        "cost_ratio": jsonable(decision.cost_ratio),
        "threshold": decision.threshold,
        "weights": jsonable(setup.weights),
        "policy_is_default": setup.policy_is_default,
        "line_costs": jsonable(decision.line_costs),
        "message": decision.message,
        "decided_at": timezone.now().isoformat(),
    }


def _dispatch_one(
    order: CustomerOrder,
    setup: DispatchSetup,
    loads: dict[str, int],
    *,
    actor,
    keep_backlog_quiet: bool = False,
) -> CustomerOrder:
    """Apply the online rule to one pending/backlog order (lines already locked)."""
    pure_order = _pure_order(order)
    try:
        decision = dispatch_order(
            pure_order, setup.pure_lines, loads, weights=setup.weights, config=setup.config
        )
    except DispatchInputError as error:
        raise _dispatch_error(error) from error
    record = _decision_record(decision, setup, method="online")
    if decision.line_id is None:
        if order.state == ORDER.BACKLOG:
            if not keep_backlog_quiet:
                CustomerOrder.objects.filter(pk=order.pk).update(dispatch_explanation=record)
                order.dispatch_explanation = record
            return order
        return customer_order_move(
            order,
            to_state=ORDER.BACKLOG,
            allowed_from={ORDER.PENDING},
            actor=actor,
            action="backlog",
            reason=decision.message,
            updates={"dispatch_explanation": record},
        )
    line = setup.lines[decision.line_id]
    loads[decision.line_id] = loads.get(decision.line_id, 0) + pure_order.quantity_units
    return customer_order_move(
        order,
        to_state=ORDER.DISPATCHED,
        allowed_from={ORDER.PENDING, ORDER.BACKLOG},
        actor=actor,
        action="dispatch",
        reason=decision.message,
        updates={
            "line": line,
            "dispatched_at": timezone.now(),
            "dispatch_explanation": record,
            "line_stage": LineOrderStage.NEW.value,
            "line_step": "",
            "line_updated_at": None,
            "line_last_event": "",
        },
    )


@transaction.atomic
def customer_order_create(
    *,
    number: str,
    area_id: int,
    parts: dict[str, int],
    priority: int = 5,
    dispatch: bool = True,
    actor=None,
) -> CustomerOrder:
    """Record a customer order (part counts per product code) and, by default, dispatch it.

    Refused with a clear message (400): no parts, a count that is not a positive whole number,
    an unknown part type, a part type no line of the area makes, parts no single line makes
    together, or more units than the largest capable line holds. A number in use is a 409.
    """
    number = (number or "").strip()
    if not number:
        raise ValidationFailed("The order needs a number.", detail={"number": number})
    if not isinstance(parts, dict) or not parts:
        raise ValidationFailed(
            "The order needs at least one part type with a count.", code="invalid_quantity"
        )
    for code, quantity in parts.items():
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationFailed(
                f"The count of {code} must be a whole number ≥ 1, got {quantity!r}.",
                code="invalid_quantity",
                detail={"part": code, "quantity": quantity},
            )
    if not 1 <= int(priority) <= 9:
        raise ValidationFailed("Priorities run from 1 (most urgent) to 9.")
    area = Area.objects.select_related("site").filter(pk=area_id).first()
    if area is None:
        raise NotFound(f"Area {area_id} does not exist.")
    products = {product.code: product for product in Product.objects.filter(code__in=list(parts))}
    unknown = sorted(set(parts) - set(products))
    setup = dispatch_setup_get(area_id=area.pk)
    known = sorted({code for line in setup.pure_lines for code in line.part_rates})
    if unknown:
        raise ValidationFailed(
            f"Unknown part type(s) {', '.join(unknown)}; the lines of {area} make "
            f"{', '.join(known) or 'nothing yet'}.",
            code="unknown_part_type",
            detail={"unknown": unknown, "known": known},
        )
    if not setup.pure_lines:
        raise ValidationFailed(
            f"No line of area {area} has part parameters; add them (time and power per part) "
            "in the admin before sending orders.",
            code="no_capable_line",
        )
    try:  # validate against the lines (capacity, part types) before anything is written
        dispatch_order(
            Order(id=number, quantities=parts),
            setup.pure_lines,
            {},
            weights=setup.weights,
            config=setup.config,
        )
    except DispatchInputError as error:
        raise _dispatch_error(error) from error
    try:
        with transaction.atomic():
            order = CustomerOrder.objects.create(
                number=number, site=area.site, area=area, priority=int(priority)
            )
    except IntegrityError as error:
        raise Conflict(f"Customer order {number!r} exists already.") from error
    CustomerOrderLine.objects.bulk_create(
        CustomerOrderLine(order=order, product=products[code], quantity=quantity)
        for code, quantity in parts.items()
    )
    audit_event_record(
        actor=actor if actor is not None and actor.is_authenticated else None,
        obj=order,
        action="create",
        new_value=ORDER.PENDING,
        data={"parts": parts},
    )
    if dispatch:
        locked_setup, loads = dispatch_setup_lock(area.pk, setup=setup)
        order = _dispatch_one(order, locked_setup, loads, actor=actor)
    else:
        customer_order_broadcast(order)
    return order


@transaction.atomic
def customer_order_dispatch(*, order_id: int, actor=None) -> CustomerOrder:
    """Dispatch one pending or backlogged order now with the online rule."""
    order = CustomerOrder.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound(f"Customer order {order_id} does not exist.")
    setup, loads = dispatch_setup_lock(order.area_id)
    order = CustomerOrder.objects.select_for_update().get(pk=order_id)
    if order.state not in (ORDER.PENDING, ORDER.BACKLOG):
        raise Conflict(
            f"Order {order.number} is {order.state}; only pending or backlogged orders are "
            "dispatched.",
            code="invalid_transition",
            detail={"current_state": order.state},
        )
    return _dispatch_one(order, setup, loads, actor=actor)


@dataclass(frozen=True)
class BatchDispatchOutcome:
    method: str
    is_optimal: bool
    mip_gap: float | None
    total_cost: float
    dispatched: list[str] = field(default_factory=list)
    backlogged: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    solver_message: str = ""


@transaction.atomic
def customer_orders_dispatch_batch(*, area_id: int, actor=None) -> BatchDispatchOutcome:
    """Assign every pending and backlogged order of the area at once (integer program).

    Minimises the total cost under the lines' remaining capacity (LP relaxation, then MILP on
    the orders it splits; the greedy online rule if HiGHS finds nothing in time). Orders that
    fit nowhere go to (or stay in) the backlog. An order the current lines cannot take at all
    (e.g. its part type was removed) is left as it is and reported.
    """
    if not Area.objects.filter(pk=area_id).exists():
        raise NotFound(f"Area {area_id} does not exist.")
    setup, loads = dispatch_setup_lock(area_id)
    orders = list(
        CustomerOrder.objects.select_for_update()
        .filter(area_id=area_id, state__in=[ORDER.PENDING, ORDER.BACKLOG])
        .prefetch_related("lines__product")
        .order_by("received_at", "pk")
    )
    valid, refused = _batch_orders_check(orders, setup)
    if not valid:
        return BatchDispatchOutcome("none", True, 0.0, 0.0, refused=refused)
    result = dispatch_batch(
        [_pure_order(order) for order in valid],
        setup.pure_lines,
        loads,
        weights=setup.weights,
        config=setup.config,
        time_limit_s=float(setting("SCHEDULING_DISPATCH_BATCH_TIME_LIMIT_S", 1.0)),
    )
    dispatched: list[str] = []
    backlogged: list[str] = []
    now = timezone.now()
    for order, assignment in zip(valid, result.assignments, strict=True):
        record = _batch_record(order, assignment, result, setup, loads, len(valid), now)
        if assignment.line_id is None:
            backlogged.append(order.number)
            _batch_backlog(order, record, actor=actor)
            continue
        dispatched.append(order.number)
        customer_order_move(
            order,
            to_state=ORDER.DISPATCHED,
            allowed_from={ORDER.PENDING, ORDER.BACKLOG},
            actor=actor,
            action="dispatch",
            reason=record["message"],
            updates={
                "line": setup.lines[assignment.line_id],
                "dispatched_at": now,
                "dispatch_explanation": record,
                "line_stage": LineOrderStage.NEW.value,
                "line_step": "",
                "line_updated_at": None,
                "line_last_event": "",
            },
        )
    return BatchDispatchOutcome(
        method=result.method,
        is_optimal=result.is_optimal,
        mip_gap=jsonable(result.mip_gap),
        total_cost=result.total_cost,
        dispatched=dispatched,
        backlogged=backlogged,
        refused=refused,
        solver_message=result.solver_message,
    )


def _batch_orders_check(
    orders: list[CustomerOrder], setup: DispatchSetup
) -> tuple[list[CustomerOrder], list[dict[str, str]]]:
    """The orders the current lines can take at all, and the refused ones with the reason."""
    refused: list[dict[str, str]] = []
    valid: list[CustomerOrder] = []
    for order in orders:
        try:
            dispatch_order(
                _pure_order(order),
                setup.pure_lines,
                {},
                weights=setup.weights,
                config=setup.config,
            )
        except DispatchInputError as error:
            refused.append({"order": order.number, "message": str(error)})
            continue
        valid.append(order)
    return valid, refused


def _batch_record(
    order: CustomerOrder,
    assignment: BatchAssignment,
    result: BatchResult,
    setup: DispatchSetup,
    loads: dict[str, int],
    order_count: int,
    now: datetime,
) -> dict[str, Any]:
    """The dispatch explanation of one order assigned by the batch program."""
    costs = order_costs(_pure_order(order), setup.pure_lines, loads, setup.weights)
    gap = "" if result.mip_gap is None else f", gap ≤ {result.mip_gap:.3%}"
    return {
        "method": f"batch:{result.method}",
        "rule": "batch_min_total_cost" if assignment.line_id else "backlog",
        "line": assignment.line_id,
        "cost": jsonable(assignment.cost),
        "weights": jsonable(setup.weights),
        "policy_is_default": setup.policy_is_default,
        "line_costs": jsonable(costs),
        "batch": {
            "orders": order_count,
            "total_cost": jsonable(result.total_cost),
            "is_optimal": result.is_optimal,
            "mip_gap": jsonable(result.mip_gap),
        },
        "message": (
            f"order {order.number} → {assignment.line_id} by the batch program "
            f"({result.method}{gap}): cost {assignment.cost:.1f}, total over "
            f"{order_count} orders minimised under line capacity"
            if assignment.line_id
            else f"order {order.number} backlogged by the batch program ({result.method}): "
            "no room left on any line"
        ),
        "decided_at": now.isoformat(),
    }


def _batch_backlog(order: CustomerOrder, record: dict[str, Any], *, actor) -> None:
    """Put (or keep) an order the batch program found no room for in the backlog."""
    if order.state == ORDER.BACKLOG:
        CustomerOrder.objects.filter(pk=order.pk).update(dispatch_explanation=record)
        return
    customer_order_move(
        order,
        to_state=ORDER.BACKLOG,
        allowed_from={ORDER.PENDING},
        actor=actor,
        action="backlog",
        reason=record["message"],
        updates={"dispatch_explanation": record},
    )


def _backlog_retry_locked(area_id: int, *, actor=None) -> list[CustomerOrder]:
    setup, loads = dispatch_setup_lock(area_id)
    dispatched = []
    for order in (
        CustomerOrder.objects.select_for_update()
        .filter(area_id=area_id, state=ORDER.BACKLOG)
        .prefetch_related("lines__product")
        .order_by("received_at", "pk")
    ):
        try:
            moved = _dispatch_one(order, setup, loads, actor=actor, keep_backlog_quiet=True)
        except ValidationFailed:
            continue  # master data changed under it: a person has to look at it
        if moved.state == ORDER.DISPATCHED:
            dispatched.append(moved)
    return dispatched


@transaction.atomic
def customer_orders_backlog_retry(*, area_id: int, actor=None) -> list[CustomerOrder]:
    """Dispatch backlogged orders of the area, oldest first, wherever room has freed."""
    return _backlog_retry_locked(area_id, actor=actor)


@transaction.atomic
def customer_order_cancel(*, order_id: int, actor, reason: str = "") -> CustomerOrder:
    """Cancel an order that is not finished; its line capacity frees for the backlog."""
    order = CustomerOrder.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound(f"Customer order {order_id} does not exist.")
    moved = customer_order_move(
        order,
        to_state=ORDER.CANCELLED,
        allowed_from={ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED, ORDER.IN_PROGRESS},
        actor=actor,
        action="cancel",
        reason=reason,
        updates={"line_stage": LineOrderStage.CANCELLED.value},
    )
    if order.state in LOADING_STATES:
        _backlog_retry_locked(order.area_id, actor=actor)
    return moved


@transaction.atomic
def customer_order_dispatch_override_request(
    *, order_id: int, line_id: int, actor, reason: str = ""
) -> ProposedAction:
    """A supervisor asks to put an order on another line: a high-risk proposed action.

    It waits for a supervisor's signed approval (whatever the autonomy mode); the handler
    checks the line's room when it is applied.
    """
    order = (
        CustomerOrder.objects.select_related("line", "area")
        .prefetch_related("lines__product")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        raise NotFound(f"Customer order {order_id} does not exist.")
    line = Line.objects.filter(pk=line_id).first()
    if line is None or line.area_id != order.area_id:
        raise ValidationFailed(
            f"Line {line_id} is not a line of area {order.area}.", detail={"line": line_id}
        )
    if order.state not in (ORDER.PENDING, ORDER.BACKLOG, ORDER.DISPATCHED):
        raise Conflict(
            f"Order {order.number} is {order.state}; only orders not yet started are moved.",
            code="invalid_transition",
            detail={"current_state": order.state},
        )
    if order.line_id == line.pk:
        raise ValidationFailed(f"Order {order.number} is on {line.code} already.")
    setup = dispatch_setup_get(area_id=order.area_id)
    rates = next((item for item in setup.pure_lines if item.id == line.code), None)
    quantities = _pure_order(order).quantities
    missing = sorted(code for code in quantities if rates is None or code not in rates.part_rates)
    if missing:
        raise ValidationFailed(
            f"Line {line.code} does not make {', '.join(missing)}.",
            code="no_capable_line",
            detail={"missing": missing},
        )
    who = actor.get_username() if actor is not None and actor.is_authenticated else "someone"
    text = (
        f"{who} asks to put order {order.number} ({sum(quantities.values())} units) on "
        f"{line.code} instead of "
        f"{order.line.code if order.line else 'the dispatcher’s choice (' + order.state + ')'}"
        + (f": {reason}" if reason else ".")
    )
    return action_propose(
        site=order.site,
        kind=ActionKind.DISPATCH_OVERRIDE,
        target=f"order {order.number} → {line.code}",
        payload={"order_id": order.pk, "line_id": line.pk, "reason": reason},
        inverse={"line_id": order.line_id, "state": order.state},
        explanation=text,
        explanation_data={"dispatch": order.dispatch_explanation, "requested_by": who},
        actor=actor,
    )
