"""Fleet RUL model in the app: training from stored history, the registry, use in the refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
import sklearn
from django.core.management import CommandError, call_command

from maintenance import services
from maintenance.algorithms.fleet_rul import FleetRulSettings, feature_schema_hash
from maintenance.algorithms.synthetic_runs import SyntheticFleetSpec, synthetic_fleet
from maintenance.models import HealthSnapshot, MaintenanceWorkOrder, RulModelVersion
from maintenance.services.rul_models import machine_class_assign, rul_model_use
from mes_site.errors import ValidationFailed
from production.models import Equipment
from tests.maintenance.conftest import BASELINE_WINDOWS
from tests.mfa import login_verified
from traceability.models import AuditEvent

CLASS = "spindle-7014"
SETTINGS = FleetRulSettings(cap_h=2160.0)
# Quiet runs, like the median RMS ratio of 8 windows of the synthetic bearing.
SPEC = SyntheticFleetSpec(noise_fraction=0.01)


@pytest.fixture
def logged_in_operator(client, make_user):
    return login_verified(client, make_user("operator"))


def _store_run(equipment, start: datetime, run) -> datetime:
    """The run's samples as assessed snapshots from ``start``; returns its end time."""
    HealthSnapshot.objects.bulk_create(
        HealthSnapshot(
            equipment=equipment,
            ts=start + timedelta(hours=float(time_h)),
            state="assessed",
            rms_ratio=float(ratio),
        )
        for time_h, ratio in zip(run.times_h, run.indicator, strict=True)
    )
    return start + timedelta(hours=float(run.end_h))


@pytest.fixture
def fleet_history(plant):
    """Six spindles of one class with eight finished runs (seven failures, one replacement by
    predictive work), stored as snapshots and run ends; they start 90 days ago."""
    runs = iter(synthetic_fleet(8, seed=5, spec=SPEC))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)
    members = []
    for index in range(6):
        equipment = Equipment.objects.create(
            cell=plant.equipment.cell, code=f"SP-{index}", name=f"Spindle {index}"
        )
        machine_class_assign(equipment_id=equipment.pk, machine_class_code=CLASS)
        members.append(equipment)
        run_start = start
        for run_number in range(2 if index < 2 else 1):
            ended_at = _store_run(equipment, run_start, next(runs))
            if index == 1 and run_number == 1:
                MaintenanceWorkOrder.objects.create(
                    number=f"PDM-T-{index}",
                    equipment=equipment,
                    kind="predictive",
                    state="done",
                    title="Replace the spindle bearing",
                    requested_at=ended_at - timedelta(hours=5),
                    started_at=ended_at,
                    completed_at=ended_at + timedelta(hours=2),
                )
            else:
                services.failure_event_record(
                    equipment=equipment,
                    failed_at=ended_at,
                    repaired_at=ended_at + timedelta(hours=2),
                    create_work_order=False,
                )
            run_start = ended_at + timedelta(hours=2)
    return members


def _train(*args: str) -> str:
    out = StringIO()
    call_command("train_rul", CLASS, "--cap-h", "150", *args, stdout=out)
    return out.getvalue()


def test_train_rul_learns_from_the_stored_runs_and_versions_the_model(fleet_history) -> None:
    output = _train()
    first = RulModelVersion.objects.get()
    assert (first.version, first.is_in_use, first.run_count) == (1, True, 8)
    assert sorted({run["ended_by"] for run in first.training_runs}) == ["failure", "maintenance"]
    assert {run["equipment"] for run in first.training_runs} == {e.pk for e in fleet_history}
    assert first.cap_h == 150.0
    assert first.format_version == "fleet-rul-1"
    assert 0.6 <= first.coverage <= 0.95
    assert first.rmse_h < 40.0  # "always the cap" scores about 80 h here
    assert output.startswith(f"{CLASS}: fleet RUL v1 in use — 8 runs, ")
    assert "p10–p90 coverage" in output

    _train()  # the same history again: a new version, the same model
    second = RulModelVersion.objects.get(version=2)
    first.refresh_from_db()
    assert (first.is_in_use, second.is_in_use) == (False, True)
    assert second.metrics == first.metrics
    audit = AuditEvent.objects.filter(action="fleet RUL model trained").order_by("pk")
    assert [(event.old_value, event.new_value) for event in audit] == [("", "v1"), ("v1", "v2")]


