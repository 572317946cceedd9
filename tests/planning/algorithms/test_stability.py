"""Hysteresis and damping of plan changes on constructed sequences (pure)."""

from __future__ import annotations

import pytest

from planning.algorithms.scheduler.stability import (
    HoldReason,
    PastMove,
    ProposedMove,
    StabilityPolicy,
    moves_held_back,
)

POLICY = StabilityPolicy(hysteresis_margin=0.1, damping_s=1800.0)
UP = {"S7": "up/healthy", "S8": "up/healthy"}


def test_hysteresis_holds_back_a_small_gain_and_lets_a_large_one_through() -> None:
    moves = [
        ProposedMove("WO-1/10", "S7", "S8", gain=0.05),
        ProposedMove("WO-2/10", "S7", "S8", gain=0.10),
        ProposedMove("WO-3/10", "S7", "S8", gain=0.30),
    ]

    held = moves_held_back(moves, [], UP, now_s=10_000.0, policy=POLICY)

    assert {key: item.reason for key, item in held.items()} == {"WO-1/10": HoldReason.HYSTERESIS}
    assert "below the hysteresis margin 10%" in held["WO-1/10"].message


def test_a_move_a_hard_rule_forces_is_never_held_back() -> None:
    history = [PastMove("WO-1/10", "S8", "S7", at_s=9_900.0, signatures=UP)]
    moves = [ProposedMove("WO-1/10", "S7", "S8", gain=None)]

    assert moves_held_back(moves, history, UP, now_s=10_000.0, policy=POLICY) == {}


def test_the_flapping_sequence_7_8_7_8_is_damped() -> None:
    """The reported flapping: S7 → S8 at t = 0, then each re-plan wants it back and forth.

    Nothing about the machines changes, so within 30 min every move back is held, and only
    a move whose gain clears the margin goes ahead after the damping time."""
    signatures = UP
    history: list[PastMove] = []
    where = "S7"
    taken = []
    for now_s, gain in ((0.0, 0.2), (60.0, 0.2), (120.0, 0.2), (1_000.0, 0.5), (1_900.0, 0.2)):
        target = "S8" if where == "S7" else "S7"
        move = ProposedMove("WO-1/10", where, target, gain=gain)
        held = moves_held_back([move], history, signatures, now_s=now_s, policy=POLICY)
        if "WO-1/10" in held:
            assert held["WO-1/10"].reason is HoldReason.DAMPING
            continue
        history.append(PastMove("WO-1/10", where, target, at_s=now_s, signatures=signatures))
        taken.append((now_s, where, target))
        where = target

    # Moved once at t = 0; moving back is held at 60, 120 and 1,000 s; at 1,900 s the
    # damping time (1,800 s) has passed.
    assert taken == [(0.0, "S7", "S8"), (1_900.0, "S8", "S7")]


def test_a_move_back_goes_ahead_when_a_machine_state_or_health_class_changed() -> None:
    history = [
        PastMove(
            "WO-1/10", "S7", "S8", at_s=0.0, signatures={"S7": "up/failing", "S8": "up/healthy"}
        )
    ]
    back = [ProposedMove("WO-1/10", "S8", "S7", gain=0.4)]

    bearing_replaced = {"S7": "up/healthy", "S8": "up/healthy"}
    unchanged = {"S7": "up/failing", "S8": "up/healthy"}

    assert moves_held_back(back, history, bearing_replaced, now_s=600.0, policy=POLICY) == {}
    held = moves_held_back(back, history, unchanged, now_s=600.0, policy=POLICY)
    assert held["WO-1/10"].reason is HoldReason.DAMPING
    assert "left S7 10 min ago" in held["WO-1/10"].message


def test_a_move_onward_to_a_third_machine_is_not_a_reversal() -> None:
    history = [PastMove("WO-1/10", "S7", "S8", at_s=0.0, signatures=UP)]
    onward = [ProposedMove("WO-1/10", "S8", "S9", gain=0.4)]

    assert moves_held_back(onward, history, UP, now_s=60.0, policy=POLICY) == {}


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="damping_s"):
        StabilityPolicy(damping_s=-1.0)
