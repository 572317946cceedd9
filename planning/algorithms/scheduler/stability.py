"""Plan stability: which proposed moves a new plan holds back (pure).

A re-plan compares each operation's new machine with the one it is on. A move is held back
(the operation stays where it is and the plan is made again around it) when

* **hysteresis**: no hard rule forces it and its priority gain over staying is below the
  margin (``StabilityPolicy.hysteresis_margin``, relative: 0.1 = 10 %);
* **damping**: it would take the operation back to a machine it left less than
  ``StabilityPolicy.damping_s`` ago, and neither machine's state or health class
  (``signature``, e.g. ``"up/healthy"``) changed since that move.

A move a hard rule forces (the machine it is on went down, the anomaly rule or the
maintenance horizon excludes it there: ``gain`` None) is never held back.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class HoldReason(enum.StrEnum):
    HYSTERESIS = "hysteresis"
    DAMPING = "damping"


@dataclass(frozen=True, slots=True)
class StabilityPolicy:
    hysteresis_margin: float = 0.1
    damping_s: float = 1800.0

    def __post_init__(self) -> None:
        for name in ("hysteresis_margin", "damping_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0")


@dataclass(frozen=True, slots=True)
class ProposedMove:
    """The new plan moves ``operation_id`` from the machine it is on to another one.

    ``gain`` is the relative priority gain over staying, None when a hard rule forces the
    move (the machine it is on is excluded for it)."""

    operation_id: str
    from_machine_id: str
    to_machine_id: str
    gain: float | None


@dataclass(frozen=True, slots=True)
class PastMove:
    """A move that took effect at ``at_s``, with the machines' signatures at that time."""

    operation_id: str
    from_machine_id: str
    to_machine_id: str
    at_s: float
    signatures: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signatures", MappingProxyType(dict(self.signatures)))


@dataclass(frozen=True, slots=True)
class HeldMove:
    move: ProposedMove
    reason: HoldReason
    message: str


def moves_held_back(
    moves: Iterable[ProposedMove],
    history: Iterable[PastMove],
    signatures: Mapping[str, str],
    now_s: float,
    policy: StabilityPolicy,
) -> dict[str, HeldMove]:
    """The moves to hold back, by operation id (the others go ahead)."""
    recent: dict[str, list[PastMove]] = {}
    for past in history:
        if now_s - past.at_s < policy.damping_s:
            recent.setdefault(past.operation_id, []).append(past)
    held: dict[str, HeldMove] = {}
    for move in moves:
        if move.gain is None:
            continue
        if move.gain < policy.hysteresis_margin:
            held[move.operation_id] = HeldMove(
                move,
                HoldReason.HYSTERESIS,
                f"{move.operation_id}: moving to {move.to_machine_id} gains {move.gain:.1%} of "
                f"priority, below the hysteresis margin {policy.hysteresis_margin:.0%}",
            )
            continue
        reversal = _unchanged_reversal(move, recent.get(move.operation_id, ()), signatures)
        if reversal is not None:
            minutes = (now_s - reversal.at_s) / 60.0
            held[move.operation_id] = HeldMove(
                move,
                HoldReason.DAMPING,
                f"{move.operation_id} left {move.to_machine_id} {minutes:.0f} min ago; it goes "
                f"back only after {policy.damping_s / 60.0:.0f} min or when the state or health "
                f"class of {move.to_machine_id} or {move.from_machine_id} changes",
            )
    return held


def _unchanged_reversal(
    move: ProposedMove, recent: Iterable[PastMove], signatures: Mapping[str, str]
) -> PastMove | None:
    """The recent move that took the operation off ``move.to_machine_id``, if neither
    machine's signature changed since."""
    for past in sorted(recent, key=lambda item: item.at_s, reverse=True):
        if past.from_machine_id != move.to_machine_id:
            continue
        machines = {past.from_machine_id, past.to_machine_id, move.from_machine_id}
        if all(
            past.signatures.get(machine) == signatures.get(machine)
            for machine in machines
            if machine in past.signatures
        ):
            return past
        return None
    return None
