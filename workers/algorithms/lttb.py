"""Largest-Triangle-Three-Buckets (LTTB) downsampling for charts. Pure numpy.

Algorithm from S. Steinarsson, "Downsampling Time Series for Visual Representation", MSc thesis,
University of Iceland, 2013. The first and last points are always kept; the points between are
split into ``max_points - 2`` buckets of (nearly) equal count, and from each bucket the point that
forms the largest triangle with the point kept from the previous bucket and the mean of the next
bucket is kept. Peaks survive because a spike makes a large triangle.

Timestamps are floats (epoch seconds, or any monotonic unit), sorted non-decreasing; values are
floats. Each bucket's selection depends on the previous one, so the loop runs over buckets while
each bucket's areas are computed vectorised.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


def _validated(timestamps: npt.ArrayLike, values: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(timestamps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or v.ndim != 1:
        raise ValueError("timestamps and values must be one-dimensional")
    if t.shape != v.shape:
        raise ValueError(f"timestamps and values differ in length ({t.shape[0]} and {v.shape[0]})")
    if not np.all(np.isfinite(t)):
        raise ValueError("timestamps must be finite (no NaN or infinity)")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite (no NaN or infinity)")
    if t.shape[0] > 1 and np.any(np.diff(t) < 0):
        raise ValueError("timestamps must be sorted in non-decreasing order")
    return t, v


def lttb_indices(timestamps: npt.ArrayLike, values: npt.ArrayLike, max_points: int) -> IndexArray:
    """Indices (ascending) of the points LTTB keeps: at most ``max_points``, first and last kept.

    Raises ``ValueError`` for mismatched or non-finite input, unsorted timestamps, a negative
    ``max_points``, or ``max_points < 3`` when there are more points than ``max_points``.
    """
    t, v = _validated(timestamps, values)
    count = t.shape[0]
    if max_points < 0:
        raise ValueError(f"max_points must be >= 0, got {max_points}")
    if count <= max_points:
        return np.arange(count, dtype=np.intp)
    if max_points < 3:
        raise ValueError(f"max_points must be >= 3 to downsample {count} points, got {max_points}")

    bucket_count = max_points - 2
    # Bucket b (0-based) covers [edges[b], edges[b + 1]) of the inner points 1..count-2.
    edges = (1 + np.floor(np.arange(bucket_count + 1) * ((count - 2) / bucket_count))).astype(
        np.intp
    )
    edges[-1] = count - 1
    # Mean of every bucket, and of the virtual bucket after the last one (the last point).
    cumulative_t = np.concatenate(([0.0], np.cumsum(t)))
    cumulative_v = np.concatenate(([0.0], np.cumsum(v)))
    sizes = edges[1:] - edges[:-1]
    mean_t = np.append((cumulative_t[edges[1:]] - cumulative_t[edges[:-1]]) / sizes, t[-1])
    mean_v = np.append((cumulative_v[edges[1:]] - cumulative_v[edges[:-1]]) / sizes, v[-1])

    selected = np.empty(max_points, dtype=np.intp)
    selected[0] = 0
    selected[-1] = count - 1
    previous = 0
    for bucket in range(bucket_count):
        start = edges[bucket]
        stop = edges[bucket + 1]
        a_t = t[previous]
        a_v = v[previous]
        c_t = mean_t[bucket + 1]
        c_v = mean_v[bucket + 1]
        # Twice the triangle area (A, B, C) for every candidate B in the bucket.
        areas = np.abs((a_t - c_t) * (v[start:stop] - a_v) - (a_t - t[start:stop]) * (c_v - a_v))
        previous = start + int(np.argmax(areas))
        selected[bucket + 1] = previous
    return selected


def lttb(
    timestamps: npt.ArrayLike, values: npt.ArrayLike, max_points: int
) -> tuple[FloatArray, FloatArray]:
    """Downsample (timestamps, values) to at most ``max_points`` points. Returns new arrays."""
    t, v = _validated(timestamps, values)
    indices = lttb_indices(t, v, max_points)
    return t[indices], v[indices]
