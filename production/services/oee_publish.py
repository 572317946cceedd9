"""The live OEE of lines and sites, broadcast to their groups and checked against the OEE
alert rules.

Rate limit: ``oee`` is an aggregate event, so ``mes_site.publish.broadcast`` (implemented by
``live.broadcast``) sends at most one per second per group and subject across all processes
and sends the latest one when the second is over — no update is dropped for good. This
module therefore publishes on every call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from mes_site.publish import broadcast, group_name
from production.algorithms.oee import rollup
from production.choices import OeeScope
from production.models import Line
from production.selectors.oee import oee_current
from production.selectors.oee_reports import oee_report, report_elements
from production.services.alerts import alerts_evaluate_oee
from production.services.live_payloads import oee_line_payload, oee_site_payload


def alert_min_observed_s() -> float:
    """OEE alerts wait until the shift has this much observed busy time (default 15 min)."""
    return float(getattr(settings, "OEE_ALERT_MIN_OBSERVED_S", 900.0))


def oee_lines_publish(*, line_ids: Sequence[int], now: datetime | None = None) -> list[int]:
    """Broadcast the live OEE of lines and check their OEE alert rules.

    One ``oee`` event per line to the line's group: the line's KPIs, flags and shift, and a
    compact row per equipment (state, since, A, E, Q, OEE) — equipment screens take their
    row from it. The sites of these lines get one ``oee`` event each: the site's KPIs and a
    row per line. Returns the lines published.
    """
    now = now or timezone.now()
    line_ids = list(line_ids)
    if not line_ids:
        return []
    reports = oee_current(scope=OeeScope.LINE, scope_ids=line_ids, now=now)
    values = []
    for line_id, report in reports.items():
        broadcast([group_name("line", line_id)], "oee", oee_line_payload(report), subject=line_id)
        values.extend(_oee_alert_values(line_id, report, now))
    _sites_publish(line_ids, now)
    if values:
        alerts_evaluate_oee(values=values)
    return line_ids


def _oee_alert_values(
    line_id: int, report: dict, now: datetime
) -> list[tuple[str, int, float, datetime]]:
    """The line's and its equipment's OEE to check, once the shift has enough observed time."""
    observed_s = report["elements"]["planned_busy_time_s"] - report["elements"]["no_data_time_s"]
    if observed_s < alert_min_observed_s():
        return []  # too early in the shift for the OEE to mean much
    values = []
    if report["kpis"]["oee"] is not None:
        values.append((OeeScope.LINE.value, line_id, report["kpis"]["oee"], now))
    values.extend(
        (OeeScope.EQUIPMENT.value, member["equipment_id"], member["oee"], now)
        for member in report["equipment"]
        if member["oee"] is not None
    )
    return values


def _sites_publish(line_ids: Sequence[int], now: datetime) -> None:
    """One ``oee`` aggregate per site of ``line_ids``: site KPIs and a row per line."""
    site_ids = set(Line.objects.filter(id__in=line_ids).values_list("area__site_id", flat=True))
    site_lines: dict[int, list[int]] = defaultdict(list)
    for line_id, site_id in Line.objects.filter(area__site_id__in=site_ids).values_list(
        "id", "area__site_id"
    ):
        site_lines[site_id].append(line_id)
    line_reports = oee_current(
        scope=OeeScope.LINE,
        scope_ids=[line_id for ids in site_lines.values() for line_id in ids],
        now=now,
    )
    for site_id in sorted(site_ids):
        members = [line_reports[line_id] for line_id in site_lines[site_id]]
        total = oee_report(
            rollup(report_elements(member["elements"]) for member in members),
            minor_stop_count=sum(member["minor_stop_count"] for member in members),
            needs_reason_count=sum(member["needs_reason_count"] for member in members),
            counts_without_run_time=sum(member["counts_without_run_time"] for member in members),
        )
        broadcast(
            [group_name("site", site_id)],
            "oee",
            oee_site_payload(site_id, total, members, now),
            subject=site_id,
        )
