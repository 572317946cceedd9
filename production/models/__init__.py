from production.models.bom import BillOfMaterials, BomLine
from production.models.calendar import (
    DowntimeReason,
    PlannedDowntime,
    Shift,
    ShiftBreak,
    ShiftCalendar,
)
from production.models.monitoring import (
    Alert,
    AlertRule,
    EquipmentStateInterval,
    OeeSnapshot,
    ProductionCount,
)
from production.models.plant import (
    Area,
    Capability,
    Cell,
    Enterprise,
    Equipment,
    Line,
    OperatorBadge,
    PlantScope,
    Signal,
    Site,
)
from production.models.products import OperationTemplate, Product, Routing
from production.models.work_orders import Operation, WorkOrder

__all__ = [
    "Alert",
    "AlertRule",
    "Area",
    "BillOfMaterials",
    "BomLine",
    "Capability",
    "Cell",
    "DowntimeReason",
    "Enterprise",
    "Equipment",
    "EquipmentStateInterval",
    "Line",
    "OeeSnapshot",
    "Operation",
    "OperationTemplate",
    "OperatorBadge",
    "PlannedDowntime",
    "PlantScope",
    "Product",
    "ProductionCount",
    "Routing",
    "Shift",
    "ShiftBreak",
    "ShiftCalendar",
    "Signal",
    "Site",
    "WorkOrder",
]
