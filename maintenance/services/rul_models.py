"""Fleet RUL models: training from the stored history, the registry, and their use.

**Runs.** An equipment's history is cut into runs by its *run ends*: a failure
(``FailureEvent.failed_at``; the next run starts at ``repaired_at``) or completed corrective or
predictive work that is not linked to a failure (run-to-maintenance: the worn part was
replaced, so the work's start counts as the end of its life — a conservative label, the part
would have lasted a little longer; the next run starts at ``completed_at``). A run's samples
are the RMS ratios of its assessed health snapshots. The first run starts at the first
snapshot.

**Training** (:func:`rul_model_train`, command ``manage.py train_rul``): every finished run of
every member of a machine class → :func:`~maintenance.algorithms.fleet_rul.fleet_rul_train`
→ a new :class:`~maintenance.models.RulModelVersion` (version + 1) that replaces the one in
use; audited. Too little history raises ``ValidationFailed`` (code ``not_enough_history``).

**Use** (:func:`fleet_rul_apply`, called by every health refresh): where the equipment's class
has a model in use, its answer replaces the trend RUL and the recommendation is recomputed
from α and the fleet p10. Where the fleet model cannot answer — not enough history in this
run, no similar peers, a model of another code version ("model out of date — retrain") — the
trend RUL stays and the snapshot says why (``fleet_rul_state``, ``rul_detail``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from maintenance import selectors
from maintenance.algorithms.degradation import RulEstimate, RulState
from maintenance.algorithms.fleet_rul import (
    FleetRulModel,
    FleetRulSettings,
    FleetRulState,
    ModelOutOfDate,
    NotEnoughHistory,
    RunHistory,
    fleet_rul_train,
    header_check,
    model_dump,
    model_header,
    model_load,
    run_history,
)
from maintenance.algorithms.health import HealthAssessment
from maintenance.algorithms.recommendation import RecommendationSettings, recommend_priority
from maintenance.choices import FleetRulStatus, RulModel
from maintenance.models import MachineClass, MachineClassMember, RulModelVersion
from mes_site.errors import NotFound, ValidationFailed
from production.models import Equipment
from traceability.services import audit_event_record

logger = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600.0
_BEYOND_HORIZON_SHARE = 0.99  # p50 at the cap: the model sees no end within its horizon
_LOADED_MAX = 8
_loaded: dict[int, FleetRulModel] = {}  # version id → model; versions never change


# --- machine classes -------------------------------------------------------------------------


@transaction.atomic
def machine_class_assign(
    *, equipment_id: int, machine_class_code: str, name: str = ""
) -> MachineClassMember:
    """Put an equipment into a machine class (created when new); moves it from another."""
    equipment = Equipment.objects.filter(pk=equipment_id).first()
    if equipment is None:
        raise NotFound(f"No equipment {equipment_id}.")
    machine_class, _ = MachineClass.objects.get_or_create(
        code=machine_class_code, defaults={"name": name or machine_class_code}
    )
    member, _ = MachineClassMember.objects.update_or_create(
        equipment=equipment, defaults={"machine_class": machine_class}
    )
    return member


# --- training --------------------------------------------------------------------------------


def _training_runs(machine_class: MachineClass, until: datetime) -> tuple[list[RunHistory], list]:
    histories: list[RunHistory] = []
    described: list[dict] = []
    for equipment_id in selectors.machine_class_equipment_ids(machine_class_id=machine_class.pk):
        for run in selectors.recorded_runs(equipment_id=equipment_id, until=until):
            if run.end is None or run.times_h.size == 0:
                continue
            start_h = (
                run.started_at.timestamp() / SECONDS_PER_HOUR
                if run.started_at is not None
                else float(run.times_h[0])
            )
            histories.append(
                run_history(
                    f"{equipment_id}:{len(histories)}",
                    run.times_h,
                    run.rms_ratios,
                    start_h=start_h,
                    end_h=run.end.ended_at.timestamp() / SECONDS_PER_HOUR,
                )
            )
            described.append(
                {
                    "equipment": equipment_id,
                    "started_at": run.started_at.isoformat() if run.started_at else None,
                    "ended_at": run.end.ended_at.isoformat(),
                    "ended_by": run.end.kind,
                    "source_id": run.end.source_id,
                    "samples": int(run.times_h.size),
                }
            )
    return histories, described


def rul_model_train(
    *,
    machine_class_code: str,
    actor=None,
    until: datetime | None = None,
    settings: FleetRulSettings | None = None,
) -> RulModelVersion:
    """Train the class's fleet model from its stored runs and put it in use (new version)."""
    machine_class = MachineClass.objects.filter(code=machine_class_code).first()
    if machine_class is None:
        raise NotFound(f"No machine class {machine_class_code!r}.")
    until = until or timezone.now()
    settings = settings or FleetRulSettings()
    histories, described = _training_runs(machine_class, until)
    try:
        model = fleet_rul_train(histories, settings)
    except NotEnoughHistory as error:
        raise ValidationFailed(
            str(error),
            code="not_enough_history",
            detail={"machine_class": machine_class.code, "runs": len(histories)},
        ) from None
    payload = model_dump(model)
    header = model_header(model)
    with transaction.atomic():
        MachineClass.objects.select_for_update().get(pk=machine_class.pk)
        latest = RulModelVersion.objects.filter(machine_class=machine_class).aggregate(
            version=Max("version")
        )["version"]
        previous = list(
            RulModelVersion.objects.filter(machine_class=machine_class, is_in_use=True).values_list(
                "version", flat=True
            )
        )
        RulModelVersion.objects.filter(machine_class=machine_class, is_in_use=True).update(
            is_in_use=False
        )
        version = RulModelVersion.objects.create(
            machine_class=machine_class,
            version=(latest or 0) + 1,
            is_in_use=True,
            trained_at=timezone.now(),
            trained_by=actor if actor is not None and actor.is_authenticated else None,
            history_until_at=until,
            run_count=int(model.metrics["runs"]),
            cut_point_count=int(model.metrics["cut_points"]),
            training_runs=described,
            settings=settings.as_dict(),
            metrics=model.metrics,
            rmse_h=model.metrics["rmse_h"],
            coverage=model.metrics["coverage"],
            cap_h=settings.cap_h,
            format_version=header["format"],
            feature_schema_hash=header["feature_schema_hash"],
            library_version=header["sklearn"],
            payload=payload,
            payload_size=len(payload),
        )
        audit_event_record(
            actor=actor,
            obj=version,
            action="fleet RUL model trained",
            old_value=f"v{previous[0]}" if previous else "",
            new_value=f"v{version.version}",
            data={"machine_class": machine_class.code, **model.metrics},
        )
    return version


