"""Writes of statistical process control: a characteristic's chart, its control limits
(computed from a baseline only on request, versioned, audited) and the subgroups as they
arrive — each completed subgroup is plotted under the current limits and checked against the
chart's run rules at once (incrementally), its violations stored and the chart's reaction
proposed through the autonomy guardrails (quality.services.spc_reactions).

The statistics are the pure package quality.spc; its errors become a 400 on the field they
name (``spc_invalid``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from mes_site.errors import ValidationFailed
from mes_site.publish import broadcast, group_name
from quality import spc
from quality.choices import ControlChartType, SpcReaction, SubgroupSource
from quality.models import Characteristic, ControlChart, ControlLimitSet, RuleViolation, Subgroup
from quality.services.spc_reactions import spc_reaction_propose
from traceability.services.audit import audit_event_record

VARIABLES = {ControlChartType.XBAR_R, ControlChartType.XBAR_S, ControlChartType.I_MR}
SUBGROUPED = {ControlChartType.XBAR_R, ControlChartType.XBAR_S}


def spc_invalid(error: spc.SpcError, *, field: str | None = None) -> ValidationFailed:
    """An SPC input error as the API's 400: ``detail`` names the field."""
    name = field or error.field
    return ValidationFailed(error.message, detail={name: [error.message]})


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, detail={field: [message]})


# --- the chart ----------------------------------------------------------------------------------


def _subgroup_size_check(chart_type: str, subgroup_size: int) -> None:
    if chart_type == ControlChartType.I_MR and subgroup_size != 1:
        raise _invalid("subgroup_size", "An I–MR chart has subgroups of 1.")
    if chart_type in SUBGROUPED:
        try:
            spc.constants_for(subgroup_size)
        except spc.SpcError as error:
            raise spc_invalid(error, field="subgroup_size") from error
    if subgroup_size < 1:
        raise _invalid("subgroup_size", "The subgroup size is at least 1.")


@transaction.atomic
def control_chart_configure(
    *,
    characteristic: Characteristic,
    chart_type: str,
    subgroup_size: int,
    equipment,
    rules: Sequence[str] = spc.NELSON_RULES,
    reaction: str = SpcReaction.NONE,
    signal=None,
    actor=None,
) -> ControlChart:
    """Create or change the chart of ``characteristic``. Its type and subgroup size are fixed
    once it has subgroups (the points would no longer compare)."""
    if chart_type not in ControlChartType.values:
        raise _invalid("chart_type", f"Unknown chart type {chart_type!r}.")
    if reaction not in SpcReaction.values:
        raise _invalid("reaction", f"Unknown reaction {reaction!r}.")
    _subgroup_size_check(chart_type, subgroup_size)
    try:
        parsed_rules = [str(rule) for rule in spc.rules_parse(rules)]
    except spc.SpcError as error:
        raise spc_invalid(error) from error
    chart = ControlChart.objects.select_for_update().filter(characteristic=characteristic).first()
    old = None
    if chart is not None:
        old = f"{chart.chart_type} n={chart.subgroup_size} {chart.reaction}"
        changes_shape = (chart.chart_type, chart.subgroup_size) != (chart_type, subgroup_size)
        if changes_shape and chart.subgroups.exists():
            raise _invalid(
                "chart_type",
                "The chart has subgroups: its type and subgroup size cannot change.",
            )
    else:
        chart = ControlChart(characteristic=characteristic)
    chart.chart_type = chart_type
    chart.subgroup_size = subgroup_size
    chart.rules = parsed_rules
    chart.reaction = reaction
    chart.equipment = equipment
    chart.signal = signal
    chart.save()
    audit_event_record(
        actor=actor,
        obj=chart,
        action="configure control chart",
        old_value=old or "",
        new_value=f"{chart_type} n={subgroup_size} {reaction}",
        data={"rules": parsed_rules, "equipment_id": equipment.pk},
    )
    return chart


# --- control limits -----------------------------------------------------------------------------


def _baseline_input(chart: ControlChart, subgroups: list[Subgroup]) -> dict[str, Any]:
    if chart.chart_type in SUBGROUPED:
        return {"subgroups": [subgroup.values for subgroup in subgroups]}
    if chart.chart_type == ControlChartType.I_MR:
        return {"values": [subgroup.values[0] for subgroup in subgroups]}
    return {
        "counts": [subgroup.defect_count for subgroup in subgroups],
        "sizes": [subgroup.inspected_count for subgroup in subgroups],
    }


