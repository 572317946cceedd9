"""The live OEE of lines and sites, broadcast to their groups and checked against the OEE
alert rules.

The one rate limit of the live OEE: a line (or a site) is computed and published at most once
per ``OEE_PUBLISH_INTERVAL_S`` (1 s) across all processes. A call inside the interval computes
nothing and leaves one trailing publish (a Celery task) for the end of the interval, so the
latest state always goes out. The limit sits before the work because computing a line's OEE
is what costs (~16 ms a line, docs/benchmarks/oee.md): an ingest committing ten batches a
second that touch the same lines computes each line once a second, not ten times. The event is
then broadcast as it is (``aggregate=False``, not limited a second time); a client that
(re)subscribes gets the current OEE in its snapshot.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from mes_site.metrics import OEE_COMPUTATION, timed
from mes_site.publish import broadcast, group_name
from mes_site.redis import redis_client
from production.algorithms.oee import rollup
from production.choices import OeeScope
from production.models import Line
from production.selectors.oee import oee_current
from production.selectors.oee_reports import oee_report, report_elements
from production.services.alerts import alerts_evaluate_oee
from production.services.live_payloads import oee_line_payload, oee_site_payload

logger = logging.getLogger(__name__)

SLOT_KEY = "mes:oee:publish:{scope}:{scope_id}"
TRAILING_KEY = "mes:oee:publish-trailing:{scope}:{scope_id}"


def alert_min_observed_s() -> float:
    """OEE alerts wait until the shift has this much observed busy time (default 15 min)."""
    return float(getattr(settings, "OEE_ALERT_MIN_OBSERVED_S", 900.0))


def publish_interval_s() -> float:
    return float(getattr(settings, "OEE_PUBLISH_INTERVAL_S", 1.0))


def _slot_take(scope: str, scope_id: int, *, is_trailing: bool = False) -> bool:
    """True when ``scope_id`` may be computed and published now (once per interval).

    The trailing publish always may (it is the one left for the end of an interval) and
    starts a new interval.
    """
    key = SLOT_KEY.format(scope=scope, scope_id=scope_id)
    interval_ms = int(publish_interval_s() * 1000)
    try:
        return bool(redis_client().set(key, 1, nx=not is_trailing, px=interval_ms))
    except Exception:  # without Redis, publish rather than go silent
        logger.warning("OEE publish gate unavailable (Redis)", exc_info=True)
        return True


def _trailing_schedule(scope: str, scope_id: int) -> None:
    """Leave one publish for the end of the interval (at most one waits per line or site)."""
    interval_s = publish_interval_s()
    key = TRAILING_KEY.format(scope=scope, scope_id=scope_id)
    try:
        if not redis_client().set(key, 1, nx=True, px=int(interval_s * 2000)):
            return  # one is already on its way
        # A service enqueuing its own task: production.tasks imports this module.
        from production.tasks import oee_publish_trailing

        oee_publish_trailing.apply_async((scope, scope_id), countdown=interval_s)
    except Exception:
        logger.warning("could not leave the trailing OEE publish", exc_info=True)


def oee_publish_trailing(*, scope: str, scope_id: int) -> list[int]:
    """The trailing edge: publish a line's or site's latest OEE once its interval is over."""
    try:
        redis_client().delete(TRAILING_KEY.format(scope=scope, scope_id=scope_id))
    except Exception:
        logger.warning("OEE publish gate unavailable (Redis)", exc_info=True)
    if scope == OeeScope.SITE:
        return _sites_publish_gated([scope_id], timezone.now(), is_trailing=True)
    return oee_lines_publish(line_ids=[scope_id], is_trailing=True)


def oee_lines_publish(
    *, line_ids: Sequence[int], now: datetime | None = None, is_trailing: bool = False
) -> list[int]:
    """Broadcast the live OEE of lines and check their OEE alert rules (once per interval).

    One ``oee`` event per line to the line's group: the line's KPIs, flags and shift, and a
    compact row per equipment (state, since, A, E, Q, OEE) — equipment screens take their
    row from it. The sites of these lines get one ``oee`` event each: the site's KPIs and a
    row per line. A line published within the interval gets a trailing publish instead.
    Returns the lines published now.
    """
    now = now or timezone.now()
    due = []
    for line_id in line_ids:
        if _slot_take(OeeScope.LINE, line_id, is_trailing=is_trailing):
            due.append(line_id)
        else:
            _trailing_schedule(OeeScope.LINE, line_id)
    if not due:
        return []
    with timed(OEE_COMPUTATION, kind="live_publish"):
        return _lines_publish(due, now)


def _lines_publish(due: list[int], now: datetime) -> list[int]:
    reports = oee_current(scope=OeeScope.LINE, scope_ids=due, now=now)
    values = []
    for line_id, report in reports.items():
        broadcast([group_name("line", line_id)], "oee", oee_line_payload(report), aggregate=False)
        values.extend(_oee_alert_values(line_id, report, now))
    site_ids = set(Line.objects.filter(id__in=due).values_list("area__site_id", flat=True))
    _sites_publish_gated(sorted(site_ids), now)
    if values:
        alerts_evaluate_oee(values=values)
    return due


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


def _sites_publish_gated(
    site_ids: Sequence[int], now: datetime, *, is_trailing: bool = False
) -> list[int]:
    """Publish the sites whose interval allows it; the others get a trailing publish."""
    due = []
    for site_id in site_ids:
        if _slot_take(OeeScope.SITE, site_id, is_trailing=is_trailing):
            due.append(site_id)
        else:
            _trailing_schedule(OeeScope.SITE, site_id)
    if due:
        _sites_publish(due, now)
    return due


def _sites_publish(site_ids: Sequence[int], now: datetime) -> None:
    """One ``oee`` event per site: the site's KPIs and a row per line."""
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
            aggregate=False,
        )
