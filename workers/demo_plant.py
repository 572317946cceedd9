"""The demo plant: one enterprise and site with two assembly lines and a machining area.

`demo_plant_load` is idempotent: run it twice and the plant is the same (get-or-update by
natural keys; work orders are only created when missing).
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from autonomy import models as autonomy_models
from autonomy.choices import ActionKind, ActionRisk
from inventory.choices import ItemKind
from inventory.models import Item, Location
from inventory.services import stock_receive
from maintenance.models import ComponentPart, RedundantPair
from mes_site.roles import ALL_ROLES
from planning import models as planning_models
from production import models as m
from production import services
from production.choices import IsoTimeElement
from production.services.alerts import alert_rules_default_ensure
from traceability.choices import LotOrigin
from traceability.models import Lot
from traceability.services import lot_create

DEMO_PASSWORD_SUFFIX = "-demo"
DEMO_USERS = {role: f"{role}{DEMO_PASSWORD_SUFFIX}" for role in ALL_ROLES}
# The loader's own users carry this e-mail domain; any other user of a demo name is not touched.
DEMO_EMAIL_DOMAIN = "@demo.invalid"

ASSEMBLY_STATIONS = [
    ("distribution", "Distribution", "distribution"),
    ("machining", "Machining", "assembly_machining"),
    ("quality_control", "Quality control", "inspection"),
    ("storage", "Storage", "storage"),
    ("classification", "Classification", "classification"),
]

# Published two-line study parameters (time s, power W per part).
LINE_PART_PARAMETERS = {
    "MPS1": {"PART_A": (218, 843), "PART_B": (156, 569), "PART_C": (128, 572)},
    "MPS2": {"PART_A": (156, 562), "PART_B": (154, 558), "PART_C": (127, 571)},
}
# Money rates (machine-hour rate per h, energy price per kWh): MPS1 is cheaper by the hour,
# MPS2 draws less power; both cost terms are cents per part (docs/scheduling.md §3).
LINE_COST_RATES = {"MPS1": (0.50, 0.40), "MPS2": (0.65, 0.40)}

DOWNTIME_REASONS = [
    # (code, name, parent code, ISO element)
    ("BREAKDOWN", "Breakdown", None, IsoTimeElement.ADET),
    ("BREAKDOWN_MECH", "Mechanical failure", "BREAKDOWN", IsoTimeElement.ADET),
    ("BREAKDOWN_SPINDLE", "Spindle failure", "BREAKDOWN_MECH", IsoTimeElement.ADET),
    ("BREAKDOWN_ELEC", "Electrical failure", "BREAKDOWN", IsoTimeElement.ADET),
    ("BREAKDOWN_HYDRAULIC", "Hydraulic leak", "BREAKDOWN", IsoTimeElement.ADET),
    ("MINOR_STOP", "Minor stop", None, IsoTimeElement.ADET),
    ("MINOR_STOP_JAM", "Part jam", "MINOR_STOP", IsoTimeElement.ADET),
    ("MINOR_STOP_SENSOR", "Sensor fault", "MINOR_STOP", IsoTimeElement.ADET),
    ("SETUP", "Setup and adjustment", None, IsoTimeElement.AUST),
    ("SETUP_CHANGEOVER", "Product changeover", "SETUP", IsoTimeElement.AUST),
    ("SETUP_TOOL", "Tool change", "SETUP", IsoTimeElement.AUST),
    ("ORGANISATIONAL", "Organisational", None, IsoTimeElement.ADOT),
    ("ORG_NO_ORDER", "No order", "ORGANISATIONAL", IsoTimeElement.ADOT),
    ("ORG_STARVED", "Starved (no material)", "ORGANISATIONAL", IsoTimeElement.ADOT),
    ("ORG_BLOCKED", "Blocked (downstream full)", "ORGANISATIONAL", IsoTimeElement.ADOT),
    ("ORG_NO_OPERATOR", "No operator", "ORGANISATIONAL", IsoTimeElement.ADOT),
    ("PLANNED", "Planned stop", None, IsoTimeElement.PDOT),
    ("PLANNED_BREAK", "Break", "PLANNED", IsoTimeElement.PDOT),
    ("PLANNED_PM", "Preventive maintenance", "PLANNED", IsoTimeElement.PDOT),
    ("PLANNED_MEETING", "Team meeting", "PLANNED", IsoTimeElement.PDOT),
]

ACTION_RISKS = {
    ActionKind.REROUTE: ActionRisk.LOW,
    ActionKind.RESEQUENCE: ActionRisk.LOW,
    ActionKind.PART_RESERVATION: ActionRisk.LOW,
    ActionKind.MAINTENANCE_ORDER: ActionRisk.MEDIUM,
    ActionKind.REPRIORITISE: ActionRisk.MEDIUM,
    ActionKind.PROCUREMENT_REQUEST: ActionRisk.HIGH,
    ActionKind.DISPATCH_OVERRIDE: ActionRisk.HIGH,
    ActionKind.QUALITY_ALERT: ActionRisk.LOW,
    ActionKind.SPC_LOT_HOLD: ActionRisk.LOW,
    ActionKind.LOT_HOLD: ActionRisk.LOW,
    ActionKind.RECALL_HOLD: ActionRisk.LOW,  # a person asked for it on the trace page
    ActionKind.OPERATION_STOP: ActionRisk.HIGH,
}


def _upsert(model, lookup: dict, defaults: dict | None = None):
    obj, _ = model.objects.update_or_create(**lookup, defaults=defaults or {})
    return obj


def _signals(equipment: m.Equipment, specs: list[tuple]) -> None:
    for name, unit, low, high, period_s in specs:
        _upsert(
            m.Signal,
            {"equipment": equipment, "name": name},
            {"unit": unit, "min_value": low, "max_value": high, "sample_period_s": period_s},
        )


STATION_SIGNALS = [
    ("temperature", "degC", -20.0, 150.0, 1.0),
    ("power", "W", 0.0, 20000.0, 1.0),
]

SPINDLE_SIGNALS = [
    ("temperature", "degC", -20.0, 150.0, 1.0),
    ("power", "W", 0.0, 60000.0, 1.0),
    ("spindle_speed", "rpm", 0.0, 30000.0, 1.0),
    ("vibration_rms", "mm/s", 0.0, 100.0, 1.0),
    ("vibration_peak_to_peak", "mm/s", 0.0, 400.0, 1.0),
    ("vibration_kurtosis", "", 0.0, 1000.0, 1.0),
    ("vibration_crest_factor", "", 0.0, 1000.0, 1.0),
    # Vibration window features from the edge agent: `vibration_` + the feature names of
    # maintenance.algorithms.signal.FeatureSettings (published on .../_features at 1 Hz).
    ("vibration_band_energy_0_500_hz", "", 0.0, 1.0e9, 1.0),
    ("vibration_band_energy_500_1000_hz", "", 0.0, 1.0e9, 1.0),
    ("vibration_band_energy_1000_2500_hz", "", 0.0, 1.0e9, 1.0),
    ("vibration_band_energy_2500_5000_hz", "", 0.0, 1.0e9, 1.0),
]
FEATURE_SIGNAL_PREFIX = "vibration_"


@transaction.atomic
def demo_plant_load() -> dict:
    """Create or refresh the demo plant; returns a summary of what exists."""
    enterprise = _upsert(m.Enterprise, {"code": "acme"}, {"name": "ACME Manufacturing"})
    site = _upsert(
        m.Site,
        {"enterprise": enterprise, "code": "plant1"},
        {"name": "Plant 1", "time_zone": "Europe/Berlin"},
    )
    capabilities = {
        code: _upsert(m.Capability, {"code": code}, {"name": name})
        for code, name in [
            ("distribution", "Pallet distribution"),
            ("assembly_machining", "Assembly machining"),
            ("inspection", "Quality inspection"),
            ("storage", "Storage"),
            ("classification", "Parts classification"),
            ("milling", "5-axis milling"),
        ]
    }

    # (a) Assembly area with two identical lines MPS1 and MPS2.
    assembly = _upsert(m.Area, {"site": site, "code": "assembly"}, {"name": "Assembly"})
    _upsert(
        planning_models.DispatchPolicy,
        {"area": assembly},
        {"time_weight": 1.0, "energy_weight": 1.0, "imbalance_threshold": 1.3},
    )
    products = {}
    for code, name in [("PART_A", "Part A"), ("PART_B", "Part B"), ("PART_C", "Part C")]:
        item = _upsert(Item, {"code": code}, {"name": name, "kind": ItemKind.PRODUCT})
        product = _upsert(m.Product, {"code": code}, {"name": name, "item": item})
        routing = _upsert(m.Routing, {"product": product, "version": "1"}, {"is_active": True})
        for sequence, (_station, station_name, capability) in enumerate(ASSEMBLY_STATIONS, 1):
            _upsert(
                m.OperationTemplate,
                {"routing": routing, "sequence": sequence * 10},
                {
                    "name": station_name,
                    "capability": capabilities[capability],
                    "planned_run_time_per_unit_s": 30.0,
                    "setup_time_s": 0.0,
                    "force_kn": 2.0,
                },
            )
        products[code] = product
    lines = {}
    for line_code in ["MPS1", "MPS2"]:
        line = _upsert(
            m.Line,
            {"area": assembly, "code": line_code},
            {"name": f"Modular production system {line_code[-1]}", "capacity_units": 40},
        )
        lines[line_code] = line
        for station, station_name, capability in ASSEMBLY_STATIONS:
            cell = _upsert(m.Cell, {"line": line, "code": station}, {"name": station_name})
            equipment = _upsert(
                m.Equipment,
                {"cell": cell, "code": f"{line_code}_{station}"},
                {"name": f"{line_code} {station_name}", "stress_limit_kn": 10.0},
            )
            equipment.capabilities.set([capabilities[capability]])
            _signals(equipment, STATION_SIGNALS)
        hour_rate, energy_price = LINE_COST_RATES[line_code]
        _upsert(
            planning_models.LineCostRates,
            {"line": line},
            {"machine_hour_rate": hour_rate, "energy_price_per_kwh": energy_price},
        )
        for product_code, (time_s, power_w) in LINE_PART_PARAMETERS[line_code].items():
            _upsert(
                planning_models.LinePartParameters,
                {"line": line, "product": products[product_code]},
                {"time_per_part_s": time_s, "power_w": power_w},
            )

    # (b) Machining area with redundant CNC spindles.
    machining = _upsert(m.Area, {"site": site, "code": "machining"}, {"name": "Machining"})
    cnc_line = _upsert(m.Line, {"area": machining, "code": "CNC"}, {"name": "CNC machining"})
    lines["CNC"] = cnc_line
    spindles = {}
    for number in (7, 8):
        cell = _upsert(
            m.Cell, {"line": cnc_line, "code": f"cell{number}"}, {"name": f"Cell {number}"}
        )
        spindle = _upsert(
            m.Equipment,
            {"cell": cell, "code": f"CNC_Spindle_{number}"},
            {
                "name": f"CNC spindle {number}",
                "stress_limit_kn": 10.0,
                "bottleneck_weight": 1.0,
            },
        )
        spindle.capabilities.set([capabilities["milling"]])
        _signals(spindle, SPINDLE_SIGNALS)
        spindles[number] = spindle
    _redundant_probe(spindles[8])
    machined = {}
    for code, name, force_kn, run_time_s in [
        ("Aero_Bracket", "Aero bracket", 12.5, 240.0),
        ("Turbine_Blade", "Turbine blade", 45.0, 600.0),
        ("Housing_Cap", "Housing cap", 4.2, 90.0),
    ]:
        item = _upsert(Item, {"code": code}, {"name": name, "kind": ItemKind.PRODUCT})
        product = _upsert(m.Product, {"code": code}, {"name": name, "item": item})
        routing = _upsert(m.Routing, {"product": product, "version": "1"}, {"is_active": True})
        _upsert(
            m.OperationTemplate,
            {"routing": routing, "sequence": 10},
            {
                "name": "Rough milling",
                "capability": capabilities["milling"],
                "planned_run_time_per_unit_s": run_time_s,
                "setup_time_s": 900.0,
                "force_kn": force_kn,
            },
        )
        _upsert(
            m.OperationTemplate,
            {"routing": routing, "sequence": 20},
            {
                "name": "Finish milling",
                "capability": capabilities["milling"],
                "planned_run_time_per_unit_s": run_time_s / 2,
                "setup_time_s": 300.0,
                "force_kn": round(force_kn / 3, 2),
            },
        )
        machined[code] = product

    # Spare parts and the component map.
    store = _upsert(Location, {"site": site, "code": "MRO-STORE"}, {"name": "Spare parts store"})
    _upsert(Location, {"site": site, "code": "FG-STORE"}, {"name": "Finished goods store"})
    bearing = _upsert(
        Item, {"code": "SP-BEARING-7014"}, {"name": "Spindle bearing 7014", "kind": ItemKind.SPARE}
    )
    seal = _upsert(
        Item, {"code": "SP-SEAL-HYD-40"}, {"name": "Hydraulic seal 40 mm", "kind": ItemKind.SPARE}
    )
    for spindle in spindles.values():
        _upsert(
            ComponentPart,
            {"equipment": spindle, "component": "spindle_bearing"},
            {"spare_item": bearing, "quantity_per_replacement": 1},
        )
        _upsert(
            ComponentPart,
            {"equipment": spindle, "component": "hydraulic_seal"},
            {"spare_item": seal, "quantity_per_replacement": 2},
        )
    _demo_spare_stock(store=store, bearing=bearing, seal=seal)

    # Shift calendar: three shifts with breaks, for the whole site.
    calendar = _upsert(
        m.ShiftCalendar, {"site": site, "line": None}, {"name": "Plant 1 three shifts"}
    )
    for name, start, end, break_start, break_end in [
        ("Early", time(6), time(14), time(10), time(10, 30)),
        ("Late", time(14), time(22), time(18), time(18, 30)),
        ("Night", time(22), time(6), time(2), time(2, 30)),
    ]:
        shift = _upsert(
            m.Shift,
            {"calendar": calendar, "name": name},
            {"start_time": start, "end_time": end, "weekdays": "01234"},
        )
        _upsert(
            m.ShiftBreak,
            {"shift": shift, "name": "Meal break"},
            {"start_time": break_start, "end_time": break_end},
        )

    reasons: dict[str, m.DowntimeReason] = {}
    for code, name, parent_code, element in DOWNTIME_REASONS:
        reasons[code] = _upsert(
            m.DowntimeReason,
            {"code": code},
            {"name": name, "parent": reasons.get(parent_code), "iso_element": element},
        )
    for kind, risk in ACTION_RISKS.items():
        _upsert(autonomy_models.ActionPolicy, {"kind": kind}, {"risk": risk})

    alert_rules_default_ensure()
    _demo_work_orders(site=site, lines=lines, products=products, machined=machined)
    users, users_kept = _demo_users(site=site, lines=lines)
    return {
        "site": site.code,
        "lines": sorted(lines),
        "equipment": m.Equipment.objects.filter(cell__line__area__site=site).count(),
        "users": users,
        "users_kept": users_kept,
    }


def _redundant_probe(spindle: m.Equipment) -> None:
    """A second temperature probe on one spindle and its redundant pair (both probes and the
    spindle thermal model from power and speed): the simulator drifts that probe slowly
    (docs/simulator.md and docs/maintenance.md, "Sensor drift")."""
    _signals(spindle, [("temperature_2", "degC", -20.0, 150.0, 1.0)])
    signals = {signal.name: signal for signal in spindle.signals.all()}
    _upsert(
        RedundantPair,
        {"equipment": spindle, "name": "spindle temperature"},
        {
            "signal_a": signals["temperature"],
            "signal_b": signals["temperature_2"],
            "model": "spindle_thermal",
            "power_signal": signals["power"],
            "speed_signal": signals["spindle_speed"],
            # The simulator's spindle: 48 °C at 9 kW, 25 °C at 0.7 kW standby, τ 240 s.
            "ambient_c": 23.0,
            "thermal_resistance_c_per_kw": 2.78,
            "speed_heat_c_per_krpm": 0.0,
            "time_constant_s": 240.0,
            "model_sigma_c": 1.5,
        },
    )


def _demo_spare_stock(*, store: Location, bearing: Item, seal: Item) -> None:
    for item, code, quantity in [(bearing, "LOT-BEARING-0001", 2), (seal, "LOT-SEAL-0001", 6)]:
        if Lot.objects.filter(code=code).exists():
            continue
        lot = lot_create(
            item=item, code=code, quantity=Decimal(quantity), origin=LotOrigin.RECEIVED
        )
        stock_receive(lot=lot, location=store, quantity=Decimal(quantity), reference="demo")


def _demo_work_orders(*, site, lines, products, machined) -> None:
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    planned = [
        ("WO-DEMO-1001", machined["Aero_Bracket"], 20, lines["CNC"], 8),
        ("WO-DEMO-1002", machined["Turbine_Blade"], 6, lines["CNC"], 12),
        ("WO-DEMO-1003", machined["Housing_Cap"], 50, lines["CNC"], 16),
        ("WO-DEMO-1004", machined["Aero_Bracket"], 10, lines["CNC"], 30),
        ("WO-DEMO-2001", products["PART_A"], 12, lines["MPS1"], 6),
        ("WO-DEMO-2002", products["PART_B"], 8, lines["MPS2"], 10),
    ]
    for number, product, quantity, line, due_h in planned:
        if m.WorkOrder.objects.filter(number=number).exists():
            continue
        work_order = services.work_order_create(
            number=number,
            product=product,
            quantity=quantity,
            due_at=now + timedelta(hours=due_h),
            site=site,
            line=line,
        )
        services.work_order_release(work_order_id=work_order.pk, actor=None, reason="demo")


def _demo_email(role: str) -> str:
    return f"{role}{DEMO_EMAIL_DOMAIN}"


def _demo_users(*, site, lines) -> tuple[list[dict], list[str]]:
    """The demo users, created or refreshed; a user of the same name that the loader did not
    create (its e-mail is not the demo address) is left exactly as it is and named in the
    second list: the loader never promotes or regroups a real account."""
    user_model = get_user_model()
    created = []
    kept = []
    for role, password in DEMO_USERS.items():
        user, is_new = user_model.objects.get_or_create(
            username=role, defaults={"email": _demo_email(role)}
        )
        if not is_new and user.email != _demo_email(role):
            kept.append(role)
            continue
        if is_new:
            user.set_password(password)
        user.is_staff = role == "admin"
        user.is_superuser = role == "admin"
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        if role in {"supervisor", "operator"}:
            scope, _ = m.PlantScope.objects.get_or_create(user=user)
            if role == "supervisor":
                scope.sites.set([site])
            else:
                scope.lines.set([lines["MPS1"], lines["CNC"]])
        created.append({"username": role, "password": password, "role": role})
    return created, kept