@transaction.atomic
def control_limits_compute(
    *, chart_id: int, first_index: int, last_index: int, actor, reason: str
) -> ControlLimitSet:
    """A new version of the chart's limits from the complete subgroups first … last. Points
    that arrive from now on are plotted and checked under it; earlier points keep theirs."""
    if not reason.strip():
        raise _invalid("reason", "Say why the limits are recomputed.")
    if first_index > last_index:
        raise _invalid("first_index", "The baseline's first index is after its last.")
    chart = ControlChart.objects.select_for_update().get(pk=chart_id)
    subgroups = list(
        chart.subgroups.filter(
            index__gte=first_index, index__lte=last_index, is_complete=True
        ).order_by("index")
    )
    try:
        limits = spc.limits_compute(
            chart.chart_type,
            subgroup_size=chart.subgroup_size if chart.chart_type in SUBGROUPED else None,
            **_baseline_input(chart, subgroups),
        )
    except spc.SpcError as error:
        raise spc_invalid(error, field="baseline") from error
    version = (chart.limit_sets.aggregate(last=Max("version"))["last"] or 0) + 1
    limit_set = ControlLimitSet.objects.create(
        chart=chart,
        version=version,
        center_line=limits.center_line,
        lower_limit=limits.location_lower,
        upper_limit=limits.location_upper,
        sigma_within=limits.sigma_within,
        dispersion_center=limits.dispersion_center,
        dispersion_lower=limits.dispersion_lower,
        dispersion_upper=limits.dispersion_upper,
        limits=limits.as_dict(),
        baseline_first_index=first_index,
        baseline_last_index=last_index,
        computed_at=timezone.now(),
        computed_by=actor if actor is not None and actor.is_authenticated else None,
        reason=reason,
    )
    audit_event_record(
        actor=actor,
        obj=limit_set,
        action="compute control limits",
        old_value=f"v{version - 1}" if version > 1 else "",
        new_value=f"v{version}",
        reason=reason,
        data={"baseline": [first_index, last_index], "subgroups": len(subgroups)},
    )
    return limit_set


def limit_set_current(chart: ControlChart) -> ControlLimitSet | None:
    return chart.limit_sets.order_by("-version").first()


# --- subgroups and points -----------------------------------------------------------------------


@dataclass(frozen=True)
class MeasurementIn:
    """One measured value for a chart (from the UNS or a signal): appended to the chart's
    open subgroup; for an attribute chart, ``value`` is the count and ``size`` the units."""

    chart: ControlChart
    value: float
    measured_at: datetime
    size: float | None = None
    lot: Any = None
    serial_unit: Any = None
    operation: Any = None


