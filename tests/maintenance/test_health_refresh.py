"""Health refresh from stored feature readings: baseline, snapshots, not enough data, episodes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from maintenance import services
from maintenance.models import AnomalyEpisode, HealthBaseline, HealthSnapshot
from mes_site.errors import NotFound, ValidationFailed
from tests.maintenance.conftest import BASELINE_WINDOWS, features_write


def test_degrading_bearing_alpha_rises_and_rul_shrinks(spindle, feed, no_scheduler):
    # Not enough data first: 20 of the 60 baseline windows.
    feed.write(spindle, 0.0, 20)
    first = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    assert first.state == "not_enough_data"
    assert first.detail == "learning the healthy baseline: 20 of 60 windows recorded"
    assert (first.alpha, first.rul_p10_h, first.rul_p50_h, first.recommendation) == (
        None,
        None,
        None,
        "",
    )
    feed.write(spindle, 0.0, BASELINE_WINDOWS - 20, offset_s=60)
    snapshots = [services.health_refresh(equipment_id=spindle.equipment.pk).snapshot]
    baseline = HealthBaseline.objects.get(equipment=spindle.equipment)
    assert (baseline.status, baseline.window_count) == ("current", 60)
    for hour in range(1, 71):
        feed.write(spindle, float(hour), 8)
        outcome = services.health_refresh(equipment_id=spindle.equipment.pk)
        assert outcome.is_new
        snapshots.append(outcome.snapshot)

    assert all(snapshot.state == "assessed" for snapshot in snapshots)
    by_hour = {round((s.ts - spindle.start).total_seconds() / 3600): s for s in snapshots}
    # Healthy (before the defect at 12 h): low α, low recommendation, no made-up RUL early.
    healthy = [by_hour[hour] for hour in range(0, 12)]
    assert max(snapshot.alpha for snapshot in healthy) < 0.5
    assert {snapshot.recommendation for snapshot in healthy} == {"low"}
    assert [snapshot.rul_state for snapshot in healthy[:9]] == ["not_enough_data"] * 9
    assert all(snapshot.rul_p50_h is None for snapshot in healthy)
    # Degraded: α at its maximum, critical, RUL estimated and shrinking towards failure.
    late = [by_hour[hour] for hour in range(60, 71)]
    assert all(snapshot.alpha > 0.99 for snapshot in late)
    assert {snapshot.recommendation for snapshot in late} == {"critical"}
    estimated = [s for s in late if s.rul_state == "estimated"]
    assert len(estimated) >= 8
    for snapshot in estimated:
        assert snapshot.rul_p10_h <= snapshot.rul_p50_h <= snapshot.rul_p90_h
    assert estimated[-1].rul_p50_h < estimated[0].rul_p50_h
    assert estimated[0].rul_p50_h < 72 - 60 + 6  # within a few hours of the truth (12 h)
    assert by_hour[70].health_index < by_hour[40].health_index < by_hour[5].health_index
    assert by_hour[70].degradation_slope_per_h > 0
    assert by_hour[70].model_version == "maint-health-1.0"
    # One anomaly episode, opened when α first crossed the threshold, still open.
    episode = AnomalyEpisode.objects.get(equipment=spindle.equipment)
    first_anomalous = next(s for s in snapshots if s.is_anomaly)
    assert (episode.state, episode.started_at) == ("open", first_anomalous.ts)
    assert all(s.is_anomaly for s in snapshots if s.ts >= first_anomalous.ts and s.alpha > 0.9)


def test_refresh_is_idempotent_and_debounced(spindle, feed, baseline_learned):
    again = services.health_refresh(equipment_id=spindle.equipment.pk)
    assert (again.is_new, again.snapshot.pk) == (False, baseline_learned.pk)
    # Windows 30 s after the last snapshot: within MAINTENANCE_SNAPSHOT_MIN_INTERVAL_S.
    feed.write(spindle, 0.0, 8, offset_s=70)
    debounced = services.health_refresh(equipment_id=spindle.equipment.pk)
    assert debounced.is_new is False
    assert HealthSnapshot.objects.filter(equipment=spindle.equipment).count() == 1


def test_too_few_recent_windows_is_not_enough_data(spindle, feed, baseline_learned):
    feed.write(spindle, 2.0, 3)
    snapshot = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    assert snapshot.state == "not_enough_data"
    assert snapshot.detail == "3 complete windows within 600 s of the newest; 8 needed"
    assert (snapshot.alpha, snapshot.rul_state, snapshot.window_count) == (None, "", 3)


def test_incomplete_windows_are_left_out(spindle, feed, baseline_learned):
    times = [spindle.at(2.0, index) for index in range(10)]
    matrix = feed.features(2.0, 10)
    matrix[[1, 4], 2] = np.nan  # the kurtosis reading of two windows never arrived
    features_write(spindle, times, matrix)
    snapshot = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    assert (snapshot.state, snapshot.window_count) == ("assessed", 8)


def test_a_dead_feature_cannot_make_a_baseline(spindle, feed):
    times = [spindle.at(0.0, index) for index in range(BASELINE_WINDOWS)]
    matrix = feed.features(0.0, BASELINE_WINDOWS)
    matrix[:, 7] = 0.0  # the 2.5–5 kHz band energy is identically zero (broken channel)
    features_write(spindle, times, matrix)
    snapshot = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    assert snapshot.state == "not_enough_data"
    assert snapshot.detail == (
        "the healthy baseline cannot be learned: feature(s) ['band_energy_2500_5000_hz'] are "
        "identically zero over the baseline windows"
    )
    assert HealthBaseline.objects.get(equipment=spindle.equipment).status == "learning"


def test_equipment_without_feature_signals_is_refused(plant):
    with pytest.raises(ValidationFailed) as error:
        services.health_refresh(equipment_id=plant.other_equipment.pk)
    assert error.value.code == "feature_signals_missing"
    assert "vibration_rms" in error.value.message
    with pytest.raises(NotFound):
        services.health_refresh(equipment_id=999_999)
    assert not HealthSnapshot.objects.exists()


def test_task_refreshes_and_swallows_unmonitored_equipment(spindle, feed, plant):
    from maintenance.tasks import health_refresh

    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    snapshot_id = health_refresh.apply(args=[spindle.equipment.pk]).get()
    assert HealthSnapshot.objects.get(pk=snapshot_id).state == "assessed"
    assert health_refresh.apply(args=[spindle.equipment.pk]).get() is None  # nothing new
    assert health_refresh.apply(args=[plant.other_equipment.pk]).get() is None
    assert HealthSnapshot.objects.count() == 1


def test_relearn_keeps_the_old_baseline_until_the_new_one_has_its_windows(
    spindle, feed, baseline_learned
):
    old = HealthBaseline.objects.get(equipment=spindle.equipment, status="current")
    relearn_from = spindle.at(5.0)
    services.health_baseline_relearn(
        equipment_id=spindle.equipment.pk, learn_from_at=relearn_from, reason="bearing changed"
    )
    feed.write(spindle, 5.0, 30)
    partial = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    assert (partial.state, partial.baseline_id) == ("assessed", old.pk)
    feed.write(spindle, 6.0, 30)
    learned = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    new = HealthBaseline.objects.get(equipment=spindle.equipment, status="current")
    assert new.pk != old.pk and learned.baseline_id == new.pk
    assert (new.window_count, new.windows_from_at) == (60, relearn_from)
    assert HealthBaseline.objects.get(pk=old.pk).status == "retired"
    assert new.data["feature_names"][0] == "rms" and len(new.data["mean"]) == 8


def test_episode_closes_after_the_cool_down(spindle, settings, baseline_learned, no_scheduler):
    from tests.maintenance.conftest import BearingFeed

    settings.MAINTENANCE_EPISODE_COOLDOWN_H = 3.0
    sick = BearingFeed(onset_h=0.0, failure_h=20.0, seed=3)
    healthy = BearingFeed(onset_h=1000.0, failure_h=2000.0, seed=4)
    sick.write(spindle, 18.0, 8, offset_s=0)
    anomalous = services.health_refresh(equipment_id=spindle.equipment.pk)
    assert anomalous.snapshot.is_anomaly and anomalous.loop_ran
    episode = anomalous.episode
    for hour in (19.0, 20.0):  # normal again, but for less than 3 h
        healthy.write(spindle, hour, 8)
        outcome = services.health_refresh(equipment_id=spindle.equipment.pk)
        assert outcome.snapshot.is_anomaly is False
        assert outcome.snapshot.episode_id == episode.pk
    healthy.write(spindle, 21.0, 8)  # 3 h after the last anomalous snapshot
    closing = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    assert closing.episode_id is None
    episode.refresh_from_db()
    assert (episode.state, episode.end_reason) == ("closed", "normal for 3 h")
    assert episode.ended_at == spindle.at(21.0, 7)
    # A new anomaly later is a new episode.
    sick.write(spindle, 19.0, 8, offset_s=3600 * 5)
    services.health_refresh(equipment_id=spindle.equipment.pk)
    assert AnomalyEpisode.objects.filter(equipment=spindle.equipment).count() == 2
    assert timedelta(0) < AnomalyEpisode.objects.latest("started_at").started_at - episode.ended_at


def test_periodic_refresh_covers_every_monitored_equipment(spindle, feed, plant, eager_celery):
    from maintenance.tasks import health_refresh_all

    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    # Only the spindle has feature signals; the plant's other machine is not monitored.
    assert health_refresh_all.apply().get() == 1
    assert list(HealthSnapshot.objects.values_list("equipment_id", "state")) == [
        (spindle.equipment.pk, "assessed")
    ]
    assert services.health_refresh_all() == 0  # nothing new since


def test_each_new_snapshot_goes_to_the_live_screens(
    spindle, feed, django_capture_on_commit_callbacks
):
    from live.broadcast import group_name, latest_get

    feed.write(spindle, 0.0, BASELINE_WINDOWS)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = services.health_refresh(equipment_id=spindle.equipment.pk).snapshot
    for group in (
        group_name("equipment", spindle.equipment.pk),
        group_name("line", spindle.line.pk),
    ):
        [health] = [
            item
            for item in latest_get(group)
            if (item["event"], item["subject"]) == ("health", str(spindle.equipment.pk))
        ]
        assert (health["payload"]["id"], health["payload"]["state"]) == (snapshot.pk, "assessed")
        assert health["payload"]["alpha"] == pytest.approx(snapshot.alpha)
