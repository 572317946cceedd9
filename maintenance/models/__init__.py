from maintenance.models.drift import RedundantPair, SensorSuspicion
from maintenance.models.health import AnomalyEpisode, HealthBaseline, HealthSnapshot
from maintenance.models.rul import MachineClass, MachineClassMember, RulModelVersion
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
    "MachineClass",
    "MachineClassMember",
    "MaintenanceWorkOrder",
    "PreventivePlan",
    "RedundantPair",
    "RulModelVersion",
    "SensorSuspicion",
]
