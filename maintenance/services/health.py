"""Health of an equipment from its stored vibration features: baseline, snapshots, episodes.

:func:`health_refresh` is what the ``maintenance.tasks.health_refresh`` task runs after new
feature readings arrive (and beat runs periodically for every monitored equipment):

1. The newest complete feature windows are read from the telemetry store (at most
   ``MAINTENANCE_RECENT_WINDOWS_MAX`` within ``MAINTENANCE_RECENT_MAX_AGE_S`` of the newest).
   The snapshot's ``ts`` is the newest window's time, so running twice on the same data
   writes nothing new (one snapshot per equipment and ``ts``), and snapshots are at least
   ``MAINTENANCE_SNAPSHOT_MIN_INTERVAL_S`` apart.
2. Without a current healthy baseline, it is learned from the first
   ``MAINTENANCE_BASELINE_WINDOWS`` windows (from the relearn time, if one was requested);
   until then the snapshot says "not enough data" with how many windows there are.
3. Fewer recent windows than ``MAINTENANCE_RECENT_WINDOWS_MIN`` → "not enough data".
4. Otherwise ``health_assess`` (α, δ, health index, RUL p10/p50/p90, recommendation) with the
   RMS ratios of the earlier snapshots of the same baseline as the trend history.
5. Anomaly (α above ``MAINTENANCE_ANOMALY_ALPHA`` or recommendation high/critical) opens an
   episode, or continues the open one; the closed loop acts once per episode. An episode
   closes once the equipment has stayed normal for ``MAINTENANCE_EPISODE_COOLDOWN_H``.
6. After commit: the snapshot is broadcast to the equipment's and line's live screens; when
   the recommendation or the anomaly state changed, the diagnostics go to the UNS and the
   scheduler is asked for a new plan.

Refreshes of one equipment are serialised on its row (``FOR NO KEY UPDATE``, which does not
block telemetry inserts that reference the equipment).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from maintenance import selectors
from maintenance.algorithms.anomaly import BaselineError, HealthyBaseline, baseline_fit
from maintenance.algorithms.health import HealthAssessment, health_assess
from maintenance.choices import (
    BaselineStatus,
    EpisodeState,
    HealthState,
    MaintenancePriority,
)
from maintenance.conf import HealthConfig, health_config
from maintenance.models import AnomalyEpisode, HealthBaseline, HealthSnapshot
from maintenance.services import closed_loop, diagnostics, rul_models
from mes_site.errors import NotFound, ValidationFailed
from production.models import Equipment
from traceability.services import audit_event_record

logger = logging.getLogger(__name__)

ANOMALOUS_RECOMMENDATIONS = frozenset({MaintenancePriority.HIGH, MaintenancePriority.CRITICAL})


def _aware(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def _seed(equipment_id: int, ts: datetime) -> int:
    """Deterministic bootstrap seed: the same data always gives the same RUL quantiles."""
    return (equipment_id * 1_000_003 + int(ts.timestamp())) % (2**32)


# --- baseline --------------------------------------------------------------------------------


@transaction.atomic
def health_baseline_relearn(
    *, equipment_id: int, learn_from_at: datetime | None = None, actor=None, reason: str = ""
) -> HealthBaseline:
    """Learn a new healthy baseline from the windows at or after ``learn_from_at`` (now).

    Use after an overhaul or a bearing change. The current baseline stays in use until the
    new one has its windows; a pending relearn request is replaced.
    """
    equipment = Equipment.objects.filter(pk=equipment_id).first()
    if equipment is None:
        raise NotFound(f"No equipment {equipment_id}.")
    selectors.feature_signal_ids(equipment_id=equipment_id)  # refuse unmonitored equipment
    learn_from_at = learn_from_at or timezone.now()
    learning = (
        HealthBaseline.objects.select_for_update()
        .filter(equipment_id=equipment_id, status=BaselineStatus.LEARNING)
        .first()
    )
    if learning is None:
        learning = HealthBaseline(equipment=equipment, status=BaselineStatus.LEARNING)
    learning.learn_from_at = learn_from_at
    learning.requested_by = actor if actor is not None and actor.is_authenticated else None
    learning.reason = reason[:300]
    learning.save()
    audit_event_record(
        actor=actor,
        obj=learning,
        action="relearn baseline",
        new_value=BaselineStatus.LEARNING,
        reason=reason,
        data={"equipment": equipment_id, "learn_from_at": learn_from_at.isoformat()},
    )
    return learning


def _baseline_learn(
    equipment: Equipment, learning: HealthBaseline, config: HealthConfig
) -> tuple[HealthBaseline | None, str]:
    """Try to turn ``learning`` into the current baseline; returns (current or None, why not)."""
    windows = selectors.feature_windows_first(
        equipment_id=equipment.pk, since=learning.learn_from_at, count=config.baseline_windows
    )
    learning.window_count = len(windows)
    if len(windows) < config.baseline_windows:
        learning.save(update_fields=["window_count"])
        return None, (
            f"learning the healthy baseline: {len(windows)} of {config.baseline_windows} "
            "windows recorded"
        )
    try:
        fitted = baseline_fit(windows.matrix, windows.feature_names, settings=config.health)
    except BaselineError as error:
        learning.reason = f"cannot learn: {error}"[:300]
        learning.save(update_fields=["window_count", "reason"])
        return None, f"the healthy baseline cannot be learned: {error}"
    HealthBaseline.objects.filter(equipment=equipment, status=BaselineStatus.CURRENT).update(
        status=BaselineStatus.RETIRED
    )
    learning.status = BaselineStatus.CURRENT
    learning.learned_at = timezone.now()
    learning.windows_from_at = _aware(float(windows.times_s[0]))
    learning.windows_to_at = _aware(float(windows.times_s[-1]))
    learning.feature_names = list(fitted.feature_names)
    learning.data = fitted.as_dict()
    learning.model_version = fitted.model_version
    learning.save()
    audit_event_record(
        actor=None,
        obj=learning,
        action="baseline learned",
        old_value=BaselineStatus.LEARNING,
        new_value=BaselineStatus.CURRENT,
        data={"windows": len(windows), "rms": fitted.rms, "shrinkage": fitted.shrinkage},
    )
    return learning, ""


def _baseline_current(
    equipment: Equipment, config: HealthConfig
) -> tuple[HealthBaseline | None, str]:
    rows = {
        row.status: row
        for row in HealthBaseline.objects.filter(
            equipment=equipment, status__in=[BaselineStatus.CURRENT, BaselineStatus.LEARNING]
        )
    }
    current = rows.get(BaselineStatus.CURRENT)
    learning = rows.get(BaselineStatus.LEARNING)
    if current is None and learning is None:
        learning = HealthBaseline.objects.create(
            equipment=equipment, status=BaselineStatus.LEARNING, reason="first baseline"
        )
    if learning is not None:
        learned, why_not = _baseline_learn(equipment, learning, config)
        if learned is not None:
            return learned, ""
        if current is None:
            return None, why_not
    return current, ""


# --- one refresh -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh wrote (``snapshot`` None: nothing new to evaluate)."""

    snapshot: HealthSnapshot | None
    is_new: bool
    is_changed: bool  # recommendation or anomaly state differs from the previous snapshot
    episode: AnomalyEpisode | None
    loop_ran: bool


