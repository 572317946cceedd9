"""The errors of the SPC package: each names the input field it is about, so that a caller
(the REST API, the ingest bridge) can answer with a 400 on that field or a dead letter with the
reason, never a silent number."""

from __future__ import annotations


class SpcError(ValueError):
    """Invalid input to a chart, a run rule or a capability study."""

    field = "values"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class NonFiniteValueError(SpcError):
    """A value is NaN or infinite."""


class TooFewSubgroupsError(SpcError):
    """Limits or capability need at least two subgroups (or two individual values)."""


class ZeroSpreadError(SpcError):
    """The data has no spread: sigma would be zero and every limit meaningless."""


class SubgroupSizeError(SpcError):
    """A subgroup of the wrong size (ragged, outside the table, or not the configured size)."""

    field = "subgroup_size"


class SpecLimitsError(SpcError):
    """Missing or inverted specification limits (LSL ≥ USL)."""

    field = "upper_spec_limit"


class CountError(SpcError):
    """An attribute count that is negative, or more defectives than inspected units."""

    field = "counts"
