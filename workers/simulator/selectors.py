"""Reads of the plant and of the dispatched customer orders for the simulator (Django).

They turn database rows into the simulator's plain specs; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Prefetch, QuerySet, Sum

from planning.choices import CustomerOrderState
from planning.models import CustomerOrder
from production.models import DowntimeReason, Equipment, Signal
from workers.simulator.model import EquipmentSpec, OrderSpec, PlantSpec, SignalSpec

ACTIVE_ORDER_STATES = (CustomerOrderState.DISPATCHED, CustomerOrderState.IN_PROGRESS)


def simulated_equipment_list(*, site_code: str | None = None) -> QuerySet[Equipment]:
    queryset = (
        Equipment.objects.filter(is_active=True)
        .select_related("cell__line__area__site__enterprise")
        .prefetch_related(Prefetch("signals", queryset=Signal.objects.order_by("name")))
        .order_by("uns_path")
    )
    if site_code is not None:
        queryset = queryset.filter(cell__line__area__site__code=site_code)
    return queryset


def plant_spec_load(*, site_code: str | None = None) -> PlantSpec:
    """The active equipment (of one site, or all) with its signals, and the reason codes."""
    equipment = tuple(
        EquipmentSpec(
            path=machine.uns_path,
            signals=tuple(
                SignalSpec(
                    name=signal.name,
                    unit=signal.unit,
                    data_type=signal.data_type,
                    min_value=signal.min_value,
                    max_value=signal.max_value,
                )
                for signal in machine.signals.all()
            ),
        )
        for machine in simulated_equipment_list(site_code=site_code)
    )
    if not equipment:
        where = f"site {site_code!r}" if site_code else "the database"
        raise ValueError(
            f"no active equipment in {where}: load the demo plant first "
            "(python manage.py load_demo_plant --force-demo)"
        )
    reason_codes = frozenset(DowntimeReason.objects.values_list("code", flat=True))
    return PlantSpec(equipment=equipment, reason_codes=reason_codes)


def dispatched_order_list(*, line_paths: Sequence[str]) -> list[OrderSpec]:
    """Customer orders dispatched to or in progress on the given lines, oldest first."""
    wanted = set(line_paths)
    orders = (
        CustomerOrder.objects.filter(state__in=ACTIVE_ORDER_STATES, line__isnull=False)
        .select_related("line__area__site__enterprise")
        .annotate(part_count=Sum("lines__quantity"))
        .order_by("dispatched_at", "received_at", "pk")
    )
    specs = []
    for order in orders:
        line = order.line
        area = line.area
        site = area.site
        line_path = "/".join([site.enterprise.code, site.code, area.code, line.code])
        if line_path not in wanted:
            continue
        specs.append(
            OrderSpec(
                number=order.number,
                line_path=line_path,
                quantity=max(int(order.part_count or 0), 1),
                line_step=order.line_step or "",
            )
        )
    return specs