def _not_enough_data(
    equipment: Equipment,
    ts: datetime,
    detail: str,
    window_count: int,
    baseline: HealthBaseline | None,
) -> HealthSnapshot:
    open_episode = AnomalyEpisode.objects.filter(
        equipment=equipment, state=EpisodeState.OPEN
    ).first()
    return HealthSnapshot.objects.create(
        equipment=equipment,
        ts=ts,
        state=HealthState.NOT_ENOUGH_DATA,
        detail=detail[:300],
        window_count=window_count,
        baseline=baseline,
        episode=open_episode,
    )


def _is_anomaly(assessment: HealthAssessment, config: HealthConfig) -> bool:
    return (
        assessment.alpha > config.anomaly_alpha
        or assessment.priority.value in ANOMALOUS_RECOMMENDATIONS
    )


def _episode_update(
    equipment: Equipment,
    *,
    ts: datetime,
    assessment: HealthAssessment,
    is_anomaly: bool,
    config: HealthConfig,
) -> tuple[AnomalyEpisode | None, bool]:
    """The open episode after this snapshot (None when none is open) and whether it is new."""
    episode = (
        AnomalyEpisode.objects.select_for_update()
        .filter(equipment=equipment, state=EpisodeState.OPEN)
        .first()
    )
    if is_anomaly:
        priority = assessment.priority.value
        if episode is None:
            episode = AnomalyEpisode.objects.create(
                equipment=equipment,
                started_at=ts,
                last_anomalous_at=ts,
                peak_alpha=assessment.alpha,
                peak_recommendation=priority,
            )
            audit_event_record(
                actor=None,
                obj=episode,
                action="anomaly episode opened",
                new_value=EpisodeState.OPEN,
                data={"alpha": assessment.alpha, "recommendation": priority},
            )
            return episode, True
        episode.last_anomalous_at = max(episode.last_anomalous_at, ts)
        episode.peak_alpha = max(episode.peak_alpha, assessment.alpha)
        if not episode.peak_recommendation or MaintenancePriority.values.index(
            priority
        ) > MaintenancePriority.values.index(episode.peak_recommendation):
            episode.peak_recommendation = priority
        episode.save(update_fields=["last_anomalous_at", "peak_alpha", "peak_recommendation"])
        return episode, False
    if episode is not None and ts - episode.last_anomalous_at >= timedelta(
        hours=config.episode_cooldown_h
    ):
        episode.state = EpisodeState.CLOSED
        episode.ended_at = ts
        episode.end_reason = f"normal for {config.episode_cooldown_h:g} h"
        episode.save(update_fields=["state", "ended_at", "end_reason"])
        audit_event_record(
            actor=None,
            obj=episode,
            action="anomaly episode closed",
            old_value=EpisodeState.OPEN,
            new_value=EpisodeState.CLOSED,
            reason=episode.end_reason,
        )
        return None, False
    return episode, False


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _assessed(
    equipment: Equipment,
    ts: datetime,
    assessment: HealthAssessment,
    baseline: HealthBaseline,
    is_anomaly: bool,
    episode: AnomalyEpisode | None,
    rul_source: rul_models.RulSource,
) -> HealthSnapshot:
    rul = assessment.rul
    anomaly = assessment.anomaly
    detail = (
        f"{anomaly.window_count} windows; α {assessment.alpha:.2f}"
        f"{' (floor rule)' if anomaly.is_floor_rule_fired else ''}, RMS × "
        f"{assessment.rms_ratio:.2f} of healthy, RUL {rul.state.value.replace('_', ' ')}"
    )
    return HealthSnapshot.objects.create(
        equipment=equipment,
        ts=ts,
        state=HealthState.ASSESSED,
        detail=detail[:300],
        window_count=anomaly.window_count,
        alpha=assessment.alpha,
        chi_square_alpha=anomaly.chi_square_alpha,
        mahalanobis_distance=anomaly.mahalanobis_distance,
        kurtosis=anomaly.kurtosis,
        is_floor_rule_fired=anomaly.is_floor_rule_fired,
        rms_ratio=assessment.rms_ratio,
        health_index=assessment.health_index,
        degradation_slope_per_h=_finite_or_none(assessment.degradation_rate_per_h),
        rul_state=rul.state.value,
        rul_p10_h=_finite_or_none(rul.rul_p10_h),
        rul_p50_h=_finite_or_none(rul.rul_p50_h),
        rul_p90_h=_finite_or_none(rul.rul_p90_h),
        recommendation=assessment.priority.value,
        is_anomaly=is_anomaly,
        baseline=baseline,
        episode=episode,
        model_version=assessment.model_version,
        rul_model=rul_source.model,
        rul_model_version=rul_source.version,
        fleet_rul_state=rul_source.fleet_state,
        rul_detail=rul_source.detail[:300],
    )


