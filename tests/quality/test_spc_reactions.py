"""The reaction plan through the guardrails: a violation proposes the chart's reaction as a
ProposedAction under the site's autonomy mode — a hold of the lots since the last good point
(low risk), a stop of the running operation (high risk: always waits), an alert — once per
point, with an inverse that undoes it."""

from __future__ import annotations

import pytest

from autonomy.models import ActionPolicy, ProposedAction
from autonomy.services.guardrails import action_approve, action_revert
from production.models import Operation, Site
from quality.models import RuleViolation
from quality.services import control_limits_compute, subgroup_record
from traceability.models import Lot

pytestmark = pytest.mark.django_db

BASELINE = [[10.0, 10.2, 9.8], [10.1, 9.9, 10.0], [9.9, 10.1, 10.2], [10.0, 9.8, 10.1]]
OUT = [11.0, 11.1, 10.9]
GOOD = [10.0, 10.1, 9.9]


@pytest.fixture
def policies(db):
    # the risks docs/quality.md recommends (and the demo plant sets)
    for kind, risk in {
        "quality_alert": "low",
        "spc_lot_hold": "low",
        "operation_stop": "high",
    }.items():
        ActionPolicy.objects.get_or_create(kind=kind, defaults={"risk": risk})


def _charted(make_chart, plant, mode, **overrides):
    Site.objects.filter(pk=plant.site.pk).update(autonomy_mode=mode)
    chart = make_chart(**overrides)
    for row in BASELINE:
        subgroup_record(chart=chart, values=row)
    control_limits_compute(chart_id=chart.pk, first_index=0, last_index=3, actor=None, reason="x")
    return chart


def test_supervised_mode_holds_the_lots_since_the_last_good_point(
    policies, make_chart, make_lot, plant
):
    chart = _charted(make_chart, plant, "supervised", reaction="hold")
    before, first, second = make_lot("LOT-A"), make_lot("LOT-B"), make_lot("LOT-C")
    subgroup_record(chart=chart, values=GOOD, lot=before)  # index 4: the last good point
    subgroup_record(chart=chart, values=OUT, lot=first)  # index 5: nelson 1
    subgroup_record(chart=chart, values=OUT, lot=second)  # index 6: nelson 1 and 5

    actions = list(ProposedAction.objects.order_by("pk"))
    assert [(a.kind, a.status, a.risk) for a in actions] == [("spc_lot_hold", "applied", "low")] * 2
    assert [a.payload["lot_ids"] for a in actions] == [[first.pk], [first.pk, second.pk]]
    assert [a.result["held_lot_ids"] for a in actions] == [[first.pk], [second.pk]]
    held = set(Lot.objects.filter(status="on_hold").values_list("code", flat=True))
    assert held == {"LOT-B", "LOT-C"}
    assert Lot.objects.get(code="LOT-A").status == "available"
    assert "nelson_1" in actions[1].explanation and "LOT-B, LOT-C" in actions[1].explanation
    assert actions[1].dedupe_key == f"spc:{chart.pk}:6"


def test_autonomy_off_only_proposes_the_hold(policies, make_chart, make_lot, plant):
    chart = _charted(make_chart, plant, "off", reaction="hold")
    subgroup_record(chart=chart, values=OUT, lot=make_lot("LOT-C"))

    action = ProposedAction.objects.get()
    assert (action.kind, action.status) == ("spc_lot_hold", "proposed")
    assert Lot.objects.get(code="LOT-C").status == "available"


def test_a_hold_is_reverted_through_the_guardrails(
    policies, make_chart, make_lot, plant, make_user
):
    chart = _charted(make_chart, plant, "supervised", reaction="hold")
    subgroup_record(chart=chart, values=OUT, lot=make_lot("LOT-C"))
    action = ProposedAction.objects.get()
    assert Lot.objects.get(code="LOT-C").status == "on_hold"

    action_revert(action_id=action.pk, user=make_user("supervisor"), reason="false alarm")

    assert Lot.objects.get(code="LOT-C").status == "available"
    assert ProposedAction.objects.get().status == "reverted"


def test_stopping_the_operation_always_waits_for_a_supervisor(
    policies, make_chart, plant, make_work_order, make_user
):
    chart = _charted(make_chart, plant, "full", reaction="stop")
    work_order = make_work_order(state="in_progress")
    operation = work_order.operations.first()
    Operation.objects.filter(pk=operation.pk).update(
        state="in_progress", assigned_equipment=plant.equipment
    )
    subgroup_record(chart=chart, values=OUT)

    action = ProposedAction.objects.get()
    assert (action.kind, action.status, action.risk) == (
        "operation_stop",
        "awaiting_approval",
        "high",
    )
    assert Operation.objects.get(pk=operation.pk).state == "in_progress"
    supervisor = make_user("supervisor")
    action_approve(action_id=action.pk, user=supervisor, password="secret-pass-1")
    assert Operation.objects.get(pk=operation.pk).state == "paused"


def test_stop_without_a_running_operation_is_an_alert(policies, make_chart, plant):
    chart = _charted(make_chart, plant, "supervised", reaction="stop")
    subgroup_record(chart=chart, values=OUT)

    action = ProposedAction.objects.get()
    assert (action.kind, action.status) == ("quality_alert", "applied")
    assert "No operation is running" in action.explanation
    assert RuleViolation.objects.exclude(alerted_at=None).count() == RuleViolation.objects.count()


def test_one_proposal_per_point_and_none_without_a_reaction(policies, make_chart, plant):
    chart = _charted(make_chart, plant, "supervised", reaction="alert")
    subgroup_record(chart=chart, values=OUT)
    subgroup_record(chart=chart, values=OUT)
    assert ProposedAction.objects.count() == 2
    assert sorted(ProposedAction.objects.values_list("dedupe_key", flat=True)) == [
        f"spc:{chart.pk}:4",
        f"spc:{chart.pk}:5",
    ]
    quiet = _charted(make_chart, plant, "supervised", reaction="none")
    assert quiet.pk == chart.pk  # reconfigured: no reaction from now on
    subgroup_record(chart=chart, values=OUT)
    assert ProposedAction.objects.count() == 2
