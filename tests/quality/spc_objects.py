"""An SPC chart with points, limits and one violation on a given machine, made directly (for
the route and scope tests, which need one own and one foreign object of each kind)."""

from __future__ import annotations

from django.utils import timezone

from quality.models import (
    Characteristic,
    ControlChart,
    ControlLimitSet,
    RuleViolation,
    Subgroup,
)

VALUES = ([10.0, 10.2, 9.8], [10.1, 9.9, 10.0], [11.0, 11.1, 10.9])


def spc_chart_with_violation(equipment, line) -> tuple[ControlChart, RuleViolation]:
    now = timezone.now()
    characteristic = Characteristic.objects.create(
        code=f"SPC-{line.code}", name="Bore", unit="mm", lower_spec_limit=9.0, upper_spec_limit=12.0
    )
    chart = ControlChart.objects.create(
        characteristic=characteristic,
        chart_type="xbar_r",
        subgroup_size=3,
        rules=["nelson_1"],
        equipment=equipment,
    )
    limit_set = ControlLimitSet.objects.create(
        chart=chart,
        version=1,
        center_line=10.0,
        lower_limit=9.7,
        upper_limit=10.3,
        limits={},
        baseline_first_index=0,
        baseline_last_index=1,
        computed_at=now,
        reason="test",
    )
    subgroups = [
        Subgroup.objects.create(
            chart=chart,
            index=index,
            values=values,
            is_complete=True,
            measured_at=now,
            source="api",
            limit_set=limit_set,
            statistic=sum(values) / 3,
            sigma=0.1,
        )
        for index, values in enumerate(VALUES)
    ]
    violation = RuleViolation.objects.create(
        chart=chart,
        subgroup=subgroups[-1],
        limit_set=limit_set,
        rule="nelson_1",
        zone="beyond_upper",
        point_indices=[2],
        detected_at=now,
    )
    return chart, violation