def test_train_rul_refuses_too_little_history_and_keeps_the_model_in_use(plant) -> None:
    machine_class_assign(equipment_id=plant.equipment.pk, machine_class_code=CLASS)
    run = synthetic_fleet(1, seed=3, spec=SPEC)[0]
    start = datetime.now(UTC) - timedelta(days=30)
    ended_at = _store_run(plant.equipment, start, run)
    services.failure_event_record(
        equipment=plant.equipment, failed_at=ended_at, create_work_order=False
    )
    err = StringIO()
    with pytest.raises(CommandError, match=f"not trained: {CLASS}"):
        call_command("train_rul", CLASS, stderr=err)
    assert err.getvalue().startswith(
        f"{CLASS}: not enough history: 1 run-to-failure histories of at least 10 h, 5 needed"
    )
    assert not RulModelVersion.objects.exists()


def _run_spindle(spindle, feed, hours: range) -> list[tuple[int, HealthSnapshot]]:
    snapshots = []
    for hour in hours:
        feed.write(spindle, float(hour), 8)
        outcome = services.health_refresh(equipment_id=spindle.equipment.pk)
        snapshots.append((hour, outcome.snapshot))
    return snapshots


@pytest.fixture
def fleet_model(fleet_history, spindle):
    _train()
    machine_class_assign(equipment_id=spindle.equipment.pk, machine_class_code=CLASS)
    return RulModelVersion.objects.get(is_in_use=True)


def test_the_refresh_uses_the_fleet_model_once_the_run_has_enough_history(
    spindle, feed, fleet_model, no_scheduler
) -> None:
    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    services.health_refresh(equipment_id=spindle.equipment.pk)
    hours = [*range(1, 17), *range(19, 67, 3)]
    snapshots = dict(_run_spindle(spindle, feed, hours))
    young = snapshots[4]
    assert (young.rul_model, young.fleet_rul_state) == ("trend", "not_enough_history")
    assert young.rul_model_version == fleet_model
    assert young.rul_detail == (
        f"fleet model {CLASS} v1: not enough history: 3 h of this run recorded, 10 h needed "
        "— trend extrapolation used"
    )
    healthy = snapshots[13]  # the defect starts at 12 h: no end within the 150 h cap yet
    assert (healthy.rul_model, healthy.rul_state, healthy.rul_p50_h) == (
        "fleet",
        "not_degrading",
        None,
    )
    assert healthy.rul_detail == f"fleet model {CLASS} v1: no end of life within its 150 h horizon"
    early = snapshots[31]
    assert (early.rul_model, early.fleet_rul_state, early.rul_state) == (
        "fleet",
        "estimated",
        "estimated",
    )
    late = snapshots[64]  # fails at 72 h: true RUL 8 h
    assert (late.rul_model, late.fleet_rul_state, late.rul_state) == (
        "fleet",
        "estimated",
        "estimated",
    )
    assert 0.0 <= late.rul_p10_h <= late.rul_p50_h <= late.rul_p90_h <= 150.0
    assert abs(late.rul_p50_h - 8.0) < 10.0
    assert late.rul_detail.startswith(f"fleet model {CLASS} v1: p50 ")
    assert late.recommendation == "critical"
    assert early.rul_p50_h > 5 * late.rul_p50_h


def test_a_model_of_another_version_is_refused_with_model_out_of_date(
    spindle, feed, fleet_model, no_scheduler
) -> None:
    RulModelVersion.objects.filter(pk=fleet_model.pk).update(library_version="0.24")
    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    services.health_refresh(equipment_id=spindle.equipment.pk)
    snapshot = _run_spindle(spindle, feed, range(1, 3))[-1][1]
    assert (snapshot.rul_model, snapshot.fleet_rul_state) == ("trend", "model_out_of_date")
    assert snapshot.rul_detail == (
        f"fleet model {CLASS} v1: model out of date — retrain: its sklearn is '0.24', "
        f"this version needs '{fleet_model.library_version}'"
    )


def test_equipment_without_a_machine_class_keeps_the_trend(spindle, feed, no_scheduler) -> None:
    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    services.health_refresh(equipment_id=spindle.equipment.pk)
    snapshot = _run_spindle(spindle, feed, range(1, 2))[-1][1]
    assert (snapshot.rul_model, snapshot.fleet_rul_state, snapshot.rul_model_version) == (
        "trend",
        "",
        None,
    )
    assert np.isfinite(snapshot.alpha)


