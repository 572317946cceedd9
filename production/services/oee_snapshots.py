"""OEE snapshots: the stored OEE of closed (and the open) hours, days, shifts and work orders.

:func:`oee_snapshots_maintain` (beat, every minute) recomputes the closed periods that late
data changed (``OeeRecomputeRequest``), closes the periods that ended and stores the open
ones; :func:`oee_snapshots_rebuild` recomputes a range for backfills and repairs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mes_site.metrics import OEE_COMPUTATION, timed
from mes_site.redis import redis_client
from production.algorithms.oee import OeeElements, compute_kpis, rollup
from production.choices import OeePeriod, OeeScope, WorkOrderState
from production.models import OeeSnapshot, Site, WorkOrder
from production.models.monitoring import OeeRecomputeRequest
from production.selectors.calendars import (
    CalendarBook,
    CalendarInvalid,
    EquipmentRef,
    calendar_book_for,
    calendar_book_load,
    equipment_refs,
    local_day_bounds,
    local_hour_starts,
)
from production.selectors.oee import work_order_sub_windows
from production.selectors.oee_elements import EquipmentPeriodResult, equipment_period_compute
from production.selectors.oee_settings import close_delay_s

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Period:
    """One OEE period to store: a window of a site (hour, day, site shift), a line's own
    shift, or a work order."""

    kind: str
    site_id: int
    start: datetime
    end: datetime
    label: str
    line_id: int | None = None  # a shift of a line's own calendar
    work_order_id: int | None = None


@dataclass(frozen=True)
class SnapshotMaintainResult:
    requests_processed: int
    periods_written: int
    snapshots_written: int


def _snapshot_values(
    elements: OeeElements, *, is_closed: bool, label: str, now: datetime
) -> dict[str, Any]:
    kpis = compute_kpis(elements)
    return {
        "is_closed": is_closed,
        "label": label[:100],
        "planned_operation_time_s": elements.planned_operation_time_s,
        "planned_down_time_s": elements.planned_down_time_s,
        "planned_busy_time_s": elements.planned_busy_time_s,
        "actual_production_time_s": elements.actual_production_time_s,
        "actual_setup_time_s": elements.actual_setup_time_s,
        "actual_delay_time_s": elements.actual_delay_time_s,
        "actual_down_time_s": elements.actual_down_time_s,
        "no_data_time_s": elements.no_data_time_s,
        "minor_stop_time_s": elements.minor_stop_time_s,
        "needs_reason_time_s": elements.needs_reason_time_s,
        "planned_time_of_produced_s": elements.planned_time_of_produced_s,
        "planned_time_of_scrap_s": elements.planned_time_of_scrap_s,
        "planned_time_of_rework_s": elements.planned_time_of_rework_s,
        "produced_quantity": round(elements.produced_quantity),
        "good_quantity": round(elements.good_quantity),
        "scrap_quantity": round(elements.scrap_quantity),
        "rework_quantity": round(elements.rework_quantity),
        "availability": kpis.availability,
        "effectiveness": kpis.effectiveness,
        "quality_ratio": kpis.quality_ratio,
        "oee": kpis.oee,
        "nee": kpis.nee,
        "computed_at": now,
    }


SNAPSHOT_VALUE_FIELDS = tuple(
    _snapshot_values(OeeElements(), is_closed=True, label="", now=datetime.now(tz=UTC))
)


@dataclass(frozen=True)
class _SiteContext:
    """The active equipment of a site and its calendars over a range, loaded once per run."""

    site: Site
    refs: list[EquipmentRef]
    book: CalendarBook
    range_start: datetime
    range_end: datetime


def _site_context(site: Site, range_start: datetime, range_end: datetime) -> _SiteContext:
    refs = equipment_refs(site_ids=[site.pk])
    line_sites = {ref.line_id: site.pk for ref in refs}
    book = calendar_book_load(
        line_ids=line_sites,
        site_ids=[site.pk],
        site_time_zones={site.pk: site.time_zone},
        line_sites=line_sites,
        range_start=range_start,
        range_end=range_end,
    )
    return _SiteContext(site, refs, book, range_start, range_end)


def _period_rows(
    period: _Period, now: datetime, *, is_closed: bool, context: _SiteContext | None = None
) -> list[tuple[tuple[str, int], dict[str, Any]]]:
    """Compute one period; returns ((scope, scope id), values) for each row to store."""
    work_order = None
    sub_windows = None
    book = None
    if period.work_order_id is not None:
        work_order = WorkOrder.objects.get(pk=period.work_order_id)
        sub_windows = work_order_sub_windows(work_order, now=now)
        refs = equipment_refs(equipment_ids=list(sub_windows), include_inactive=True)
    elif (
        context is not None
        and context.range_start <= period.start
        and period.end <= context.range_end
    ):
        refs = [
            ref for ref in context.refs if period.line_id is None or ref.line_id == period.line_id
        ]
        book = context.book
    elif period.line_id is not None:
        refs = equipment_refs(line_ids=[period.line_id])
    else:
        refs = equipment_refs(site_ids=[period.site_id])
    if book is None and refs:
        book = calendar_book_for(refs, range_start=period.start, range_end=period.end)
    results: dict[int, EquipmentPeriodResult] = (
        equipment_period_compute(
            refs,
            book,
            window_start=period.start,
            window_end=period.end,
            now=now,
            sub_windows=sub_windows,
            work_order_id=period.work_order_id,
        )
        if refs and book is not None
        else {}
    )

    def values(parts: Iterable[EquipmentPeriodResult]) -> dict[str, Any]:
        return _snapshot_values(
            rollup(part.elements for part in parts),
            is_closed=is_closed,
            label=period.label,
            now=now,
        )

    def has_content(parts: list[EquipmentPeriodResult]) -> bool:
        total = rollup(part.elements for part in parts)
        return total.planned_operation_time_s > 0 or total.produced_quantity > 0

    rows: list[tuple[tuple[str, int], dict[str, Any]]] = []
    if work_order is not None:
        for ref in refs:
            rows.append(((OeeScope.EQUIPMENT, ref.id), values([results[ref.id]])))
        marker = (
            (OeeScope.LINE, work_order.line_id)
            if work_order.line_id
            else (OeeScope.SITE, work_order.site_id)
        )
        rows.append((marker, values(results.values())))
        return rows
    # Lines whose equipment belong to this period: for a site shift only the lines that
    # follow the site calendar (lines with their own calendar get their own shift rows).
    member_refs = refs
    if period.kind == OeePeriod.SHIFT and period.line_id is None and book is not None:
        member_refs = [ref for ref in refs if not book.for_line(ref.line_id).is_line_calendar]
    by_line: dict[int, list[EquipmentPeriodResult]] = defaultdict(list)
    for ref in member_refs:
        part = results[ref.id]
        by_line[ref.line_id].append(part)
        if has_content([part]):
            rows.append(((OeeScope.EQUIPMENT, ref.id), values([part])))
    for line_id, parts in by_line.items():
        if has_content(parts) or line_id == period.line_id:
            rows.append(((OeeScope.LINE, line_id), values(parts)))
    if period.line_id is not None:
        if not by_line:
            rows.append(((OeeScope.LINE, period.line_id), values([])))
        return rows
    by_area: dict[int, list[EquipmentPeriodResult]] = defaultdict(list)
    for ref in refs:
        by_area[ref.area_id].append(results[ref.id])
    for area_id, parts in by_area.items():
        if has_content(parts):
            rows.append(((OeeScope.AREA, area_id), values(parts)))
    rows.append(((OeeScope.SITE, period.site_id), values(results.values())))
    return rows


def _period_write(
    period: _Period,
    now: datetime,
    *,
    is_closed: bool = True,
    context: _SiteContext | None = None,
) -> int:
    """Compute and upsert the rows of one period (idempotent). Returns the rows written."""
    rows = _period_rows(period, now, is_closed=is_closed, context=context)
    if not rows:
        return 0
    with transaction.atomic():
        existing = {
            (snapshot.scope, snapshot.scope_id): snapshot
            for snapshot in OeeSnapshot.objects.select_for_update()
            .filter(
                period=period.kind,
                period_start_at=period.start,
                work_order_id=period.work_order_id,
                scope__in={scope for (scope, _), _ in rows},
                scope_id__in={scope_id for (_, scope_id), _ in rows},
            )
            .order_by("pk")
        }
        to_update, to_create = [], []
        for (scope, scope_id), values in rows:
            snapshot = existing.get((scope, scope_id))
            if snapshot is None:
                snapshot = OeeSnapshot(
                    scope=scope,
                    scope_id=scope_id,
                    period=period.kind,
                    period_start_at=period.start,
                    work_order_id=period.work_order_id,
                )
                to_create.append(snapshot)
            else:
                to_update.append(snapshot)
            snapshot.period_end_at = period.end
            for name, value in values.items():
                setattr(snapshot, name, value)
        if to_update:
            OeeSnapshot.objects.bulk_update(to_update, [*SNAPSHOT_VALUE_FIELDS, "period_end_at"])
        if to_create:
            OeeSnapshot.objects.bulk_create(to_create)
    return len(rows)


def _site_periods(
    site: Site,
    *,
    range_start: datetime,
    range_end: datetime,
    closable_end: datetime,
    line_ids: Iterable[int] | None = None,
    context: _SiteContext | None = None,
) -> list[_Period]:
    """Hours, days and shifts of a site overlapping the range and ended by ``closable_end``."""
    periods: list[_Period] = []
    for hour_start in local_hour_starts(site.time_zone, range_start, range_end):
        hour_end = hour_start + timedelta(hours=1)
        if hour_end <= closable_end:
            label = hour_start.astimezone(ZoneInfo(site.time_zone)).strftime("%Y-%m-%d %H:00")
            periods.append(_Period(OeePeriod.HOUR, site.pk, hour_start, hour_end, label))
    day_start, day_end = local_day_bounds(site.time_zone, range_start)
    while day_start < range_end:
        if day_end <= closable_end:
            label = day_start.astimezone(ZoneInfo(site.time_zone)).date().isoformat()
            periods.append(_Period(OeePeriod.DAY, site.pk, day_start, day_end, label))
        day_start, day_end = local_day_bounds(site.time_zone, day_end)
    if context is None:
        context = _site_context(
            site, range_start - timedelta(days=1), range_end + timedelta(days=1)
        )
    book = context.book
    line_sites = {ref.line_id: site.pk for ref in context.refs}
    for instance in book.for_site(site.pk).instances(range_start, range_end):
        if instance.end <= closable_end:
            periods.append(
                _Period(
                    OeePeriod.SHIFT,
                    site.pk,
                    instance.start,
                    instance.end,
                    f"{instance.shift_name} {instance.local_date.isoformat()}",
                )
            )
    wanted_lines = set(line_sites) if line_ids is None else set(line_ids)
    for line_id in sorted(wanted_lines & set(line_sites)):
        resolved = book.for_line(line_id)
        if not resolved.is_line_calendar:
            continue
        for instance in resolved.instances(range_start, range_end):
            if instance.end <= closable_end:
                periods.append(
                    _Period(
                        OeePeriod.SHIFT,
                        site.pk,
                        instance.start,
                        instance.end,
                        f"{instance.shift_name} {instance.local_date.isoformat()}",
                        line_id=line_id,
                    )
                )
    return periods


def _work_order_periods(work_orders: Iterable[WorkOrder], closable_end: datetime) -> list[_Period]:
    periods = []
    for work_order in work_orders:
        if work_order.state != WorkOrderState.COMPLETED or work_order.completed_at is None:
            continue
        if work_order.completed_at > closable_end or work_order.started_at is None:
            continue
        periods.append(
            _Period(
                OeePeriod.WORK_ORDER,
                work_order.site_id,
                work_order.started_at,
                work_order.completed_at,
                work_order.number,
                work_order_id=work_order.pk,
            )
        )
    return periods


MAINTAIN_LOCK_KEY = "mes:oee:maintain-lock"


def oee_snapshots_maintain(*, now: datetime | None = None) -> SnapshotMaintainResult:
    """The periodic OEE job: recompute what late data changed, then close ended periods.

    1. Every ``OeeRecomputeRequest`` (late event, late count, reclassified stop, operator
       entry) → the closed hours, days, shifts and work orders it touches are computed again.
    2. Every hour, day and shift (site calendar and lines' own calendars) that ended at least
       ``OEE_CLOSE_DELAY_S`` ago within ``OEE_SNAPSHOT_LOOKBACK_S`` and has no closed snapshot
       yet, and every work order completed since, is computed and stored (``is_closed``).
    3. The open shift and hour of each site are stored with ``is_closed`` false, so readers
       of ``OeeSnapshot`` see the current period too.

    Idempotent (upserts); concurrent runs are serialised by a Redis lock.
    """
    now = now or timezone.now()
    lock_held = False
    try:
        lock_held = bool(redis_client().set(MAINTAIN_LOCK_KEY, 1, nx=True, ex=600))
        if not lock_held:
            logger.info("OEE snapshot maintenance already running; skipped")
            return SnapshotMaintainResult(0, 0, 0)
    except Exception:
        logger.warning("OEE maintenance lock unavailable (Redis); running anyway", exc_info=True)
    try:
        with timed(OEE_COMPUTATION, kind="snapshots_maintain"):
            return _snapshots_maintain(now)
    finally:
        if lock_held:
            try:
                redis_client().delete(MAINTAIN_LOCK_KEY)
            except Exception:
                logger.warning("Could not release the OEE maintenance lock", exc_info=True)


def snapshot_lookback_s() -> float:
    return float(getattr(settings, "OEE_SNAPSHOT_LOOKBACK_S", 2 * 86_400.0))


def _snapshots_maintain(now: datetime) -> SnapshotMaintainResult:
    closable_end = now - timedelta(seconds=close_delay_s())
    periods_written = snapshots_written = 0
    # 1. recompute requests
    with transaction.atomic():
        requests = list(
            OeeRecomputeRequest.objects.select_for_update(skip_locked=True).order_by("pk")[:5000]
        )
        periods = _periods_for_requests(requests, closable_end)
        contexts = _contexts_for(periods)
        for period in periods:
            try:
                snapshots_written += _period_write(
                    period, now, context=contexts.get(period.site_id)
                )
            except CalendarInvalid as error:  # logged; fix the calendar, then rebuild
                logger.error("OEE period %s skipped: %s", period, error.message)
                continue
            periods_written += 1
        OeeRecomputeRequest.objects.filter(pk__in=[request.pk for request in requests]).delete()
    # 2. close ended periods, 3. the open ones
    lookback_start = now - timedelta(seconds=snapshot_lookback_s())
    for site in Site.objects.order_by("pk"):
        try:
            written = _site_close(site, now, lookback_start, closable_end)
        except CalendarInvalid as error:
            logger.error("OEE snapshots of site %s skipped: %s", site.code, error.message)
            continue
        periods_written += written[0]
        snapshots_written += written[1]
    return SnapshotMaintainResult(len(requests), periods_written, snapshots_written)


def _site_close(
    site: Site, now: datetime, lookback_start: datetime, closable_end: datetime
) -> tuple[int, int]:
    """Close the ended periods of one site and store its open ones; (periods, rows)."""
    periods_written = snapshots_written = 0
    context = _site_context(site, lookback_start - timedelta(days=1), now + timedelta(days=1))
    candidates = _site_periods(
        site,
        range_start=lookback_start,
        range_end=closable_end,
        closable_end=closable_end,
        context=context,
    )
    done = set(
        OeeSnapshot.objects.filter(
            Q(scope=OeeScope.SITE, scope_id=site.pk)
            | Q(scope=OeeScope.LINE, scope_id__in=[p.line_id for p in candidates if p.line_id]),
            period__in=[OeePeriod.HOUR, OeePeriod.DAY, OeePeriod.SHIFT],
            period_start_at__gte=lookback_start - timedelta(days=1),
            is_closed=True,
            work_order__isnull=True,
        ).values_list("scope", "scope_id", "period", "period_start_at")
    )
    for period in candidates:
        marker = (
            (OeeScope.LINE.value, period.line_id)
            if period.line_id is not None
            else (OeeScope.SITE.value, site.pk)
        )
        if (*marker, period.kind, period.start) in done:
            continue
        snapshots_written += _period_write(period, now, context=context)
        periods_written += 1
    completed = WorkOrder.objects.filter(
        site=site,
        state=WorkOrderState.COMPLETED,
        completed_at__gt=lookback_start,
        completed_at__lte=closable_end,
    ).exclude(
        pk__in=OeeSnapshot.objects.filter(
            period=OeePeriod.WORK_ORDER, work_order__isnull=False, is_closed=True
        ).values("work_order_id")
    )
    for period in _work_order_periods(completed, closable_end):
        snapshots_written += _period_write(period, now)
        periods_written += 1
    for period in _open_periods(site, now, context):
        snapshots_written += _period_write(period, now, is_closed=False, context=context)
    return periods_written, snapshots_written


def _open_periods(site: Site, now: datetime, context: _SiteContext) -> list[_Period]:
    """The site's current hour and current shifts (site calendar and lines' own)."""
    periods = []
    hour_start = local_hour_starts(site.time_zone, now, now + timedelta(microseconds=1))[0]
    label = hour_start.astimezone(ZoneInfo(site.time_zone)).strftime("%Y-%m-%d %H:00")
    periods.append(
        _Period(OeePeriod.HOUR, site.pk, hour_start, hour_start + timedelta(hours=1), label)
    )
    for period in _site_periods(
        site,
        range_start=now,
        range_end=now + timedelta(microseconds=1),
        closable_end=datetime.max.replace(tzinfo=UTC),
        context=context,
    ):
        if period.kind == OeePeriod.SHIFT:
            periods.append(period)
    return periods


def _periods_for_requests(
    requests: Sequence[OeeRecomputeRequest], closable_end: datetime
) -> list[_Period]:
    if not requests:
        return []
    refs = {
        ref.id: ref
        for ref in equipment_refs(
            equipment_ids={request.equipment_id for request in requests}, include_inactive=True
        )
    }
    sites = {
        site.pk: site for site in Site.objects.filter(pk__in={r.site_id for r in refs.values()})
    }
    periods: dict[tuple, _Period] = {}
    for request in requests:
        ref = refs.get(request.equipment_id)
        if ref is None:
            continue
        for period in _site_periods(
            sites[ref.site_id],
            range_start=request.range_start_at,
            range_end=request.range_end_at,
            closable_end=closable_end,
            line_ids=[ref.line_id],
        ):
            periods[(period.kind, period.site_id, period.start, period.line_id, None)] = period
        work_orders = (
            WorkOrder.objects.filter(
                operations__assigned_equipment_id=ref.id,
                operations__actual_start_at__lt=request.range_end_at,
            )
            .filter(
                Q(operations__actual_end_at__isnull=True)
                | Q(operations__actual_end_at__gt=request.range_start_at)
            )
            .distinct()
        )
        for period in _work_order_periods(work_orders, closable_end):
            periods[(period.kind, period.site_id, period.start, None, period.work_order_id)] = (
                period
            )
    return list(periods.values())


def _contexts_for(periods: Sequence[_Period]) -> dict[int, _SiteContext]:
    """One context per site covering all of its periods (a day of margin each side)."""
    spans: dict[int, tuple[datetime, datetime]] = {}
    for period in periods:
        start, end = spans.get(period.site_id, (period.start, period.end))
        spans[period.site_id] = (min(start, period.start), max(end, period.end))
    sites = {site.pk: site for site in Site.objects.filter(pk__in=list(spans))}
    return {
        site_id: _site_context(sites[site_id], start - timedelta(days=1), end + timedelta(days=1))
        for site_id, (start, end) in spans.items()
    }


def oee_snapshots_rebuild(
    *, start: datetime, end: datetime, site_ids: Sequence[int] | None = None, now=None
) -> SnapshotMaintainResult:
    """Compute and store every closed period of the sites overlapping ``[start, end)``.

    For backfills and repairs (``manage.py oee_snapshots_rebuild``); idempotent.
    """
    now = now or timezone.now()
    closable_end = min(end, now - timedelta(seconds=close_delay_s()))
    sites = Site.objects.order_by("pk")
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    periods_written = snapshots_written = 0
    for site in sites:
        context = _site_context(site, start - timedelta(days=1), end + timedelta(days=1))
        periods = _site_periods(
            site, range_start=start, range_end=end, closable_end=closable_end, context=context
        )
        periods += _work_order_periods(
            WorkOrder.objects.filter(site=site, completed_at__gte=start, completed_at__lt=end),
            closable_end,
        )
        for period in periods:
            snapshots_written += _period_write(period, now, context=context)
            periods_written += 1
    return SnapshotMaintainResult(0, periods_written, snapshots_written)