def _version_check(version: RulModelVersion) -> None:
    """Refuse a stored model of another code version from its registry columns, unloaded."""
    header_check(
        {
            "format": version.format_version,
            "feature_schema_hash": version.feature_schema_hash,
            "sklearn": version.library_version,
        },
        FleetRulSettings.from_dict(version.settings),
    )


@transaction.atomic
def rul_model_use(*, version_id: int, actor=None) -> RulModelVersion:
    """Put a stored version in use for its class (e.g. back to an earlier one); audited."""
    version = RulModelVersion.objects.defer("payload").filter(pk=version_id).first()
    if version is None:
        raise NotFound(f"No fleet RUL model version {version_id}.")
    MachineClass.objects.select_for_update().get(pk=version.machine_class_id)
    try:
        _version_check(version)
    except ModelOutOfDate as error:
        raise ValidationFailed(str(error), code="model_out_of_date") from None
    previous = list(
        RulModelVersion.objects.filter(machine_class_id=version.machine_class_id, is_in_use=True)
        .exclude(pk=version.pk)
        .values_list("version", flat=True)
    )
    RulModelVersion.objects.filter(machine_class_id=version.machine_class_id).exclude(
        pk=version.pk
    ).update(is_in_use=False)
    RulModelVersion.objects.filter(pk=version.pk).update(is_in_use=True)
    version.is_in_use = True
    audit_event_record(
        actor=actor,
        obj=version,
        action="fleet RUL model put in use",
        old_value=f"v{previous[0]}" if previous else "",
        new_value=f"v{version.version}",
    )
    return version


# --- use -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulSource:
    """Which model produced a snapshot's RUL and what the fleet model said."""

    model: str = RulModel.TREND
    version: RulModelVersion | None = None
    fleet_state: str = ""
    detail: str = ""


