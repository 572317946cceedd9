"""OEE reports: elements → KPIs, flags and the six big losses, as plain data for the API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from production.algorithms.oee import (
    SIX_BIG_LOSSES_ISO_TERMS,
    OeeElements,
    OeeKpis,
    compute_kpis,
    rollup,
    six_big_losses,
)
from production.selectors.oee_elements import EquipmentPeriodResult

ELEMENT_FIELDS = (
    "planned_operation_time_s",
    "planned_down_time_s",
    "planned_busy_time_s",
    "actual_production_time_s",
    "actual_setup_time_s",
    "actual_processing_time_s",
    "actual_delay_time_s",
    "actual_down_time_s",
    "no_data_time_s",
    "minor_stop_time_s",
    "needs_reason_time_s",
    "produced_quantity",
    "good_quantity",
    "scrap_quantity",
    "rework_quantity",
    "planned_time_of_produced_s",
    "planned_time_of_scrap_s",
    "planned_time_of_rework_s",
)
KPI_FIELDS = (
    "availability",
    "effectiveness",
    "quality_ratio",
    "oee",
    "nee",
    "technical_efficiency",
    "setup_rate",
    "scrap_ratio",
    "rework_ratio",
    "data_coverage",
)


def oee_report(
    elements: OeeElements,
    *,
    minor_stop_count: int = 0,
    needs_reason_count: int = 0,
    counts_without_run_time: int = 0,
) -> dict[str, Any]:
    """Elements, KPIs and flags of (summed) elements as plain data for the API."""
    kpis: OeeKpis = compute_kpis(elements)
    flags = list(kpis.flags)
    if counts_without_run_time:
        flags.append("has_counts_without_run_time")
    return {
        "elements": {name: getattr(elements, name) for name in ELEMENT_FIELDS},
        "kpis": {name: getattr(kpis, name) for name in KPI_FIELDS},
        "flags": flags,
        "minor_stop_count": minor_stop_count,
        "needs_reason_count": needs_reason_count,
        "counts_without_run_time": counts_without_run_time,
    }


def sum_results(results: Iterable[EquipmentPeriodResult]) -> dict[str, Any]:
    results = list(results)
    return oee_report(
        rollup(result.elements for result in results),
        minor_stop_count=sum(result.minor_stop_count for result in results),
        needs_reason_count=sum(result.needs_reason_count for result in results),
        counts_without_run_time=sum(result.counts_without_run_time for result in results),
    )


def six_big_losses_waterfall(elements: OeeElements) -> dict[str, Any]:
    """The six big losses as a waterfall from the observed busy time to fully productive time.

    Each step is ``{"key", "label", "iso", "duration_s"}``; steps are subtracted in order from
    ``start_s`` (PBT − no data) and end at the fully productive time. ``idle`` (ADOT) and
    ``unaccounted`` close the reconciliation; the sum of the steps equals start − end exactly.
    """
    losses = six_big_losses(elements)
    steps = [
        ("breakdowns_s", "Breakdowns", losses.breakdowns_s),
        ("setup_and_adjustments_s", "Setup and adjustments", losses.setup_and_adjustments_s),
        ("minor_stops_s", "Minor stops", losses.minor_stops_s),
        ("idle_s", "Idle (no order, starved, blocked)", losses.idle_s),
        ("reduced_speed_s", "Reduced speed", losses.reduced_speed_s),
        ("scrap_s", "Scrap", losses.scrap_s),
        ("rework_s", "Rework", losses.rework_s),
        ("unaccounted_s", "Unaccounted", losses.unaccounted_s),
    ]
    iso_terms = {
        **SIX_BIG_LOSSES_ISO_TERMS,
        "idle_s": "ADOT",
        "unaccounted_s": "PBT − (APT + AUST + ADET + ADOT + no data)",
    }
    return {
        "start_s": elements.observed_busy_time_s,
        "planned_busy_time_s": elements.planned_busy_time_s,
        "no_data_s": losses.no_data_s,
        "steps": [
            {"key": key, "label": label, "iso": iso_terms[key], "duration_s": value}
            for key, label, value in steps
        ],
        "fully_productive_s": losses.fully_productive_s,
        "needs_reason_s": losses.needs_reason_s,
    }


def report_elements(values: dict[str, float]) -> OeeElements:
    """The ``OeeElements`` of a report's element dict (its derived PBT and AUPT left out)."""
    return OeeElements(
        **{
            name: value
            for name, value in values.items()
            if name not in ("planned_busy_time_s", "actual_processing_time_s")
        }
    )
