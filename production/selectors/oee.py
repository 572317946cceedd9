"""OEE for the API and live screens: current (live), over any window, of a work order; the
stored snapshots in the user's scope."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from production.algorithms.oee import OeeElements, rollup
from production.choices import OeePeriod, OeeScope
from production.models import Area, Line, OeeSnapshot, Operation, Site, WorkOrder
from production.selectors.calendars import EquipmentRef, calendar_book_for, equipment_refs
from production.selectors.oee_elements import equipment_period_compute
from production.selectors.oee_live import LiveEquipmentOee, live_oee
from production.selectors.oee_reports import oee_report, sum_results
from production.selectors.plant import area_list, equipment_list, scope_get, site_list


def scope_refs(scope: str, scope_id: int) -> list[EquipmentRef]:
    if scope == OeeScope.EQUIPMENT:
        return equipment_refs(equipment_ids=[scope_id])
    if scope == OeeScope.LINE:
        return equipment_refs(line_ids=[scope_id])
    if scope == OeeScope.AREA:
        return equipment_refs(area_ids=[scope_id])
    return equipment_refs(site_ids=[scope_id])


def _scope_key(scope: str, ref: EquipmentRef) -> int:
    return {
        OeeScope.EQUIPMENT: ref.id,
        OeeScope.LINE: ref.line_id,
        OeeScope.AREA: ref.area_id,
        OeeScope.SITE: ref.site_id,
    }[scope]


def oee_current(
    *, scope: str, scope_ids: Sequence[int], now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Live OEE of the open shift for each scope object (summed elements of its equipment).

    For a line the shift is the line's; an area or site sums each equipment's current shift.
    Between shifts the latest ended shift is reported (``is_open`` false). Scope objects
    without active equipment get a report of zeros and ``shift`` null.
    """
    now = now or timezone.now()
    field_name = {
        OeeScope.EQUIPMENT: "id",
        OeeScope.LINE: "line_ids",
        OeeScope.AREA: "area_ids",
        OeeScope.SITE: "site_ids",
    }[scope]
    ids = list(scope_ids)
    refs = (
        equipment_refs(equipment_ids=ids)
        if field_name == "id"
        else equipment_refs(**{field_name: ids})
    )
    live = live_oee.get(refs, now=now)
    grouped: dict[int, list[LiveEquipmentOee]] = defaultdict(list)
    for ref in refs:
        if ref.id in live:
            grouped[_scope_key(scope, ref)].append(live[ref.id])
    reports: dict[int, dict[str, Any]] = {}
    for scope_id in ids:
        members = grouped.get(scope_id, [])
        report = sum_results(member.result for member in members)
        starts = [member.shift_start_at for member in members]
        ends = [member.shift_end_at for member in members]
        names = sorted({member.shift_name for member in members})
        report.update(
            {
                "scope": scope,
                "scope_id": scope_id,
                "period": OeePeriod.SHIFT.value,
                "shift": ", ".join(names) if names else None,
                "period_start_at": min(starts) if starts else None,
                "period_end_at": max(ends) if ends else None,
                "is_open": any(member.is_open for member in members),
                "computed_at": now,
                "equipment": [
                    {
                        "equipment_id": member.ref.id,
                        "code": member.ref.code,
                        "state": member.state,
                        "state_since": member.state_since,
                        "reason_id": member.reason_id,
                        **{
                            name: value
                            for name, value in oee_report(
                                member.result.elements,
                                minor_stop_count=member.result.minor_stop_count,
                                needs_reason_count=member.result.needs_reason_count,
                                counts_without_run_time=member.result.counts_without_run_time,
                            )["kpis"].items()
                            if name in ("availability", "effectiveness", "quality_ratio", "oee")
                        },
                    }
                    for member in members
                ],
            }
        )
        reports[scope_id] = report
    return reports


