"""ISO 22400-2 time model and OEE key performance indicators (pure, Django-free).

Time elements (seconds) of one work unit over one period, with their ISO 22400-2 symbols:

====================  ======  ==============================================================
field                 symbol  meaning
====================  ======  ==============================================================
planned_operation     POT     time the shift calendar plans the work unit to be operated
planned_down          PDOT    planned down time (breaks, PM windows) inside POT
(property) busy       PBT     planned busy time, PBT = POT − PDOT
actual_production     APT     the unit is producing
actual_setup          AUST    set-up / changeover
actual_delay          ADET    unplanned interruptions during an order (breakdowns, minor stops)
actual_down           ADOT    available but not executing an order (no order, starved, blocked)
(property) processing AUPT    actual unit processing time, AUPT = APT + AUST
no_data               —       no state was reported (not an ISO element, see below)
====================  ======  ==============================================================

Two parts of ADET are carried separately for the six-big-losses report: ``minor_stop_time_s``
(stops shorter than the micro-stop threshold) and ``needs_reason_time_s`` (longer stops no one
has explained yet, booked to ADET provisionally).

Counts: PQ produced, GQ good, SQ scrap, RQ rework. GQ + SQ + RQ ≤ PQ; the remainder is
produced but not classified yet (e.g. awaiting inspection). PRU is the planned run time per
unit; because a period may mix products, the planned times are passed as totals:
``planned_time_of_produced_s`` = Σ PRU_i·PQ_i, ``planned_time_of_scrap_s`` = Σ PRU_i·SQ_i and
``planned_time_of_rework_s`` = Σ PRU_i·RQ_i (see :meth:`OeeElements.from_counts`).

No-data time. Time in which no state was reported is neither idle nor production: it is
reported as ``no_data_time_s`` and removed from every time denominator. The KPIs are computed
over the *observed* planned busy time::

    observed busy time  OBT = PBT − no_data
    Availability        A   = APT / OBT
    Effectiveness       E   = Σ PRU·PQ / APT        (raw, may exceed 1 → flagged)
    Quality ratio       Q   = GQ / PQ
    OEE                     = A · E · Q
    NEE                     = AUPT / OBT · E · Q
    Technical efficiency    = APT / (APT + ADET)
    Setup rate              = AUST / AUPT
    Scrap ratio             = SQ / PQ
    Rework ratio            = RQ / PQ
    Data coverage           = OBT / PBT             (how much of PBT the KPIs rest on)

With full data (no_data = 0) these are exactly the ISO 22400-2 formulas. A division by zero
gives ``None`` (undefined), never 0 — a denominator below 1e-6 (1 µs, or 1e-6 units) counts
as zero; a KPI built from an undefined factor is undefined too (a shift without production
has A = 0 but, with no units, E, Q and OEE are ``None``).

Roll-ups (line, area, site, shift, day) add the elements (``+`` / :func:`rollup`) and then
compute the KPIs from the sums — percentages are never averaged.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

__all__ = [
    "SIX_BIG_LOSSES_ISO_TERMS",
    "IsoTimeElement",
    "OeeElements",
    "OeeKpis",
    "SixBigLosses",
    "compute_kpis",
    "rollup",
    "six_big_losses",
]

# Float sums of many intervals drift by far less than this; anything beyond is a real error.
ABSOLUTE_TOLERANCE_S = 1e-6
RELATIVE_TOLERANCE = 1e-9
# Effectiveness is flagged only when it exceeds 1 by more than float noise.
EFFECTIVENESS_FLAG_TOLERANCE = 1e-9


class IsoTimeElement(StrEnum):
    """The ISO 22400-2 element a downtime reason is booked to (values match the Django choices)."""

    ADET = "ADET"  # actual unit delay time: breakdowns, minor stops during an order
    ADOT = "ADOT"  # actual unit down time: available, not executing an order
    AUST = "AUST"  # actual unit setup time
    PDOT = "PDOT"  # planned down time


def _exceeds(value: float, limit: float) -> bool:
    """True when ``value`` is above ``limit`` by more than float noise."""
    tolerance = ABSOLUTE_TOLERANCE_S + RELATIVE_TOLERANCE * max(abs(value), abs(limit))
    return value > limit + tolerance


def _ratio(numerator: float, denominator: float) -> float | None:
    # A denominator within float noise of zero (below 1 µs or 1e-6 units) is zero: undefined.
    if denominator <= ABSOLUTE_TOLERANCE_S:
        return None
    return numerator / denominator


def _product(*factors: float | None) -> float | None:
    result = 1.0
    for factor in factors:
        if factor is None:
            return None
        result *= factor
    return result


@dataclass(frozen=True, slots=True)
class OeeElements:
    """ISO 22400-2 time elements (seconds) and counts of one work unit over one period.

    All fields default to zero so a time-only or count-only part can be built and the parts
    added. Construction validates the invariants and raises ``ValueError`` naming the broken
    one: no negative or non-finite value, PDOT ≤ POT, APT + AUST + ADET + ADOT + no_data ≤ PBT,
    minor stops + needs-reason ≤ ADET, GQ + SQ + RQ ≤ PQ and the planned times of scrap and
    rework ≤ the planned time of produced units. A sum of valid elements is always valid.
    """

    planned_operation_time_s: float = 0.0
    planned_down_time_s: float = 0.0
    actual_production_time_s: float = 0.0
    actual_setup_time_s: float = 0.0
    actual_delay_time_s: float = 0.0
    actual_down_time_s: float = 0.0
    no_data_time_s: float = 0.0
    minor_stop_time_s: float = 0.0
    needs_reason_time_s: float = 0.0
    produced_quantity: float = 0.0
    good_quantity: float = 0.0
    scrap_quantity: float = 0.0
    rework_quantity: float = 0.0
    planned_time_of_produced_s: float = 0.0
    planned_time_of_scrap_s: float = 0.0
    planned_time_of_rework_s: float = 0.0

    def __post_init__(self) -> None:
        for name in _ELEMENT_FIELD_NAMES:
            raw = getattr(self, name)
            raw_type = type(raw)
            if raw_type is not float:
                if raw_type is bool or not isinstance(raw, numbers.Real):
                    raise ValueError(f"{name} must be a number, got {raw!r}.")
                # Store plain floats whatever came in (int, numpy scalar): sums and equality.
                object.__setattr__(self, name, float(raw))
            value = float(raw)
            if not (0.0 <= value < math.inf):
                if math.isnan(value) or math.isinf(value):
                    raise ValueError(f"{name} must be finite, got {raw!r}.")
                raise ValueError(f"{name} must not be negative, got {raw!r}.")
        if _exceeds(self.planned_down_time_s, self.planned_operation_time_s):
            raise ValueError(
                f"Planned down time (PDOT {self.planned_down_time_s} s) exceeds planned "
                f"operation time (POT {self.planned_operation_time_s} s)."
            )
        booked_s = (
            self.actual_production_time_s
            + self.actual_setup_time_s
            + self.actual_delay_time_s
            + self.actual_down_time_s
            + self.no_data_time_s
        )
        if _exceeds(booked_s, self.planned_busy_time_s):
            raise ValueError(
                f"APT + AUST + ADET + ADOT + no data = {booked_s} s exceeds the planned busy "
                f"time (PBT = POT − PDOT = {self.planned_busy_time_s} s)."
            )
        if _exceeds(self.minor_stop_time_s + self.needs_reason_time_s, self.actual_delay_time_s):
            raise ValueError(
                f"Minor stops ({self.minor_stop_time_s} s) plus downtime needing a reason "
                f"({self.needs_reason_time_s} s) exceed the delay time (ADET "
                f"{self.actual_delay_time_s} s) they are part of."
            )
        for name, quantity in (
            ("good quantity (GQ)", self.good_quantity),
            ("scrap quantity (SQ)", self.scrap_quantity),
            ("rework quantity (RQ)", self.rework_quantity),
        ):
            if _exceeds(quantity, self.produced_quantity):
                raise ValueError(
                    f"The {name} {quantity} exceeds the produced quantity (PQ) "
                    f"{self.produced_quantity}."
                )
        classified = self.good_quantity + self.scrap_quantity + self.rework_quantity
        if _exceeds(classified, self.produced_quantity):
            raise ValueError(
                f"GQ + SQ + RQ = {classified} exceeds the produced quantity (PQ) "
                f"{self.produced_quantity}."
            )
        planned_losses_s = self.planned_time_of_scrap_s + self.planned_time_of_rework_s
        if _exceeds(planned_losses_s, self.planned_time_of_produced_s):
            raise ValueError(
                f"The planned time of scrap and rework ({planned_losses_s} s) exceeds the "
                f"planned time of the produced units ({self.planned_time_of_produced_s} s)."
            )

    @classmethod
    def from_counts(
        cls,
        *,
        planned_run_time_per_unit_s: float,
        produced_quantity: float,
        good_quantity: float,
        scrap_quantity: float = 0.0,
        rework_quantity: float = 0.0,
    ) -> OeeElements:
        """Count part of the elements for one product with one PRU (add parts for a mix)."""
        if not math.isfinite(planned_run_time_per_unit_s) or planned_run_time_per_unit_s <= 0:
            raise ValueError(
                "The planned run time per unit (PRU) must be a positive number of seconds, "
                f"got {planned_run_time_per_unit_s!r}."
            )
        return cls(
            produced_quantity=produced_quantity,
            good_quantity=good_quantity,
            scrap_quantity=scrap_quantity,
            rework_quantity=rework_quantity,
            planned_time_of_produced_s=planned_run_time_per_unit_s * produced_quantity,
            planned_time_of_scrap_s=planned_run_time_per_unit_s * scrap_quantity,
            planned_time_of_rework_s=planned_run_time_per_unit_s * rework_quantity,
        )

    @property
    def planned_busy_time_s(self) -> float:
        """PBT = POT − PDOT."""
        return self.planned_operation_time_s - self.planned_down_time_s

    @property
    def actual_processing_time_s(self) -> float:
        """AUPT = APT + AUST."""
        return self.actual_production_time_s + self.actual_setup_time_s

    @property
    def observed_busy_time_s(self) -> float:
        """PBT − no data: the part of PBT the KPIs are computed over."""
        return self.planned_busy_time_s - self.no_data_time_s

    @property
    def unaccounted_time_s(self) -> float:
        """PBT not booked to any element (0 for elements built from a state timeline)."""
        return self.planned_busy_time_s - (
            self.actual_production_time_s
            + self.actual_setup_time_s
            + self.actual_delay_time_s
            + self.actual_down_time_s
            + self.no_data_time_s
        )

    @property
    def unclassified_quantity(self) -> float:
        """PQ − GQ − SQ − RQ: produced, not yet judged good, scrap or rework."""
        return self.produced_quantity - (
            self.good_quantity + self.scrap_quantity + self.rework_quantity
        )

    def __add__(self, other: object) -> OeeElements:
        if not isinstance(other, OeeElements):
            return NotImplemented
        return OeeElements(
            *(getattr(self, name) + getattr(other, name) for name in _ELEMENT_FIELD_NAMES)
        )

    def __radd__(self, other: object) -> OeeElements:
        # Lets the built-in ``sum(parts)`` start from its integer 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def as_iso_dict(self) -> dict[str, float]:
        """Elements keyed by their ISO 22400-2 symbols (plus ``no_data``) for reports."""
        return {
            "POT": self.planned_operation_time_s,
            "PDOT": self.planned_down_time_s,
            "PBT": self.planned_busy_time_s,
            "APT": self.actual_production_time_s,
            "AUST": self.actual_setup_time_s,
            "AUPT": self.actual_processing_time_s,
            "ADET": self.actual_delay_time_s,
            "ADOT": self.actual_down_time_s,
            "no_data": self.no_data_time_s,
            "PQ": self.produced_quantity,
            "GQ": self.good_quantity,
            "SQ": self.scrap_quantity,
            "RQ": self.rework_quantity,
            "PRU·PQ": self.planned_time_of_produced_s,
        }


_ELEMENT_FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in fields(OeeElements))


def rollup(parts: Iterable[OeeElements]) -> OeeElements:
    """Sum the elements of many work units or periods (then compute KPIs from the sum)."""
    total = OeeElements()
    for part in parts:
        total = total + part
    return total


@dataclass(frozen=True, slots=True)
class OeeKpis:
    """ISO 22400-2 KPIs as fractions (0.85 = 85 %); ``None`` where the ratio is undefined."""

    availability: float | None
    effectiveness: float | None
    quality_ratio: float | None
    oee: float | None
    nee: float | None
    technical_efficiency: float | None
    setup_rate: float | None
    scrap_ratio: float | None
    rework_ratio: float | None
    data_coverage: float | None
    effectiveness_above_one: bool
    has_no_data_time: bool
    has_downtime_needing_reason: bool
    has_counts_without_production_time: bool

    @property
    def flags(self) -> tuple[str, ...]:
        """Names of the flags that are set, for APIs and dashboards."""
        names = (
            "effectiveness_above_one",
            "has_no_data_time",
            "has_downtime_needing_reason",
            "has_counts_without_production_time",
        )
        return tuple(name for name in names if getattr(self, name))


def compute_kpis(elements: OeeElements) -> OeeKpis:
    """KPIs of (summed) elements; see the module docstring for the formulas.

    Flags: ``effectiveness_above_one`` when E > 1 (PRU too long, or the unit produced through
    planned down time, whose production time is not in APT); ``has_no_data_time`` when part of
    PBT had no data (the KPIs then describe only the observed part, ``data_coverage`` < 1);
    ``has_downtime_needing_reason`` when unexplained long stops were booked to ADET
    provisionally; ``has_counts_without_production_time`` when units were counted but APT is 0
    (E is then undefined, a sign of missing state data).
    """
    observed_busy_time_s = elements.observed_busy_time_s
    availability = _ratio(elements.actual_production_time_s, observed_busy_time_s)
    effectiveness = _ratio(elements.planned_time_of_produced_s, elements.actual_production_time_s)
    quality_ratio = _ratio(elements.good_quantity, elements.produced_quantity)
    processing_rate = _ratio(elements.actual_processing_time_s, observed_busy_time_s)
    return OeeKpis(
        availability=availability,
        effectiveness=effectiveness,
        quality_ratio=quality_ratio,
        oee=_product(availability, effectiveness, quality_ratio),
        nee=_product(processing_rate, effectiveness, quality_ratio),
        technical_efficiency=_ratio(
            elements.actual_production_time_s,
            elements.actual_production_time_s + elements.actual_delay_time_s,
        ),
        setup_rate=_ratio(elements.actual_setup_time_s, elements.actual_processing_time_s),
        scrap_ratio=_ratio(elements.scrap_quantity, elements.produced_quantity),
        rework_ratio=_ratio(elements.rework_quantity, elements.produced_quantity),
        data_coverage=_ratio(observed_busy_time_s, elements.planned_busy_time_s),
        effectiveness_above_one=(
            effectiveness is not None and effectiveness > 1.0 + EFFECTIVENESS_FLAG_TOLERANCE
        ),
        has_no_data_time=elements.no_data_time_s > 0.0,
        has_downtime_needing_reason=elements.needs_reason_time_s > 0.0,
        has_counts_without_production_time=(
            elements.produced_quantity > 0.0 and elements.actual_production_time_s <= 0.0
        ),
    )


# How each of the six big losses (Nakajima) is read from the ISO 22400-2 elements.
SIX_BIG_LOSSES_ISO_TERMS: Mapping[str, str] = {
    "breakdowns_s": "ADET − minor stops (reason-coded delays and unexplained stops ≥ threshold)",
    "setup_and_adjustments_s": "AUST",
    "minor_stops_s": "part of ADET: stops shorter than the micro-stop threshold",
    "reduced_speed_s": "APT − Σ PRU·PQ",
    "scrap_s": "Σ PRU·SQ",
    "rework_s": "Σ PRU·RQ",
}


@dataclass(frozen=True, slots=True)
class SixBigLosses:
    """The six big losses in seconds, read from the ISO 22400-2 elements.

    The categories map to ISO terms as in :data:`SIX_BIG_LOSSES_ISO_TERMS`:

    - breakdowns = ADET − minor stops: every delay booked to ADET by a reason, plus
      unexplained stops at least as long as the micro-stop threshold (``needs_reason_s`` of
      it still waits for a reason);
    - setup and adjustments = AUST;
    - minor stops = the part of ADET made of stops shorter than the threshold. Nakajima counts
      them as a speed loss; in ISO 22400-2 they sit in ADET and therefore lower availability,
      not effectiveness — the report keeps them apart so both readings are possible;
    - reduced speed = APT − Σ PRU·PQ: production time beyond the planned time of the units
      made. Negative when the unit ran faster than planned (effectiveness above 1);
    - scrap = Σ PRU·SQ and rework = Σ PRU·RQ: planned production time spent on units that
      were scrapped or must be reworked (start-up and process defects together; the counts
      do not say when in the run a unit failed).

    Besides the six: ``idle_s`` = ADOT (available, no order / starved / blocked),
    ``no_data_s``, ``unaccounted_s`` and ``fully_productive_s`` = Σ PRU·PQ − scrap − rework
    (includes units not classified yet). They reconcile exactly::

        PBT − no_data = fully_productive + scrap + rework + reduced_speed
                        + setup_and_adjustments + breakdowns + minor_stops + idle + unaccounted
    """

    breakdowns_s: float
    setup_and_adjustments_s: float
    minor_stops_s: float
    reduced_speed_s: float
    scrap_s: float
    rework_s: float
    needs_reason_s: float
    idle_s: float
    no_data_s: float
    unaccounted_s: float
    fully_productive_s: float


def six_big_losses(elements: OeeElements) -> SixBigLosses:
    """Six-big-losses view of (summed) elements; see :class:`SixBigLosses`."""
    return SixBigLosses(
        breakdowns_s=elements.actual_delay_time_s - elements.minor_stop_time_s,
        setup_and_adjustments_s=elements.actual_setup_time_s,
        minor_stops_s=elements.minor_stop_time_s,
        reduced_speed_s=elements.actual_production_time_s - elements.planned_time_of_produced_s,
        scrap_s=elements.planned_time_of_scrap_s,
        rework_s=elements.planned_time_of_rework_s,
        needs_reason_s=elements.needs_reason_time_s,
        idle_s=elements.actual_down_time_s,
        no_data_s=elements.no_data_time_s,
        unaccounted_s=elements.unaccounted_time_s,
        fully_productive_s=(
            elements.planned_time_of_produced_s
            - elements.planned_time_of_scrap_s
            - elements.planned_time_of_rework_s
        ),
    )