class _ChartSession:
    """One chart under its row lock for one batch: the next index, the current limits and the
    run-rule evaluator, resumed once from the stored points and then fed point by point."""

    def __init__(self, chart: ControlChart) -> None:
        self.chart = ControlChart.objects.select_for_update().get(pk=chart.pk)
        self.limit_set = limit_set_current(self.chart)
        self.limits = spc.ControlLimits.from_dict(self.limit_set.limits) if self.limit_set else None
        last = self.chart.subgroups.order_by("-index").first()
        self.open = last if last is not None and not last.is_complete else None
        self.next_index = 0 if last is None else last.index + 1
        self.evaluator: spc.RuleEvaluator | None = None
        self.positions: list[int] = []  # the subgroup index of each point fed to the evaluator
        self.previous_value: float | None = None
        self.reactions: list[tuple[Subgroup, list[RuleViolation]]] = []
        self._pending: list[Subgroup] = []  # subgroups to write when the batch finishes
        self.completed: list[Subgroup] = []

    def _evaluator(self, index: int) -> spc.RuleEvaluator:
        if self.evaluator is None:
            recent = list(
                self.chart.subgroups.filter(limit_set=self.limit_set, index__lt=index)
                .order_by("-index")
                .values_list("index", "statistic", "sigma")[: spc.rules.LONGEST_PATTERN]
            )[::-1]
            self.positions = [position for position, _, _ in recent]
            self.evaluator = spc.RuleEvaluator.resume(
                center=self.limit_set.center_line,
                rules=self.chart.rules,
                recent_values=[value for _, value, _ in recent],
                recent_sigmas=[sigma for _, _, sigma in recent],
                next_index=len(recent),
            )
        return self.evaluator

    def _previous_individual(self, index: int) -> float | None:
        if self.previous_value is None and index > 0:
            previous = (
                self.chart.subgroups.filter(index__lt=index, is_complete=True)
                .order_by("-index")
                .first()
            )
            self.previous_value = previous.values[0] if previous is not None else None
        return self.previous_value

    def new_subgroup(self, **fields) -> Subgroup:
        subgroup = Subgroup(chart=self.chart, index=self.next_index, **fields)
        self.next_index += 1
        return subgroup

    def complete(self, subgroup: Subgroup) -> Subgroup:
        """Plot a complete subgroup under the current limits and check the rules."""
        subgroup.is_complete = True
        self.completed.append(subgroup)
        chart_type = self.chart.chart_type
        if chart_type == ControlChartType.I_MR:
            previous = self._previous_individual(subgroup.index)
            value = subgroup.values[0]
            subgroup.dispersion = None if previous is None else abs(value - previous)
            self.previous_value = value
        if self.limits is None:
            self._pending.append(subgroup)
            return subgroup
        points = spc.chart_points(self.limits, **_baseline_input(self.chart, [subgroup]))
        subgroup.limit_set = self.limit_set
        subgroup.statistic = float(points.statistic[0])
        if chart_type != ControlChartType.I_MR and points.dispersion is not None:
            subgroup.dispersion = float(points.dispersion[0])
        subgroup.lower_limit = float(points.lower[0])
        subgroup.upper_limit = float(points.upper[0])
        subgroup.sigma = float(points.sigma[0])
        center = self.limit_set.center_line
        subgroup.zone = str(spc.zone_of((subgroup.statistic - center) / subgroup.sigma))
        self._pending.append(subgroup)
        found = self._evaluator(subgroup.index).feed(subgroup.statistic, sigma=subgroup.sigma)
        self.positions.append(subgroup.index)
        if found:
            now = timezone.now()
            violations = [
                RuleViolation(
                    chart=self.chart,
                    subgroup=subgroup,
                    limit_set=self.limit_set,
                    rule=str(violation.rule),
                    zone=str(violation.zone),
                    point_indices=[self.positions[point] for point in violation.points],
                    detected_at=now,
                )
                for violation in found
            ]
            self.reactions.append((subgroup, violations))
        return subgroup

    def finish(self) -> None:
        """Write the batch's subgroups and violations (in bulk), then propose the reactions."""
        if self.open is not None:
            self._pending.append(self.open)
            self.open = None
        new = [subgroup for subgroup in self._pending if subgroup.pk is None]
        for subgroup in self._pending:
            if subgroup.pk is not None:
                subgroup.save()
        Subgroup.objects.bulk_create(new)
        self._pending = []
        RuleViolation.objects.bulk_create(
            violation for _subgroup, violations in self.reactions for violation in violations
        )
        for subgroup, violations in self.reactions:
            spc_reaction_propose(chart=self.chart, subgroup=subgroup, violations=violations)
        if self.completed:
            # the chart page refreshes on this (after commit, at most 1 Hz per chart)
            broadcast(
                [group_name("equipment", self.chart.equipment_id)],
                "spc_point",
                {
                    "chart": self.chart.pk,
                    "last_index": self.completed[-1].index,
                    "violations": sum(len(violations) for _s, violations in self.reactions),
                },
                aggregate=True,
                subject=f"spc:{self.chart.pk}",
            )
        self.reactions = []
        self.completed = []