def health_refresh(*, equipment_id: int, until: datetime | None = None) -> RefreshOutcome:
    """Evaluate one equipment's health from its newest stored feature windows (idempotent).

    ``until`` limits the windows considered (default: all stored). Raises ``NotFound`` for an
    unknown equipment and ``ValidationFailed`` (code ``feature_signals_missing``) for one
    without vibration feature signals.
    """
    config = health_config()
    with transaction.atomic():
        equipment = (
            Equipment.objects.select_for_update(no_key=True, of=("self",))
            .select_related("cell__line__area__site")
            .filter(pk=equipment_id)
            .first()
        )
        if equipment is None:
            raise NotFound(f"No equipment {equipment_id}.")
        outcome = _refresh_locked(equipment, config, until)
        if outcome.is_new and outcome.snapshot is not None:
            _after_commit(equipment, outcome)
    return outcome


def _refresh_locked(
    equipment: Equipment, config: HealthConfig, until: datetime | None
) -> RefreshOutcome:
    previous = selectors.health_snapshot_latest(equipment_id=equipment.pk)
    newest = selectors.feature_window_newest_ts(equipment_id=equipment.pk, until=until)
    if newest is None or _is_too_soon(previous, newest, config):
        return RefreshOutcome(previous, False, False, None, False)
    recent = selectors.feature_windows_latest(
        equipment_id=equipment.pk,
        count=config.recent_windows_max,
        max_age_s=config.recent_max_age_s,
        until=until,
    )
    if len(recent) == 0:
        return RefreshOutcome(previous, False, False, None, False)
    ts = _aware(float(recent.times_s[-1]))
    if _is_too_soon(previous, ts, config):
        return RefreshOutcome(previous, False, False, None, False)

    suspect = selectors.suspect_feature_signals(
        equipment_id=equipment.pk, prefix=config.feature_signal_prefix
    )
    if suspect:
        detail = f"sensor suspect: {', '.join(suspect)} (not assessed until calibrated)"
        snapshot = _not_enough_data(equipment, ts, detail, len(recent), None)
        return RefreshOutcome(snapshot, True, _changed(previous, snapshot), None, False)
    baseline_row, why_not = _baseline_current(equipment, config)
    if baseline_row is None:
        snapshot = _not_enough_data(equipment, ts, why_not, len(recent), None)
        return RefreshOutcome(snapshot, True, _changed(previous, snapshot), None, False)
    if len(recent) < config.recent_windows_min:
        snapshot = _not_enough_data(
            equipment,
            ts,
            f"{len(recent)} complete windows within {config.recent_max_age_s:g} s of the newest; "
            f"{config.recent_windows_min} needed",
            len(recent),
            baseline_row,
        )
        return RefreshOutcome(snapshot, True, _changed(previous, snapshot), None, False)

    try:
        baseline = HealthyBaseline.from_dict(baseline_row.data)
        history_times_s, history_ratios = selectors.health_history(
            equipment_id=equipment.pk,
            baseline_id=baseline_row.pk,
            since=ts - timedelta(hours=config.health.trend_window_h),
            before=ts,
        )
        assessment = health_assess(
            baseline,
            recent.matrix,
            history_times_s=history_times_s,
            history_rms_ratios=history_ratios,
            now_s=ts.timestamp(),
            seed=_seed(equipment.pk, ts),
            settings=config.health,
            recommendation_settings=config.recommendation,
        )
    except ValueError as error:
        snapshot = _not_enough_data(
            equipment, ts, f"cannot assess: {error}", len(recent), baseline_row
        )
        return RefreshOutcome(snapshot, True, _changed(previous, snapshot), None, False)

    assessment, rul_source = rul_models.fleet_rul_apply(
        equipment_id=equipment.pk,
        ts=ts,
        assessment=assessment,
        recommendation_settings=config.recommendation,
    )
    is_anomaly = _is_anomaly(assessment, config)
    episode, _is_new_episode = _episode_update(
        equipment, ts=ts, assessment=assessment, is_anomaly=is_anomaly, config=config
    )
    snapshot = _assessed(equipment, ts, assessment, baseline_row, is_anomaly, episode, rul_source)
    loop_ran = False
    if is_anomaly and episode is not None and not episode.loop_result:
        closed_loop.anomaly_loop_run(equipment=equipment, episode=episode, snapshot=snapshot)
        loop_ran = True
    return RefreshOutcome(
        snapshot, True, loop_ran or _changed(previous, snapshot), episode, loop_ran
    )


