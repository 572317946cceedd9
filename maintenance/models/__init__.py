from maintenance.models.drift import RedundantPair, SensorSuspicion
from maintenance.models.health import AnomalyEpisode, HealthBaseline, HealthSnapshot
from maintenance.models.work_orders import (
    ComponentPart,
    FailureEvent,
    MaintenanceWorkOrder,
    PreventivePlan,
)

__all__ = [
    "AnomalyEpisode",
    "ComponentPart",
    "FailureEvent",
    "HealthBaseline",
    "HealthSnapshot",
    "MaintenanceWorkOrder",
    "PreventivePlan",
    "RedundantPair",
    "SensorSuspicion",
]
