"""Run rules: the 8 Nelson rules and the 4 Western Electric rules.

Sources: L. S. Nelson, "The Shewhart Control Chart — Tests for Special Causes", *Journal of
Quality Technology* 16(4), 1984, 237–239; Western Electric Company, *Statistical Quality Control
Handbook*, 1956, section 1B (the zone rules). Zones are in multiples of the plotted statistic's
sigma: C within 1σ of the centre line, B from 1σ to 2σ, A from 2σ to 3σ, "beyond" outside 3σ
(a point exactly on a boundary belongs to the inner zone).

A rule fires at the point that completes its pattern, and again at each later point that
continues it (a run of 10 on one side fires Nelson 2 at the 9th and the 10th point). The
"k of m" rules (Nelson 5 and 6, WE 2 and 3) fire only at a point that is itself one of the k, so
one pattern is not reported twice; near the start the window is the points so far. A point on
the centre line breaks a same-side run; a tie breaks a trend and an alternation.

Two evaluators give the same violations: ``rules_evaluate`` over a whole series (numpy,
vectorised) and ``RuleEvaluator``, fed one point at a time as points arrive.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from quality.spc.errors import NonFiniteValueError, SpcError, ZeroSpreadError


class Zone(enum.StrEnum):
    BEYOND_UPPER = "beyond_upper"
    A_UPPER = "a_upper"
    B_UPPER = "b_upper"
    C_UPPER = "c_upper"
    C_LOWER = "c_lower"
    B_LOWER = "b_lower"
    A_LOWER = "a_lower"
    BEYOND_LOWER = "beyond_lower"


class RunRule(enum.StrEnum):
    NELSON_1 = "nelson_1"
    NELSON_2 = "nelson_2"
    NELSON_3 = "nelson_3"
    NELSON_4 = "nelson_4"
    NELSON_5 = "nelson_5"
    NELSON_6 = "nelson_6"
    NELSON_7 = "nelson_7"
    NELSON_8 = "nelson_8"
    WE_1 = "we_1"
    WE_2 = "we_2"
    WE_3 = "we_3"
    WE_4 = "we_4"

    @property
    def description(self) -> str:
        return RULE_DESCRIPTIONS[self]


RULE_DESCRIPTIONS = {
    RunRule.NELSON_1: "One point beyond 3σ",
    RunRule.NELSON_2: "Nine points in a row on the same side of the centre line",
    RunRule.NELSON_3: "Six points in a row steadily increasing or decreasing",
    RunRule.NELSON_4: "Fourteen points in a row alternating up and down",
    RunRule.NELSON_5: "Two of three points in a row beyond 2σ on the same side",
    RunRule.NELSON_6: "Four of five points in a row beyond 1σ on the same side",
    RunRule.NELSON_7: "Fifteen points in a row within 1σ of the centre line",
    RunRule.NELSON_8: "Eight points in a row beyond 1σ, on either side",
    RunRule.WE_1: "One point beyond 3σ",
    RunRule.WE_2: "Two of three points in a row beyond 2σ on the same side",
    RunRule.WE_3: "Four of five points in a row beyond 1σ on the same side",
    RunRule.WE_4: "Eight points in a row on the same side of the centre line",
}
NELSON_RULES = tuple(rule for rule in RunRule if rule.startswith("nelson"))
WESTERN_ELECTRIC_RULES = tuple(rule for rule in RunRule if rule.startswith("we"))
RULE_ORDER = {rule: position for position, rule in enumerate(RunRule)}

# (kind, parameter(s)): one table drives both evaluators.
_SIDE_RUN = {RunRule.NELSON_2: 9, RunRule.WE_4: 8}
_TREND = {RunRule.NELSON_3: 6}
_ALTERNATION = {RunRule.NELSON_4: 14}
_K_OF_M = {  # rule: (k, m, zone multiple)
    RunRule.NELSON_5: (2, 3, 2.0),
    RunRule.NELSON_6: (4, 5, 1.0),
    RunRule.WE_2: (2, 3, 2.0),
    RunRule.WE_3: (4, 5, 1.0),
}
_BEYOND_3 = (RunRule.NELSON_1, RunRule.WE_1)
_WITHIN_1_RUN = {RunRule.NELSON_7: 15}
_OUTSIDE_1_RUN = {RunRule.NELSON_8: 8}
LONGEST_PATTERN = 15  # points: the state the incremental evaluator keeps


class Violation(NamedTuple):
    """One broken rule (a named tuple: the batch evaluator builds thousands of them)."""

    rule: RunRule
    # the point that completed the pattern (the name shadows tuple.index on purpose: a
    # violation is read by field, never searched)
    index: int  # type: ignore[assignment]
    points: tuple[int, ...]  # every point of the pattern, ascending
    zone: Zone  # the zone of ``index``

    @property
    def description(self) -> str:
        return self.rule.description


def rules_parse(names: Iterable[str]) -> tuple[RunRule, ...]:
    """Rule names from a configuration, checked, in the canonical order."""
    try:
        rules = {RunRule(name) for name in names}
    except ValueError as error:
        known = ", ".join(rule.value for rule in RunRule)
        raise SpcError(f"Unknown run rule ({error}); known: {known}.", field="rules") from error
    return tuple(sorted(rules, key=RULE_ORDER.__getitem__))


def zone_of(z: float) -> Zone:
    upper = z >= 0
    size = abs(z)
    if size > 3.0:
        return Zone.BEYOND_UPPER if upper else Zone.BEYOND_LOWER
    if size > 2.0:
        return Zone.A_UPPER if upper else Zone.A_LOWER
    if size > 1.0:
        return Zone.B_UPPER if upper else Zone.B_LOWER
    return Zone.C_UPPER if upper else Zone.C_LOWER


_ZONES_BY_CODE = (
    Zone.BEYOND_LOWER,
    Zone.A_LOWER,
    Zone.B_LOWER,
    Zone.C_LOWER,
    Zone.C_UPPER,
    Zone.B_UPPER,
    Zone.A_UPPER,
    Zone.BEYOND_UPPER,
)


def _zone_codes(z: np.ndarray) -> np.ndarray:
    """``zone_of`` for a whole series: an index into ``_ZONES_BY_CODE`` per point."""
    size = np.abs(z)
    band = np.where(size > 3.0, 3, np.where(size > 2.0, 2, np.where(size > 1.0, 1, 0)))
    return np.where(z >= 0, 4 + band, 3 - band)


def _standardise(values: np.ndarray, center: float, sigma: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise NonFiniteValueError("Every point must be a finite number (no NaN).")
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0.0):
        raise ZeroSpreadError("The sigma of every point must be positive.", field="sigma")
    return (values - center) / sigma


# --- batch ------------------------------------------------------------------------------------


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each position (0 where False)."""
    positions = np.arange(len(mask))
    last_false = np.maximum.accumulate(np.where(mask, -1, positions))
    return np.where(mask, positions - last_false, 0)