def _model_of(version: RulModelVersion) -> FleetRulModel:
    """The loaded model of a registry row (cached per process; ``ModelOutOfDate`` refused)."""
    _version_check(version)
    model = _loaded.get(version.pk)
    if model is None:
        model = model_load(selectors.rul_model_payload(version_id=version.pk))
        if len(_loaded) >= _LOADED_MAX:
            _loaded.pop(next(iter(_loaded)))
        _loaded[version.pk] = model
    return model


def _current_run(equipment_id: int, ts: datetime, rms_ratio: float) -> RunHistory | str:
    """The equipment's run up to ``ts`` (this evaluation's ratio last), or why there is none."""
    ends = selectors.run_ends(equipment_id=equipment_id, until=ts)
    started_at = None
    if ends:
        started_at = ends[-1].restarted_at
        if started_at is None or started_at > ts:
            return "the last failure is not repaired yet: no run in progress"
    times_h, ratios = selectors.rms_ratio_history(
        equipment_id=equipment_id, after=started_at, until=ts
    )
    now_h = ts.timestamp() / SECONDS_PER_HOUR
    keep = times_h < now_h
    times_h = [*times_h[keep], now_h]
    ratios = [*ratios[keep], rms_ratio]
    start_h = started_at.timestamp() / SECONDS_PER_HOUR if started_at else times_h[0]
    return run_history(str(equipment_id), times_h, ratios, start_h=start_h)


def fleet_rul_apply(
    *,
    equipment_id: int,
    ts: datetime,
    assessment: HealthAssessment,
    recommendation_settings: RecommendationSettings,
) -> tuple[HealthAssessment, RulSource]:
    """The assessment with the fleet model's RUL where it can answer (module docstring)."""
    version = selectors.rul_model_in_use(equipment_id=equipment_id)
    if version is None:
        return assessment, RulSource()
    label = f"fleet model {version.machine_class.code} v{version.version}"
    try:
        model = _model_of(version)
    except ModelOutOfDate as error:
        return assessment, RulSource(
            RulModel.TREND, version, FleetRulStatus.MODEL_OUT_OF_DATE, f"{label}: {error}"
        )
    run = _current_run(equipment_id, ts, assessment.rms_ratio)
    if isinstance(run, str):
        return assessment, RulSource(
            RulModel.TREND, version, FleetRulStatus.NOT_ENOUGH_HISTORY, f"{label}: {run}"
        )
    estimate = model.estimate(run, now_h=ts.timestamp() / SECONDS_PER_HOUR)
    if estimate.state is not FleetRulState.ESTIMATED:
        return assessment, RulSource(
            RulModel.TREND,
            version,
            estimate.state.value,
            f"{label}: {estimate.detail} — trend extrapolation used",
        )
    cap_h = model.settings.cap_h
    if estimate.rul_p50_h >= _BEYOND_HORIZON_SHARE * cap_h:
        rul = dataclasses.replace(
            assessment.rul,
            state=RulState.NOT_DEGRADING,
            rul_p10_h=None,
            rul_p50_h=None,
            rul_p90_h=None,
            trend_model=RulModel.FLEET,
        )
        detail = f"{label}: no end of life within its {cap_h:g} h horizon"
        rul_h = None
    else:
        rul = RulEstimate(
            state=RulState.ESTIMATED,
            rul_p10_h=estimate.rul_p10_h,
            rul_p50_h=estimate.rul_p50_h,
            rul_p90_h=estimate.rul_p90_h,
            degradation_rate_per_h=assessment.rul.degradation_rate_per_h,
            indicator_now=assessment.rul.indicator_now,
            point_count=assessment.rul.point_count,
            trend_model=RulModel.FLEET,
        )
        detail = f"{label}: {estimate.detail.removeprefix('fleet model: ')}"
        rul_h = estimate.rul_p10_h
    priority = recommend_priority(
        alpha=assessment.alpha, rul_h=rul_h, settings=recommendation_settings
    )
    return (
        dataclasses.replace(assessment, rul=rul, priority=priority),
        RulSource(RulModel.FLEET, version, FleetRulStatus.ESTIMATED, detail),
    )