def oee_window(
    *,
    scope: str,
    scope_id: int,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> tuple[dict[str, Any], OeeElements]:
    """OEE of one scope object over any window, computed from the database."""
    now = now or timezone.now()
    refs = scope_refs(scope, scope_id)
    book = calendar_book_for(refs, range_start=start, range_end=end)
    results = equipment_period_compute(refs, book, window_start=start, window_end=end, now=now)
    report = sum_results(results.values())
    elements = rollup(result.elements for result in results.values())
    report.update(
        {
            "scope": scope,
            "scope_id": scope_id,
            "period_start_at": start,
            "period_end_at": end,
            "computed_at": now,
        }
    )
    return report, elements


def work_order_sub_windows(
    work_order: WorkOrder, *, now: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per equipment, the runs of the order's operations there (started ones)."""
    windows: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    operations = Operation.objects.filter(
        work_order=work_order,
        assigned_equipment__isnull=False,
        actual_start_at__isnull=False,
    ).values_list("assigned_equipment_id", "actual_start_at", "actual_end_at")
    for equipment_id, start_at, end_at in operations:
        windows[equipment_id].append((start_at, end_at or now))
    return windows


def oee_work_order(*, work_order: WorkOrder, now: datetime | None = None) -> dict[str, Any]:
    """OEE of a work order: each equipment over its operations' runs, the order's counts."""
    now = now or timezone.now()
    windows = work_order_sub_windows(work_order, now=now)
    refs = equipment_refs(equipment_ids=list(windows), include_inactive=True)
    start = min((s for runs in windows.values() for s, _ in runs), default=now)
    end = max((e for runs in windows.values() for _, e in runs), default=now)
    book = calendar_book_for(refs, range_start=start, range_end=end)
    results = equipment_period_compute(
        refs,
        book,
        window_start=start,
        window_end=max(end, start),
        now=now,
        sub_windows=windows,
        work_order_id=work_order.pk,
    )
    report = sum_results(results.values())
    report.update(
        {
            "work_order_id": work_order.pk,
            "work_order_number": work_order.number,
            "period_start_at": start,
            "period_end_at": end,
            "is_open": work_order.state not in ("completed", "cancelled"),
            "computed_at": now,
        }
    )
    return report


# --- scoped reads for the API ----------


def oee_site_list(*, user) -> QuerySet[Site]:
    """Sites whose OEE the user may see: only sites wholly in the scope. A site's OEE sums
    all its lines, so a user scoped to some of them is refused it (404); they see their
    lines' and machines' OEE instead."""
    scope = scope_get(user)
    sites = site_list(user=user)
    return sites if scope.is_unrestricted else sites.filter(pk__in=scope.site_ids)


def oee_area_list(*, user) -> QuerySet[Area]:
    """Areas whose OEE the user may see: the areas of the sites wholly in the scope (as for
    sites, an area's OEE would include lines outside a line-scoped user's scope)."""
    scope = scope_get(user)
    areas = area_list(user=user)
    return areas if scope.is_unrestricted else areas.filter(site_id__in=scope.site_ids)


def oee_snapshot_list(*, user) -> QuerySet[OeeSnapshot]:
    """Snapshots of the scope objects the user may see (sites/areas only with the site)."""
    queryset = OeeSnapshot.objects.select_related("work_order")
    scope = scope_get(user)
    if scope.is_unrestricted:
        return queryset
    visible_equipment = equipment_list(user=user).values("id")
    visible_lines = list(scope.line_ids)
    condition = (
        Q(scope=OeeScope.EQUIPMENT, scope_id__in=visible_equipment)
        | Q(scope=OeeScope.LINE, scope_id__in=visible_lines)
        | Q(scope=OeeScope.LINE, scope_id__in=_lines_of_sites(scope.site_ids))
        | Q(scope=OeeScope.AREA, scope_id__in=_areas_of_sites(scope.site_ids))
        | Q(scope=OeeScope.SITE, scope_id__in=list(scope.site_ids))
    )
    return queryset.filter(condition)


def _lines_of_sites(site_ids: Iterable[int]):
    return Line.objects.filter(area__site_id__in=list(site_ids)).values("id")


def _areas_of_sites(site_ids: Iterable[int]):
    return Area.objects.filter(site_id__in=list(site_ids)).values("id")