def _window_counts(mask: np.ndarray, width: int) -> np.ndarray:
    """How many True among the last ``width`` positions (fewer near the start)."""
    total = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
    starts = np.maximum(np.arange(len(mask)) - width + 1, 0)
    return total[1:] - total[starts]


def rules_evaluate(
    values: Sequence[float] | np.ndarray,
    *,
    center: float,
    sigma: float | Sequence[float] | np.ndarray,
    rules: Iterable[RunRule | str] = NELSON_RULES,
) -> list[Violation]:
    """Every violation of ``rules`` in a series, ordered by point then rule."""
    rules = rules_parse(rules)
    x = np.asarray(values, dtype=float)
    sigma_array = np.broadcast_to(np.asarray(sigma, dtype=float), x.shape)
    z = _standardise(x, center, sigma_array)
    hits: list[tuple[int, int, RunRule, tuple[int, ...]]] = []
    above, below = z > 0, z < 0

    def runs(rule: RunRule, mask: np.ndarray, length: int) -> None:
        order = RULE_ORDER[rule]
        for index in np.flatnonzero(_run_lengths(mask) >= length).tolist():
            hits.append((index, order, rule, tuple(range(index - length + 1, index + 1))))

    for rule in rules:
        if rule in _BEYOND_3:
            order = RULE_ORDER[rule]
            hits.extend((i, order, rule, (i,)) for i in np.flatnonzero(np.abs(z) > 3.0).tolist())
        elif rule in _SIDE_RUN:
            runs(rule, above, _SIDE_RUN[rule])
            runs(rule, below, _SIDE_RUN[rule])
        elif rule in _WITHIN_1_RUN:
            runs(rule, np.abs(z) <= 1.0, _WITHIN_1_RUN[rule])
        elif rule in _OUTSIDE_1_RUN:
            runs(rule, np.abs(z) > 1.0, _OUTSIDE_1_RUN[rule])
        elif rule in _TREND:
            # a run of L − 1 rising (falling) steps; step j leads to point j + 1
            steps = np.diff(x)
            runs_of_steps = _TREND[rule]
            for mask in (steps > 0, steps < 0):
                _step_runs(hits, rule, mask, runs_of_steps - 1, runs_of_steps)
        elif rule in _ALTERNATION:
            length = _ALTERNATION[rule]
            step_signs = np.sign(np.diff(x))
            alternating = np.zeros(max(len(x) - 1, 0), dtype=bool)
            alternating[1:] = step_signs[1:] * step_signs[:-1] < 0
            _step_runs(hits, rule, alternating, length - 2, length)
        else:
            k, m, multiple = _K_OF_M[rule]
            order = RULE_ORDER[rule]
            for mask in (z > multiple, z < -multiple):
                fired = (_window_counts(mask, m) >= k) & mask
                flags = mask.tolist()
                for index in np.flatnonzero(fired).tolist():
                    start = max(index - m + 1, 0)
                    members = tuple(j for j in range(start, index + 1) if flags[j])
                    hits.append((index, order, rule, members))
    hits.sort()
    zones = _zone_codes(z).tolist()
    return [
        Violation(rule, index, points, _ZONES_BY_CODE[zones[index]])
        for index, _order, rule, points in hits
    ]


