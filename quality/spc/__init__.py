"""Statistical process control, pure: numpy and scipy only, no Django (tests/quality/spc
checks it in a subprocess). Control charts and limits (``charts``), the table constants
(``constants``), the Nelson and Western Electric run rules (``rules``) and capability
(``capability``)."""

from quality.spc.capability import (
    Capability,
    Normality,
    WithinSigmaMethod,
    capability_analyze,
    spec_limits_check,
)
from quality.spc.charts import (
    ChartPoints,
    ChartType,
    ControlLimits,
    chart_points,
    limits_compute,
)
from quality.spc.constants import ChartConstants, constants_for
from quality.spc.errors import (
    CountError,
    NonFiniteValueError,
    SpcError,
    SpecLimitsError,
    SubgroupSizeError,
    TooFewSubgroupsError,
    ZeroSpreadError,
)
from quality.spc.rules import (
    NELSON_RULES,
    WESTERN_ELECTRIC_RULES,
    RuleEvaluator,
    RunRule,
    Violation,
    Zone,
    rules_evaluate,
    rules_parse,
    zone_of,
)

__all__ = [
    "NELSON_RULES",
    "WESTERN_ELECTRIC_RULES",
    "Capability",
    "ChartConstants",
    "ChartPoints",
    "ChartType",
    "ControlLimits",
    "CountError",
    "NonFiniteValueError",
    "Normality",
    "RuleEvaluator",
    "RunRule",
    "SpcError",
    "SpecLimitsError",
    "SubgroupSizeError",
    "TooFewSubgroupsError",
    "Violation",
    "WithinSigmaMethod",
    "ZeroSpreadError",
    "Zone",
    "capability_analyze",
    "chart_points",
    "constants_for",
    "limits_compute",
    "rules_evaluate",
    "rules_parse",
    "spec_limits_check",
    "zone_of",
]
