"""Control chart constants for subgroup sizes n = 2 … 25.

Source: D. C. Montgomery, *Introduction to Statistical Quality Control*, 7th ed., Wiley 2013,
Appendix VI "Factors for Constructing Variables Control Charts"; the same values are tabulated in
ASTM E2587-16 "Standard Practice for Use of Control Charts in Statistical Process Control",
Table 1. The values are the published three-decimal (c4: four-decimal) figures, copied as they
stand; tests/quality/spc/test_constants.py checks each against its defining formula
(A2 = 3/(d2·√n), D4 = 1 + 3·d3/d2, A3 = 3/(c4·√n), B4 = 1 + 3·√(1−c4²)/c4, E2 = 3/d2, c4 from
the gamma function) to catch a transcription error.
"""

from __future__ import annotations

from dataclasses import dataclass

from quality.spc.errors import SubgroupSizeError

MIN_SUBGROUP_SIZE = 2
MAX_SUBGROUP_SIZE = 25

# fmt: off
_D2 = (1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078, 3.173, 3.258, 3.336,
       3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735, 3.778, 3.819, 3.858, 3.895, 3.931)
_D3_FACTOR = (0.853, 0.888, 0.880, 0.864, 0.848, 0.833, 0.820, 0.808, 0.797, 0.787, 0.778,
              0.770, 0.763, 0.756, 0.750, 0.744, 0.739, 0.734, 0.729, 0.724, 0.720, 0.716,
              0.712, 0.708)
_A2 = (1.880, 1.023, 0.729, 0.577, 0.483, 0.419, 0.373, 0.337, 0.308, 0.285, 0.266, 0.249,
       0.235, 0.223, 0.212, 0.203, 0.194, 0.187, 0.180, 0.173, 0.167, 0.162, 0.157, 0.153)
_R_LOWER = (0.0, 0.0, 0.0, 0.0, 0.0, 0.076, 0.136, 0.184, 0.223, 0.256, 0.283, 0.307, 0.328,
            0.347, 0.363, 0.378, 0.391, 0.403, 0.415, 0.425, 0.434, 0.443, 0.451, 0.459)
_R_UPPER = (3.267, 2.574, 2.282, 2.114, 2.004, 1.924, 1.864, 1.816, 1.777, 1.744, 1.717, 1.693,
            1.672, 1.653, 1.637, 1.622, 1.608, 1.597, 1.585, 1.575, 1.566, 1.557, 1.548, 1.541)
_C4 = (0.7979, 0.8862, 0.9213, 0.9400, 0.9515, 0.9594, 0.9650, 0.9693, 0.9727, 0.9754, 0.9776,
       0.9794, 0.9810, 0.9823, 0.9835, 0.9845, 0.9854, 0.9862, 0.9869, 0.9876, 0.9882, 0.9887,
       0.9892, 0.9896)
_A3 = (2.659, 1.954, 1.628, 1.427, 1.287, 1.182, 1.099, 1.032, 0.975, 0.927, 0.886, 0.850,
       0.817, 0.789, 0.763, 0.739, 0.718, 0.698, 0.680, 0.663, 0.647, 0.633, 0.619, 0.606)
_B3 = (0.0, 0.0, 0.0, 0.0, 0.030, 0.118, 0.185, 0.239, 0.284, 0.321, 0.354, 0.382, 0.406,
       0.428, 0.448, 0.466, 0.482, 0.497, 0.510, 0.523, 0.534, 0.545, 0.555, 0.565)
_B4 = (3.267, 2.568, 2.266, 2.089, 1.970, 1.882, 1.815, 1.761, 1.716, 1.679, 1.646, 1.618,
       1.594, 1.572, 1.552, 1.534, 1.518, 1.503, 1.490, 1.477, 1.466, 1.455, 1.445, 1.435)
_E2 = (2.660, 1.772, 1.457, 1.290, 1.184, 1.109, 1.054, 1.010, 0.975, 0.946, 0.921, 0.899,
       0.881, 0.864, 0.849, 0.836, 0.824, 0.813, 0.803, 0.794, 0.786, 0.778, 0.770, 0.763)
# fmt: on


@dataclass(frozen=True)
class ChartConstants:
    """The factors for one subgroup size n."""

    n: int
    A2: float  # X̄ limits from R̄
    A3: float  # X̄ limits from s̄
    B3: float  # S chart lower limit factor
    B4: float  # S chart upper limit factor
    D3: float  # R chart lower limit factor
    D4: float  # R chart upper limit factor
    d2: float  # E[R]/σ
    d3: float  # sd[R]/σ
    c4: float  # E[s]/σ
    E2: float  # individuals limits from the average moving range of span n


def constants_for(n: int) -> ChartConstants:
    """The table row for subgroup size ``n`` (2 … 25)."""
    if not MIN_SUBGROUP_SIZE <= n <= MAX_SUBGROUP_SIZE:
        raise SubgroupSizeError(
            f"Subgroup size {n} is outside the tabulated range "
            f"{MIN_SUBGROUP_SIZE}–{MAX_SUBGROUP_SIZE}."
        )
    i = n - MIN_SUBGROUP_SIZE
    return ChartConstants(
        n=n,
        A2=_A2[i],
        A3=_A3[i],
        B3=_B3[i],
        B4=_B4[i],
        D3=_R_LOWER[i],
        D4=_R_UPPER[i],
        d2=_D2[i],
        d3=_D3_FACTOR[i],
        c4=_C4[i],
        E2=_E2[i],
    )
