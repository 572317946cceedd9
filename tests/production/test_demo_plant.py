from django.contrib.auth import authenticate
from django.test import RequestFactory

from autonomy import models as autonomy_models
from inventory.models import Item, Stock
from maintenance.models import ComponentPart
from planning import models as planning_models
from production import models as m
from traceability.models import AuditEvent
from workers.demo_plant import DEMO_USERS, demo_plant_load

COUNTED = [
    m.Enterprise,
    m.Site,
    m.Area,
    m.Line,
    m.Cell,
    m.Equipment,
    m.Signal,
    m.Capability,
    m.Product,
    m.Routing,
    m.OperationTemplate,
    m.WorkOrder,
    m.Operation,
    m.ShiftCalendar,
    m.Shift,
    m.ShiftBreak,
    m.DowntimeReason,
    planning_models.LinePartParameters,
    planning_models.LineCostRates,
    planning_models.DispatchPolicy,
    autonomy_models.ActionPolicy,
    m.AlertRule,
    m.PlantScope,
    Item,
    Stock,
    ComponentPart,
    AuditEvent,
]


def _snapshot():
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_loading_twice_gives_the_same_plant(db):
    demo_plant_load()
    first = _snapshot()
    paths_first = sorted(m.Equipment.objects.values_list("uns_path", flat=True))
    demo_plant_load()
    assert _snapshot() == first
    assert sorted(m.Equipment.objects.values_list("uns_path", flat=True)) == paths_first


def test_demo_plant_content(db):
    demo_plant_load()
    stations = ["classification", "distribution", "machining", "quality_control", "storage"]
    for line in ["MPS1", "MPS2"]:
        assert (
            sorted(m.Cell.objects.filter(line__code=line).values_list("code", flat=True))
            == stations
        )
    assert sorted(m.Product.objects.values_list("code", flat=True)) == [
        "Aero_Bracket",
        "Housing_Cap",
        "PART_A",
        "PART_B",
        "PART_C",
        "Turbine_Blade",
    ]
    spindles = m.Equipment.objects.filter(code__startswith="CNC_Spindle").order_by("code")
    assert [s.uns_path for s in spindles] == [
        "acme/plant1/machining/CNC/cell7/CNC_Spindle_7",
        "acme/plant1/machining/CNC/cell8/CNC_Spindle_8",
    ]
    forces = dict(
        m.OperationTemplate.objects.filter(
            sequence=10, routing__product__code__in=["Aero_Bracket", "Turbine_Blade", "Housing_Cap"]
        ).values_list("routing__product__code", "force_kn")
    )
    assert forces == {"Aero_Bracket": 12.5, "Turbine_Blade": 45.0, "Housing_Cap": 4.2}
    assert sorted(m.Shift.objects.values_list("name", flat=True)) == ["Early", "Late", "Night"]
    rules = sorted(
        m.AlertRule.objects.values_list(
            "metric", "signal_name", "comparison", "threshold", "severity"
        )
    )
    assert rules == [
        ("oee", "", "below", 0.75, "warning"),
        ("signal", "temperature", "above", 80.0, "critical"),
        ("signal", "vibration_rms", "above", 10.0, "warning"),
    ]
    assert m.ShiftBreak.objects.count() == 3
    assert set(ComponentPart.objects.values_list("spare_item__code", flat=True)) == {
        "SP-BEARING-7014",
        "SP-SEAL-HYD-40",
    }
    assert set(m.WorkOrder.objects.values_list("product__code", flat=True)) >= {
        "Aero_Bracket",
        "Turbine_Blade",
        "Housing_Cap",
    }
    params = {
        (p.line.code, p.product.code): (p.time_per_part_s, p.power_w)
        for p in planning_models.LinePartParameters.objects.select_related("line", "product")
    }
    assert params[("MPS1", "PART_A")] == (218, 843)
    assert params[("MPS2", "PART_A")] == (156, 562)
    for username, password in DEMO_USERS.items():
        # With a request, as every password check (django-axes counts them).
        user = authenticate(
            RequestFactory().post("/accounts/login/"), username=username, password=password
        )
        assert user is not None, username
        assert list(user.groups.values_list("name", flat=True)) == [username]
