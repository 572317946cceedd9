"""The plant a line-scoped user looks at, shared by the scope tests: a supervisor whose
PlantScope lists the line L1 only, and a foreign line L3 on the same site and area (plus the
conftest's line L2 on another site). Built with the real services where a service exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from planning.models import ScheduleRun
from production import models as m


@dataclass
class Foreign:
    """The line-scoped user, their line L1 and the foreign line L3 on the same site."""

    user: Any
    client: APIClient
    line: Any
    equipment: Any
    foreign_line: Any
    foreign_equipment: Any
    own_work_order: Any
    foreign_work_order: Any
    own_alert: Any
    foreign_alert: Any
    foreign_stop: Any
    run: ScheduleRun | None = None
    own_stop: Any = None


def _alert(*, equipment, now, message: str) -> m.Alert:
    rule = m.AlertRule.objects.create(
        name=f"rule {message}",
        metric="signal",
        signal_name="temperature",
        comparison="above",
        threshold=80.0,
        severity="warning",
    )
    return m.Alert.objects.create(
        rule=rule,
        equipment=equipment,
        severity="warning",
        message=message,
        value=91.0,
        raised_at=now - timedelta(minutes=5),
    )


def foreign_build(plant, make_user, make_work_order) -> Foreign:
    """The line-scoped supervisor, L1 and L3 with a work order, an alert and a stop each."""
    now = timezone.now()
    foreign_line = m.Line.objects.create(area=plant.line.area, code="L3", name="Line L3")
    cell = m.Cell.objects.create(line=foreign_line, code="cell1", name="Cell 1")
    foreign_equipment = m.Equipment.objects.create(cell=cell, code="L3_M1", name="L3 machine")
    foreign_equipment.capabilities.add(plant.capability)
    user = make_user("supervisor", sites=[], username="line_supervisor")
    user.plant_scope.lines.set([plant.line])
    client = APIClient()
    client.force_authenticate(user)
    own_work_order = make_work_order(line=plant.line)
    foreign_work_order = make_work_order(line=foreign_line)
    own_stop = m.EquipmentStateInterval.objects.create(
        equipment=plant.equipment,
        start_at=now - timedelta(minutes=30),
        end_at=now - timedelta(minutes=25),
        state="down",
    )
    foreign_stop = m.EquipmentStateInterval.objects.create(
        equipment=foreign_equipment,
        start_at=now - timedelta(minutes=20),
        end_at=now - timedelta(minutes=15),
        state="down",
    )
    return Foreign(
        user=user,
        client=client,
        line=plant.line,
        equipment=plant.equipment,
        foreign_line=foreign_line,
        foreign_equipment=foreign_equipment,
        own_work_order=own_work_order,
        foreign_work_order=foreign_work_order,
        own_alert=_alert(equipment=plant.equipment, now=now, message="L1 hot"),
        foreign_alert=_alert(equipment=foreign_equipment, now=now, message="L3 hot"),
        foreign_stop=foreign_stop,
        own_stop=own_stop,
    )