def _registered_version(plant) -> RulModelVersion:
    """A registry row as train_rul writes it (its payload is not loaded by the page)."""
    member = machine_class_assign(equipment_id=plant.equipment.pk, machine_class_code=CLASS)
    return RulModelVersion.objects.create(
        machine_class=member.machine_class,
        version=3,
        is_in_use=True,
        trained_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        history_until_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        run_count=14,
        cut_point_count=2100,
        rmse_h=12.34,
        coverage=0.79,
        cap_h=2160.0,
        settings=SETTINGS.as_dict(),
        format_version="fleet-rul-1",
        feature_schema_hash=feature_schema_hash(SETTINGS),
        library_version=".".join(sklearn.__version__.split(".")[:2]),
        payload=b"",
        payload_size=0,
    )


def test_the_equipment_page_and_api_show_the_rul_model_its_interval_and_state(
    plant, logged_in_operator
) -> None:
    version = _registered_version(plant)
    now = datetime.now(UTC).replace(microsecond=0)
    fleet_detail = f"fleet model {CLASS} v3: p50 60 h, 80% interval 48–96 h"
    HealthSnapshot.objects.create(
        equipment=plant.equipment,
        ts=now - timedelta(hours=1),
        state="assessed",
        alpha=0.3,
        rul_state="estimated",
        rul_p10_h=48.0,
        rul_p50_h=60.0,
        rul_p90_h=96.0,
        recommendation="critical",
        rul_model="fleet",
        rul_model_version=version,
        fleet_rul_state="estimated",
        rul_detail=fleet_detail,
    )
    page = logged_in_operator.get(f"/equipment/{plant.equipment.pk}/").content.decode()
    assert '<tr data-rul-model="fleet"><th>RUL from</th><td>Fleet model' in page
    assert f'<div class="small muted" data-rul-detail>{fleet_detail}</div>' in page
    assert "2.0 / 2.5 / 4.0 days" in page
    assert f"Fleet RUL model in use: {CLASS} v3, trained " in page
    assert "from 14 runs; cross-validated RMSE 12.3 h, p10–p90 coverage 79 % (nominal 80 %)" in page

    young_detail = (
        f"fleet model {CLASS} v3: not enough history: 4 h of this run recorded, 10 h needed "
        "— trend extrapolation used"
    )
    HealthSnapshot.objects.create(
        equipment=plant.equipment,
        ts=now,
        state="assessed",
        alpha=0.1,
        rul_state="not_enough_data",
        recommendation="low",
        rul_model="trend",
        rul_model_version=version,
        fleet_rul_state="not_enough_history",
        rul_detail=young_detail,
    )
    page = logged_in_operator.get(f"/equipment/{plant.equipment.pk}/").content.decode()
    assert "<tr><th>RUL p10 / p50 / p90</th><td>Not enough data</td></tr>" in page
    assert '<tr data-rul-model="trend"><th>RUL from</th><td>Trend extrapolation' in page
    assert young_detail in page
    assert fleet_detail not in page

    current = logged_in_operator.get(
        "/api/maintenance/health/current/", {"equipment": plant.equipment.pk}
    ).json()
    assert [
        (row["rul_model"], row["rul_model_version"], row["fleet_rul_state"], row["rul_detail"])
        for row in current
    ] == [("trend", version.pk, "not_enough_history", young_detail)]


def test_the_equipment_page_says_when_no_fleet_model_exists(plant, logged_in_operator) -> None:
    page = logged_in_operator.get(f"/equipment/{plant.equipment.pk}/").content.decode()
    assert (
        "No fleet RUL model for this machine's class: the RUL is the trend extrapolation of "
        "its own history." in page
    )


def test_an_earlier_version_can_be_put_back_in_use_but_not_one_out_of_date(plant) -> None:
    newer = _registered_version(plant)
    older = RulModelVersion.objects.get(pk=newer.pk)
    older.pk, older.version, older.is_in_use = None, 2, False
    older.save()
    rul_model_use(version_id=older.pk)
    assert list(
        RulModelVersion.objects.filter(is_in_use=True).values_list("version", flat=True)
    ) == [2]
    event = AuditEvent.objects.get(action="fleet RUL model put in use")
    assert (event.old_value, event.new_value) == ("v3", "v2")
    RulModelVersion.objects.filter(pk=newer.pk).update(format_version="fleet-rul-0")
    with pytest.raises(ValidationFailed, match="model out of date — retrain: its format"):
        rul_model_use(version_id=newer.pk)
    assert RulModelVersion.objects.get(is_in_use=True).pk == older.pk