def _is_too_soon(previous: HealthSnapshot | None, ts: datetime, config: HealthConfig) -> bool:
    """Nothing newer than the last snapshot, or within the minimum interval after it."""
    return previous is not None and (
        previous.ts >= ts or (ts - previous.ts).total_seconds() < config.snapshot_min_interval_s
    )


def _changed(previous: HealthSnapshot | None, snapshot: HealthSnapshot) -> bool:
    if previous is None:
        return snapshot.state == HealthState.ASSESSED
    return (
        previous.recommendation != snapshot.recommendation
        or previous.is_anomaly != snapshot.is_anomaly
    )


def _after_commit(equipment: Equipment, outcome: RefreshOutcome) -> None:
    snapshot = outcome.snapshot
    assert snapshot is not None
    diagnostics.health_broadcast(equipment=equipment, snapshot=snapshot)
    if outcome.is_changed and snapshot.state == HealthState.ASSESSED:
        diagnostics.diagnostics_publish_enqueue(snapshot_id=snapshot.pk)
        diagnostics.scheduler_trigger(
            site_id=equipment.cell.line.area.site_id,
            detail=(
                f"{equipment.code}: recommendation {snapshot.recommendation}, "
                f"α {snapshot.alpha:.2f}{', anomaly' if snapshot.is_anomaly else ''}"
            ),
        )


def health_refresh_all(*, until: datetime | None = None) -> int:
    """Refresh every monitored equipment (one transaction each); returns how many wrote."""
    written = 0
    for equipment_id in selectors.equipment_with_features():
        try:
            outcome = health_refresh(equipment_id=equipment_id, until=until)
        except (ValidationFailed, NotFound, IntegrityError) as error:
            logger.warning("health refresh of equipment %s skipped: %s", equipment_id, error)
            continue
        written += int(outcome.is_new)
    return written