def _finite(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(field, f"{value!r} is not a number.") from None
    if not math.isfinite(number):
        raise _invalid(field, "A measurement must be a finite number (no NaN).")
    return number


def _unit_check(chart: ControlChart, unit: str | None) -> None:
    expected = chart.characteristic.unit
    if unit is not None and unit != "" and unit != expected:
        raise _invalid(
            "unit", f"{chart.characteristic.code} is measured in {expected!r}, not {unit!r}."
        )


@transaction.atomic
def subgroup_record(
    *,
    chart: ControlChart,
    values: Sequence[float] | None = None,
    defect_count: float | None = None,
    inspected_count: float | None = None,
    measured_at: datetime | None = None,
    unit: str | None = None,
    lot=None,
    serial_unit=None,
    operation=None,
    actor=None,
    source: str = SubgroupSource.API,
) -> Subgroup:
    """Record one whole subgroup (REST API, HMI): plotted and checked at once."""
    _unit_check(chart, unit)
    fields: dict[str, Any] = {}
    if chart.chart_type in VARIABLES:
        if values is None:
            raise _invalid("values", "A variables chart takes the subgroup's values.")
        numbers = [_finite(value, "values") for value in values]
        if len(numbers) != chart.subgroup_size:
            raise _invalid(
                "values",
                f"{chart.characteristic.code} takes subgroups of {chart.subgroup_size} "
                f"values, not {len(numbers)}.",
            )
        fields["values"] = numbers
    else:
        fields.update(_attribute_fields(chart, defect_count, inspected_count))
    session = _ChartSession(chart)
    subgroup = session.new_subgroup(
        measured_at=measured_at or timezone.now(),
        source=source,
        lot=lot,
        serial_unit=serial_unit,
        operation=operation,
        entered_by=actor if actor is not None and actor.is_authenticated else None,
        **fields,
    )
    if session.open is not None:
        # a half-filled subgroup from the UNS is overtaken: it stays incomplete, unplotted
        session.open = None
    session.complete(subgroup)
    session.finish()
    return subgroup


def _attribute_fields(
    chart: ControlChart, defect_count: float | None, inspected_count: float | None
) -> dict[str, float]:
    if defect_count is None:
        raise _invalid("defect_count", "An attribute chart takes the count of defects.")
    count = _finite(defect_count, "defect_count")
    if chart.chart_type == ControlChartType.C:
        size = 1.0 if inspected_count is None else _finite(inspected_count, "inspected_count")
    elif inspected_count is None:
        size = float(chart.subgroup_size)
    else:
        size = _finite(inspected_count, "inspected_count")
    if chart.chart_type == ControlChartType.NP and size != chart.subgroup_size:
        raise _invalid(
            "inspected_count", f"This np chart takes subgroups of {chart.subgroup_size} units."
        )
    if size <= 0:
        raise _invalid("inspected_count", "The units inspected must be positive.")
    if count < 0:
        raise _invalid("defect_count", "A count cannot be negative.")
    if chart.chart_type in {ControlChartType.P, ControlChartType.NP} and count > size:
        raise _invalid("defect_count", "More defectives than units inspected.")
    return {"defect_count": count, "inspected_count": size}


@transaction.atomic
def measurements_record(*, measurements: Sequence[MeasurementIn]) -> list[Subgroup]:
    """Append single values (UNS, signals) to their charts' open subgroups; a subgroup that
    reaches the chart's size is plotted and checked. One lock and one evaluator per chart for
    the whole batch. Returns the subgroups completed. The values must be checked already
    (``measurement_validate``)."""
    sessions: dict[int, _ChartSession] = {}
    completed: list[Subgroup] = []
    for measurement in measurements:
        chart = measurement.chart
        session = sessions.get(chart.pk)
        if session is None:
            session = sessions[chart.pk] = _ChartSession(chart)
        if chart.chart_type not in VARIABLES:
            fields = _attribute_fields(chart, measurement.value, measurement.size)
            subgroup = session.new_subgroup(
                measured_at=measurement.measured_at,
                source=SubgroupSource.UNS,
                lot=measurement.lot,
                serial_unit=measurement.serial_unit,
                operation=measurement.operation,
                **fields,
            )
            completed.append(session.complete(subgroup))
            continue
        subgroup = session.open
        if subgroup is None:
            subgroup = session.new_subgroup(
                measured_at=measurement.measured_at, source=SubgroupSource.UNS, values=[]
            )
        subgroup.values = [*subgroup.values, measurement.value]
        subgroup.measured_at = measurement.measured_at
        subgroup.lot = measurement.lot or subgroup.lot
        subgroup.serial_unit = measurement.serial_unit or subgroup.serial_unit
        subgroup.operation = measurement.operation or subgroup.operation
        if len(subgroup.values) >= session.chart.subgroup_size:
            session.open = None
            completed.append(session.complete(subgroup))
        else:
            session.open = subgroup  # written once, when the batch finishes, if still open
    for session in sessions.values():
        session.finish()
    return completed


def measurement_validate(
    chart: ControlChart, *, value: Any, unit: str | None, size: float | None = None
) -> float:
    """A single measured value for ``chart``, checked (finite, unit; for an attribute chart the
    count against the size): raises ValidationFailed naming the field."""
    _unit_check(chart, unit)
    number = _finite(value, "value")
    if chart.chart_type not in VARIABLES:
        _attribute_fields(chart, number, size)
    return number