def _step_runs(hits: list, rule: RunRule, mask: np.ndarray, needed_steps: int, length: int) -> None:
    """Hits where ``mask`` (over the steps between points) has a run of ``needed_steps``: the
    pattern is the ``length`` points ending one after the run's last step."""
    order = RULE_ORDER[rule]
    for step in np.flatnonzero(_run_lengths(mask) >= needed_steps).tolist():
        index = step + 1
        hits.append((index, order, rule, tuple(range(index - length + 1, index + 1))))


# --- incremental ------------------------------------------------------------------------------


class RuleEvaluator:
    """Evaluates the rules one point at a time: ``feed`` returns the violations the new point
    completes — the same ones ``rules_evaluate`` reports at that index.

    The state is the last ``LONGEST_PATTERN`` points and a few run counters; ``resume`` rebuilds
    it from the recent points of a stored series."""

    def __init__(
        self,
        *,
        center: float,
        rules: Iterable[RunRule | str] = NELSON_RULES,
        start_index: int = 0,
    ) -> None:
        self.center = float(center)
        self.rules = rules_parse(rules)
        self.index = start_index - 1  # of the last point fed
        self._z: deque[float] = deque(maxlen=LONGEST_PATTERN)
        self._previous: float | None = None
        self._previous_step = 0.0
        self._above = self._below = self._within_1 = self._outside_1 = 0
        self._rising = self._falling = 0  # steps in the current trend
        self._alternations = 0  # consecutive steps that changed direction

    @classmethod
    def resume(
        cls,
        *,
        center: float,
        rules: Iterable[RunRule | str],
        recent_values: Sequence[float],
        recent_sigmas: Sequence[float],
        next_index: int,
    ) -> RuleEvaluator:
        """The evaluator as it stood after the points before ``next_index``, of which
        ``recent_values`` are the last (at least ``LONGEST_PATTERN`` when there are as many)."""
        evaluator = cls(center=center, rules=rules, start_index=next_index - len(recent_values))
        for value, sigma in zip(recent_values, recent_sigmas, strict=True):
            evaluator.feed(value, sigma=sigma)
        return evaluator

    def feed(self, value: float, *, sigma: float) -> list[Violation]:
        value, sigma = float(value), float(sigma)
        if value != value or value in (float("inf"), float("-inf")):
            raise NonFiniteValueError("Every point must be a finite number (no NaN).")
        if not sigma > 0.0 or sigma == float("inf"):
            raise ZeroSpreadError("The sigma of every point must be positive.", field="sigma")
        self.index += 1
        index = self.index
        z = (value - self.center) / sigma
        self._z.append(z)
        self._above = self._above + 1 if z > 0 else 0
        self._below = self._below + 1 if z < 0 else 0
        self._within_1 = self._within_1 + 1 if abs(z) <= 1.0 else 0
        self._outside_1 = self._outside_1 + 1 if abs(z) > 1.0 else 0
        step = 0.0 if self._previous is None else value - self._previous
        has_step = self._previous is not None
        self._rising = self._rising + 1 if has_step and step > 0 else 0
        self._falling = self._falling + 1 if has_step and step < 0 else 0
        if has_step and step * self._previous_step < 0:
            self._alternations += 1
        else:
            self._alternations = 0
        self._previous, self._previous_step = value, step

        found: list[Violation] = []
        zone = zone_of(z)

        def run(rule: RunRule, length: int) -> None:
            found.append(Violation(rule, index, tuple(range(index - length + 1, index + 1)), zone))

        for rule in self.rules:
            if rule in _BEYOND_3:
                if abs(z) > 3.0:
                    found.append(Violation(rule, index, (index,), zone))
            elif rule in _SIDE_RUN:
                if max(self._above, self._below) >= _SIDE_RUN[rule]:
                    run(rule, _SIDE_RUN[rule])
            elif rule in _WITHIN_1_RUN:
                if self._within_1 >= _WITHIN_1_RUN[rule]:
                    run(rule, _WITHIN_1_RUN[rule])
            elif rule in _OUTSIDE_1_RUN:
                if self._outside_1 >= _OUTSIDE_1_RUN[rule]:
                    run(rule, _OUTSIDE_1_RUN[rule])
            elif rule in _TREND:
                if max(self._rising, self._falling) >= _TREND[rule] - 1:
                    run(rule, _TREND[rule])
            elif rule in _ALTERNATION:
                if self._alternations >= _ALTERNATION[rule] - 2:
                    run(rule, _ALTERNATION[rule])
            else:
                k, m, multiple = _K_OF_M[rule]
                sign = 1.0 if z > 0 else -1.0
                if sign * z <= multiple:
                    continue
                window = list(self._z)[-m:]
                first = index - len(window) + 1
                members = tuple(
                    first + j for j, other in enumerate(window) if sign * other > multiple
                )
                if len(members) >= k:
                    found.append(Violation(rule, index, members, zone))
        return found
