"""LTTB downsampling: spikes survive, endpoints kept, output is a sorted subsequence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.algorithms.lttb import lttb, lttb_indices


def _noisy_signal_with_spikes() -> tuple[np.ndarray, np.ndarray, list[int]]:
    generator = np.random.default_rng(20240501)
    t = 1_700_000_000.0 + np.arange(10_000) * 0.1
    v = 20.0 + np.sin(np.arange(10_000) / 500.0) + generator.normal(0.0, 0.2, 10_000)
    spike_indices = [777, 2_345, 5_001, 7_650, 9_876]
    for offset, index in enumerate(spike_indices):
        # Alternate up and down spikes one sample wide.
        v[index] += 15.0 if offset % 2 == 0 else -15.0
    return t, v, spike_indices


def test_every_narrow_spike_survives_downsampling_to_100_points() -> None:
    t, v, spike_indices = _noisy_signal_with_spikes()

    indices = lttb_indices(t, v, 100)
    t_out, v_out = lttb(t, v, 100)

    assert len(indices) == 100
    for index in spike_indices:
        assert index in indices
        assert v[index] in v_out
    assert t_out[0] == t[0] and t_out[-1] == t[-1]


def test_short_input_is_returned_whole() -> None:
    t = np.array([0.0, 1.0, 2.0])
    v = np.array([5.0, 6.0, 7.0])

    t_out, v_out = lttb(t, v, 3)

    np.testing.assert_array_equal(t_out, t)
    np.testing.assert_array_equal(v_out, v)
    assert lttb_indices([], [], 0).tolist() == []


def test_three_points_keep_endpoints_and_the_largest_triangle() -> None:
    t = [0.0, 1.0, 2.0, 3.0, 4.0]
    v = [0.0, 0.1, 9.0, 0.2, 0.0]

    assert lttb_indices(t, v, 3).tolist() == [0, 2, 4]


def test_linear_signal_keeps_first_and_last() -> None:
    t = np.arange(50, dtype=float)
    v = 2.0 * t + 1.0

    indices = lttb_indices(t, v, 10)

    assert indices[0] == 0 and indices[-1] == 49
    assert len(indices) == 10


@pytest.mark.parametrize(
    ("timestamps", "values", "max_points", "message"),
    [
        ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], 2, "max_points must be >= 3"),
        ([0.0, 1.0, 2.0], [1.0, 2.0], 10, "differ in length"),
        ([0.0, float("nan"), 2.0], [1.0, 2.0, 3.0], 10, "timestamps must be finite"),
        ([0.0, 1.0, 2.0], [1.0, float("inf"), 3.0], 10, "values must be finite"),
        ([0.0, 2.0, 1.0], [1.0, 2.0, 3.0], 10, "sorted"),
        ([0.0, 1.0], [1.0, 2.0], -1, "max_points must be >= 0"),
        ([[0.0, 1.0]], [[1.0, 2.0]], 10, "one-dimensional"),
    ],
)
def test_bad_input_raises_value_error(
    timestamps: list[float], values: list[float], max_points: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        lttb(timestamps, values, max_points)


@st.composite
def _series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    count = draw(st.integers(min_value=0, max_value=400))
    steps = draw(
        st.lists(
            st.floats(min_value=0.0, max_value=1e3, allow_nan=False),
            min_size=count,
            max_size=count,
        )
    )
    values = draw(
        st.lists(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            min_size=count,
            max_size=count,
        )
    )
    max_points = draw(st.integers(min_value=3, max_value=120))
    t = 1_700_000_000.0 + np.cumsum(np.asarray(steps, dtype=float))
    return t, np.asarray(values, dtype=float), max_points


@settings(max_examples=150, deadline=None)
@given(_series())
def test_output_is_a_sorted_subsequence_with_endpoints(
    series: tuple[np.ndarray, np.ndarray, int],
) -> None:
    t, v, max_points = series

    indices = lttb_indices(t, v, max_points)
    t_out, v_out = lttb(t, v, max_points)

    assert len(indices) == min(len(t), max_points)
    assert len(t_out) <= max_points
    assert np.all(np.diff(indices) > 0)  # strictly increasing: a subsequence, no repeats
    np.testing.assert_array_equal(t_out, t[indices])
    np.testing.assert_array_equal(v_out, v[indices])
    assert np.all(np.diff(t_out) >= 0)
    if len(t):
        assert indices[0] == 0
        assert indices[-1] == len(t) - 1
