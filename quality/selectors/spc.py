"""Reads of statistical process control. A chart belongs to the line of its station: charts,
their subgroups, limits and violations go through the one scoping rule (mes_site/scope.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from mes_site.errors import ValidationFailed
from mes_site.scope import scope_filter
from quality import spc
from quality.choices import ControlChartType
from quality.models import ControlChart, ControlLimitSet, RuleViolation, Subgroup

CHART_LINE = "equipment__cell__line_id"
CHART_SITE = "equipment__cell__line__area__site_id"
CAPABILITY_TARGET = 1.33  # the usual minimum Cpk of an established process
RECENT_POINTS = 25  # "out of control": a violation among the chart's last points


def control_chart_list(*, user) -> QuerySet[ControlChart]:
    return scope_filter(
        ControlChart.objects.select_related("characteristic", "equipment", "signal"),
        user,
        line=CHART_LINE,
        site=CHART_SITE,
    )


def subgroup_list(*, user) -> QuerySet[Subgroup]:
    return scope_filter(
        Subgroup.objects.select_related("chart__characteristic", "lot", "serial_unit"),
        user,
        line=f"chart__{CHART_LINE}",
        site=f"chart__{CHART_SITE}",
    )


def chart_points_list(*, chart: ControlChart) -> QuerySet[Subgroup]:
    """The complete subgroups of one (already scoped) chart, with their violations."""
    return (
        chart.subgroups.filter(is_complete=True)
        .select_related("lot", "serial_unit")
        .prefetch_related("violations")
        .order_by("index")
    )


def rule_violation_list(*, user) -> QuerySet[RuleViolation]:
    return scope_filter(
        RuleViolation.objects.select_related("chart__characteristic", "subgroup"),
        user,
        line=f"chart__{CHART_LINE}",
        site=f"chart__{CHART_SITE}",
    )


def limit_set_list(*, chart: ControlChart) -> QuerySet[ControlLimitSet]:
    return chart.limit_sets.select_related("computed_by").order_by("-version")


def chart_capability(
    *, chart: ControlChart, first_index: int | None = None, last_index: int | None = None
) -> spc.Capability:
    """Capability of the chart's variables subgroups (optionally a range of indices)."""
    characteristic = chart.characteristic
    if chart.chart_type not in {
        ControlChartType.XBAR_R,
        ControlChartType.XBAR_S,
        ControlChartType.I_MR,
    }:
        message = "Capability is computed for variables charts (X̄–R, X̄–S, I–MR)."
        raise ValidationFailed(message, detail={"chart_type": [message]})
    subgroups = chart.subgroups.filter(is_complete=True)
    if first_index is not None:
        subgroups = subgroups.filter(index__gte=first_index)
    if last_index is not None:
        subgroups = subgroups.filter(index__lte=last_index)
    data = list(subgroups.order_by("index").values_list("values", flat=True))
    if chart.chart_type == ControlChartType.I_MR:
        data = [values[0] for values in data]
    method = (
        spc.WithinSigmaMethod.STANDARD_DEVIATION
        if chart.chart_type == ControlChartType.XBAR_S
        else None
    )
    try:
        return spc.capability_analyze(
            data,
            lower_spec_limit=characteristic.lower_spec_limit,
            upper_spec_limit=characteristic.upper_spec_limit,
            target=characteristic.target,
            method=method,
        )
    except spc.SpcError as error:
        raise ValidationFailed(error.message, detail={error.field: [error.message]}) from error


@dataclass(frozen=True)
class ChartStatus:
    chart: ControlChart
    last_index: int | None
    recent_violations: int
    cpk: float | None
    capability_error: str


def chart_status_list(*, user) -> list[ChartStatus]:
    """Each chart in scope with its violations among the last points and its Cpk: the
    quality overview (out of control, Cpk below 1.33)."""
    statuses = []
    for chart in control_chart_list(user=user).annotate(
        has_violation=Exists(RuleViolation.objects.filter(chart=OuterRef("pk")))
    ):
        last = chart.subgroups.filter(is_complete=True).order_by("-index").first()
        recent = 0
        if last is not None and chart.has_violation:
            recent = chart.violations.filter(subgroup__index__gt=last.index - RECENT_POINTS).count()
        cpk, error = None, ""
        try:
            cpk = chart_capability(chart=chart).cpk
        except ValidationFailed as failure:
            error = failure.message
        statuses.append(
            ChartStatus(
                chart=chart,
                last_index=None if last is None else last.index,
                recent_violations=recent,
                cpk=cpk,
                capability_error=error,
            )
        )
    return statuses
