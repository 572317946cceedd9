"""Time the SPC package: every run rule over 10,000 points, one new point through the
incremental evaluator, and a capability study of 10,000 values.

Run: ``.venv/bin/python -m bench.quality.spc`` (a few seconds). Best of several repeats, so
the figures are the machine's speed, not the noise of a shared CPU. Targets (issue 14): all
rules over 10,000 points < 50 ms, one new point < 1 ms, capability of 10,000 values < 10 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from quality.spc import RuleEvaluator, RunRule, capability_analyze, rules_evaluate

REPEATS = 7
POINTS = 10_000
ALL_RULES = list(RunRule)


def best_seconds(
    action: Callable[[], object], loops: int = 1, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Best (minimum) mean duration of ``loops`` calls over ``REPEATS`` repeats, by ``clock``
    (wall time by default; ``time.process_time`` for the CPU time of this process, which a
    machine shared with other jobs inflates less)."""
    timings = []
    for _ in range(REPEATS):
        start = clock()
        for _ in range(loops):
            action()
        timings.append((clock() - start) / loops)
    return min(timings)


def drifting_series(rng: np.random.Generator) -> np.ndarray:
    """In control, then a slow drift (as a tool wears): every rule has something to find."""
    drift = np.concatenate([np.zeros(POINTS // 2), np.linspace(0.0, 2.0, POINTS - POINTS // 2)])
    return rng.normal(0.0, 1.0, POINTS) + drift


def main() -> None:
    rng = np.random.default_rng(14)
    series = drifting_series(rng)
    for name, data in (("in control", rng.normal(0.0, 1.0, POINTS)), ("drifting", series)):
        found = rules_evaluate(data, center=0.0, sigma=1.0, rules=ALL_RULES)

        def evaluate(data=data) -> None:
            rules_evaluate(data, center=0.0, sigma=1.0, rules=ALL_RULES)

        wall_s = best_seconds(evaluate, loops=3)
        cpu_s = best_seconds(evaluate, loops=3, clock=time.process_time)
        print(
            f"all {len(ALL_RULES)} rules over {POINTS:,} points, {name} (batch): "
            f"{wall_s * 1e3:7.2f} ms wall, {cpu_s * 1e3:7.2f} ms CPU ({len(found)} violations)"
        )

    def feed_all() -> None:
        evaluator = RuleEvaluator(center=0.0, rules=ALL_RULES)
        for value in series:
            evaluator.feed(value, sigma=1.0)

    per_point_s = best_seconds(feed_all) / POINTS
    print(f"one new point, all rules (incremental):  {per_point_s * 1e6:7.1f} µs")

    def resume_and_feed() -> None:
        evaluator = RuleEvaluator.resume(
            center=0.0,
            rules=ALL_RULES,
            recent_values=series[-16:-1].tolist(),
            recent_sigmas=[1.0] * 15,
            next_index=POINTS - 1,
        )
        evaluator.feed(series[-1], sigma=1.0)

    resume_s = best_seconds(resume_and_feed, loops=200)
    print(f"one new point, evaluator resumed from the last 15: {resume_s * 1e6:7.1f} µs")

    values = rng.normal(10.0, 0.1, POINTS)
    capability_s = best_seconds(
        lambda: capability_analyze(
            values.reshape(-1, 5), lower_spec_limit=9.6, upper_spec_limit=10.4, target=10.0
        ),
        loops=10,
    )
    individuals_s = best_seconds(
        lambda: capability_analyze(values, lower_spec_limit=9.6, upper_spec_limit=10.4),
        loops=10,
    )
    print(f"capability of {POINTS:,} values (2,000 subgroups of 5): {capability_s * 1e3:7.2f} ms")
    print(f"capability of {POINTS:,} individual values (MR̄/d2):    {individuals_s * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
