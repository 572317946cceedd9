"""What a (re)subscribing websocket client gets first: the current state of its target.

The payloads reuse the API's serializers (an operation looks the same on a socket as in the
REST API); the reads come from the live selectors.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from live.selectors.actions import proposed_actions_open
from live.selectors.current import (
    alerts_open,
    equipment_dict,
    equipment_states,
    oee_current,
    station_current_operation,
    stops_recent,
    work_orders_current,
)
from live.selectors.health import health_latest
from live.selectors.targets import LiveTarget
from production.api.serializers import OperationSerializer
from production.choices import OeeScope, OperationState
from production.models import Equipment, Line, Operation, Site
from production.selectors.plant import line_list, scope_get


def live_snapshot(*, target: LiveTarget, user) -> dict[str, Any]:
    """The current state of a subscription target (sent before any delta), read through the
    user's scope: the site's lines in scope, and site-level figures (OEE, proposed actions)
    only for a user who sees the whole site."""
    now = timezone.now()
    if target.kind == "equipment":
        machine = Equipment.objects.select_related("cell__line").get(pk=target.object_id)
        return {
            "equipment": equipment_dict(machine),
            "state": equipment_states([machine.pk], now=now).get(machine.pk),
            "operation": operation_dict(station_current_operation(machine.pk)),
            "oee": oee_current(OeeScope.EQUIPMENT, [machine.pk])[machine.pk],
            "alerts": alerts_open(user=user, equipment_id=machine.pk),
            "stops": stops_recent(user=user, equipment_id=machine.pk, limit=10),
            "health": health_latest([machine.pk]).get(machine.pk),
        }
    if target.kind == "line":
        line = Line.objects.select_related("area").get(pk=target.object_id)
        machines = list(
            Equipment.objects.filter(cell__line=line).select_related("cell").order_by("uns_path")
        )
        states = equipment_states([machine.pk for machine in machines], now=now)
        return {
            "line": {
                "id": line.pk,
                "code": line.code,
                "name": line.name,
                "site_id": target.site_id,
            },
            "equipment": [
                {**equipment_dict(machine), "state": states.get(machine.pk)} for machine in machines
            ],
            "work_orders": work_orders_current([line.pk])[line.pk],
            "oee": oee_current(OeeScope.LINE, [line.pk])[line.pk],
            "alerts": alerts_open(user=user, line_id=line.pk),
            "stops": stops_recent(user=user, line_id=line.pk, limit=10),
        }
    site = Site.objects.get(pk=target.object_id)
    covers_site = scope_get(user).covers_site(site.pk)
    return {
        "site": {
            "id": site.pk,
            "code": site.code,
            "name": site.name,
            "autonomy_mode": site.autonomy_mode,
        },
        "lines": list(
            line_list(user=user)
            .filter(area__site=site)
            .order_by("code")
            .values_list("id", flat=True)
        ),
        "actions": proposed_actions_open(site_id=site.pk) if covers_site else [],
        "oee": oee_current(OeeScope.SITE, [site.pk])[site.pk] if covers_site else None,
    }


def operation_dict(operation: Operation | None) -> dict[str, Any] | None:
    if operation is None:
        return None
    data = dict(OperationSerializer(operation).data)
    data["state_label"] = OperationState(operation.state).label
    data["work_order_number"] = operation.work_order.number
    data["work_order_state"] = operation.work_order.state
    data["work_order_quantity"] = operation.work_order.quantity
    data["product_code"] = operation.work_order.product.code
    return data
