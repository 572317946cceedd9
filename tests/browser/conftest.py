"""End-to-end fixtures: the demo plant with a live scene, daphne on a free port, Chromium.

pytest-django's ``live_server`` is WSGI only; websockets need the ASGI app, so ``asgi_server``
starts daphne in a subprocess against the test database (committed data: the tests are
transactional). Chromium is Debian's (/usr/bin/chromium), driven by Playwright for Python;
the tests skip, saying why, when it is not installed.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from mes_site.mfa import mfa_needed
from mes_site.roles import roles_sync
from tests.asgi_server import ARTIFACTS, AsgiServer, database_url_for_server, free_port
from tests.mfa import totp_code, totp_device_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: install Debian's Chromium (make browsers, or "
        "apt-get install -y chromium) to run the browser tests"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def live_scene(transactional_db):
    """The demo plant (users, lines, reasons) and a live picture: states, stops, alerts,
    running work, proposed actions, dispatch, a plan and health trends."""
    roles_sync(Group, Permission)
    from workers.demo_plant import demo_plant_load

    demo_plant_load()
    return live_scene_seed()


@pytest.fixture
def asgi_server(live_scene):
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_for_server(),
        "DATABASE_CONN_MAX_AGE": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = AsgiServer(port=free_port(), environment=environment)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module.

    Playwright's sync API keeps an event loop running in this thread, which Django's
    async-safety check takes for async code; the database calls of these tests are plain
    sync calls, so the check is lifted while (and only while) the browser runs.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(browser, asgi_server):
    """A logged-in page of a fresh browser context: open_page(user, password, path, size)."""
    contexts = []

    def make(username: str, password: str, path: str = "/", *, width=1440, height=1000):
        # A user of a role that needs the second factor has an authenticator app: a TOTP
        # device whose current code the helper types, as the person would.
        user = get_user_model().objects.get(username=username)
        device = totp_device_for(user) if mfa_needed(user) else None
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{asgi_server.url}/accounts/login/?next={path}")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        if device is not None:
            page.wait_for_url(f"{asgi_server.url}/accounts/mfa/verify/**")
            page.fill("#id_code", totp_code(device))
            page.click("#mfa-verify")
        page.wait_for_url(f"{asgi_server.url}{path}")
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """screenshot(page, name): a full-page PNG in test-artifacts/."""

    def take(page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(target), full_page=True)
        return target

    return take


# --- the live scene ----------------------------------------------------------------------


def live_scene_seed() -> dict:
    """Write a plausible shift's worth of live data for the demo plant; returns ids."""
    from autonomy.services import guardrails
    from inventory.models import Item  # noqa: F401  (the demo plant created the items)
    from planning import models as planning_models
    from production import models as m
    from production import services

    now = timezone.now().replace(microsecond=0)
    site = m.Site.objects.get(code="plant1")
    lines = {line.code: line for line in m.Line.objects.filter(area__site=site)}
    machines = {machine.code: machine for machine in m.Equipment.objects.all()}
    reasons = {reason.code: reason for reason in m.DowntimeReason.objects.all()}
    supervisor = _user("supervisor")
    operator = _user("operator")
    # Shifts on every day, so that the scene has shift time whatever day the tests run.
    m.Shift.objects.filter(calendar__site=site).update(weekdays="0123456")

    # Machine states over the last eight hours: mostly producing, some stops.
    patterns = {
        "CNC_Spindle_7": [
            ("producing", 150, None),
            ("down", 25, "BREAKDOWN_SPINDLE"),
            ("producing", 170, None),
            ("setup", 20, "SETUP_TOOL"),
            ("producing", 95, None),
            ("down", 18, None),
        ],
        "CNC_Spindle_8": [("producing", 300, None), ("starved", 40, "ORG_STARVED")],
        "MPS1_machining": [
            ("producing", 200, None),
            ("down", 30, "BREAKDOWN_HYDRAULIC"),
            ("producing", 150, None),
        ],
        "MPS1_quality_control": [("producing", 260, None), ("blocked", 25, "ORG_BLOCKED")],
        "MPS2_distribution": [("producing", 220, None), ("idle", 60, "ORG_NO_ORDER")],
        "MPS2_machining": [("producing", 310, None), ("setup", 15, "SETUP_CHANGEOVER")],
    }
    intervals = {}
    for code, machine in machines.items():
        steps = patterns.get(code, [("producing", 380, None)])
        total_min = sum(minutes for _, minutes, _ in steps)
        start = now - timedelta(minutes=total_min)
        for index, (state, minutes, reason_code) in enumerate(steps):
            is_last = index == len(steps) - 1
            end = None if is_last else start + timedelta(minutes=minutes)
            intervals[(code, index)] = m.EquipmentStateInterval.objects.create(
                equipment=machine,
                start_at=start,
                end_at=end,
                state=state,
                reason=reasons[reason_code] if reason_code else None,
                needs_reason=state != "producing" and reason_code is None,
            )
            start = start + timedelta(minutes=minutes)
    stop_to_classify = intervals[("CNC_Spindle_7", 5)]

    # OEE snapshots: hourly per line for twelve hours, and the open shift.
    shapes = {"CNC": (0.78, 0.06), "MPS1": (0.71, 0.08), "MPS2": (0.83, 0.04)}
    hour = now.replace(minute=0, second=0)
    for code, (level, swing) in shapes.items():
        line = lines[code]
        for back in range(12, 0, -1):
            start = hour - timedelta(hours=back)
            wobble = swing * ((back * 7919) % 11 - 5) / 5
            availability = min(0.98, level + 0.1 + wobble / 2)
            effectiveness = min(1.0, 0.93 + wobble / 4)
            quality = 0.985
            _oee_snapshot(
                m,
                "line",
                line.pk,
                "hour",
                start,
                start + timedelta(hours=1),
                now,
                availability,
                effectiveness,
                quality,
                closed=True,
            )
        shift_start = hour - timedelta(hours=3)
        _oee_snapshot(
            m,
            "line",
            line.pk,
            "shift",
            shift_start,
            shift_start + timedelta(hours=8),
            now,
            level + 0.09,
            0.95,
            0.982,
            closed=False,
        )
    for code in ("CNC_Spindle_7", "CNC_Spindle_8"):
        shift_start = hour - timedelta(hours=3)
        _oee_snapshot(
            m,
            "equipment",
            machines[code].pk,
            "shift",
            shift_start,
            shift_start + timedelta(hours=8),
            now,
            0.81,
            0.94,
            0.97,
            closed=False,
        )

    # Alerts.
    temperature_rule = m.AlertRule.objects.create(
        name="Spindle temperature high",
        metric="signal",
        signal_name="temperature",
        comparison="above",
        threshold=70.0,
        severity="warning",
    )
    oee_rule = m.AlertRule.objects.create(
        name="Line OEE low", metric="oee", comparison="below", threshold=0.65, severity="critical"
    )
    m.Alert.objects.create(
        rule=temperature_rule,
        equipment=machines["CNC_Spindle_7"],
        line=lines["CNC"],
        severity="warning",
        message="Spindle temperature 74.2 degC above 70",
        value=74.2,
        raised_at=now - timedelta(minutes=12),
    )
    m.Alert.objects.create(
        rule=oee_rule,
        line=lines["MPS1"],
        severity="critical",
        message="OEE of MPS1 is 61 % (below 65 %)",
        value=0.61,
        raised_at=now - timedelta(minutes=40),
    )

    # Running work: WO-DEMO-1001 on spindle 7, WO-DEMO-2001 on MPS1.
    running = {}
    for number, station in (
        ("WO-DEMO-1001", "CNC_Spindle_7"),
        ("WO-DEMO-2001", "MPS1_distribution"),
    ):
        work_order = m.WorkOrder.objects.get(number=number)
        services.work_order_start(work_order_id=work_order.pk, actor=operator)
        operation = work_order.operations.order_by("sequence").first()
        services.operation_start(
            operation_id=operation.pk, actor=operator, equipment_id=machines[station].pk
        )
        services.operation_report_quantity(
            operation_id=operation.pk, good=7, scrap=1, actor=operator, reason="demo"
        )
        running[number] = operation.pk

    # Proposed actions waiting for a supervisor (reprioritise is medium risk: it waits).
    waiting = []
    for number, priority, why in (
        ("WO-DEMO-1003", 2, "Customer pulled the due date of WO-DEMO-1003 forward by 6 h."),
        ("WO-DEMO-2002", 1, "MPS2 backlog: WO-DEMO-2002 would miss its due date by 40 min."),
    ):
        work_order = m.WorkOrder.objects.get(number=number)
        waiting.append(
            guardrails.action_propose(
                site=site,
                kind="reprioritise",
                target=f"work order {number}: priority {work_order.priority} → {priority}",
                payload={"work_order_id": work_order.pk, "priority": priority},
                inverse={"priority": work_order.priority},
                explanation=why,
            ).pk
        )
    applied = guardrails.action_propose(
        site=site,
        kind="reprioritise",
        target="work order WO-DEMO-1004: priority 5 → 4",
        payload={"work_order_id": m.WorkOrder.objects.get(number="WO-DEMO-1004").pk, "priority": 4},
        inverse={"priority": 5},
        explanation="Spindle 7 health: move the high-force bracket earlier, before RUL p10.",
    )
    guardrails.action_approve(
        action_id=applied.pk, user=supervisor, password="supervisor-demo", meaning="approval"
    )

    # Dispatch: orders on the two assembly lines and a backlog.
    products = {product.code: product for product in m.Product.objects.all()}
    assembly = m.Area.objects.get(site=site, code="assembly")
    orders = [
        (
            "CO-7001",
            "MPS1",
            "in_progress",
            {"PART_A": 8, "PART_B": 6},
            60,
            "cost MPS1 2.91 vs MPS2 2.18 (ratio 1.33 > h 1.3): cheapest line",
        ),
        (
            "CO-7002",
            "MPS2",
            "dispatched",
            {"PART_A": 10},
            45,
            "ratio 1.12 ≤ h 1.3: least loaded line (MPS2 14 < MPS1 22 units)",
        ),
        (
            "CO-7003",
            "MPS1",
            "dispatched",
            {"PART_C": 8},
            30,
            "ratio 1.01 ≤ h 1.3: least loaded line (MPS1 14 < MPS2 18 units)",
        ),
        (
            "CO-7004",
            "MPS2",
            "dispatched",
            {"PART_B": 4, "PART_C": 4},
            12,
            "ratio 1.05 ≤ h 1.3: least loaded line (MPS2 10 < MPS1 22 units)",
        ),
        ("CO-7005", None, "backlog", {"PART_A": 12}, None, ""),
        ("CO-7006", None, "pending", {"PART_B": 6}, None, ""),
    ]
    for number, line_code, state, parts, minutes_ago, why in orders:
        order = planning_models.CustomerOrder.objects.create(
            number=number,
            site=site,
            area=assembly,
            state=state,
            line=lines[line_code] if line_code else None,
            dispatched_at=now - timedelta(minutes=minutes_ago) if minutes_ago else None,
            dispatch_explanation={"summary": why} if why else {},
        )
        for code, quantity in parts.items():
            planning_models.CustomerOrderLine.objects.create(
                order=order, product=products[code], quantity=quantity
            )

    # The current plan: the spindles' and MPS1's operations.
    run = planning_models.ScheduleRun.objects.create(
        site=site,
        trigger="health_change",
        trigger_detail="CNC_Spindle_7 anomaly α 0.72",
        status="succeeded",
        progress_percent=100,
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=3),
        duration_ms=84.0,
        is_current=True,
        makespan_s=9 * 3600.0,
        changes=[
            {
                "explanation": "WO-DEMO-1002/10 moved from CNC_Spindle_7 to CNC_Spindle_8: "
                "45 kN exceeds what a machine in anomaly may take"
            },
        ],
    )
    plan = [
        ("CNC_Spindle_7", "WO-DEMO-1001", 10, 0, 95),
        ("CNC_Spindle_7", "WO-DEMO-1001", 20, 100, 50),
        ("CNC_Spindle_7", "WO-DEMO-1004", 10, 160, 70),
        ("CNC_Spindle_8", "WO-DEMO-1002", 10, 10, 90),
        ("CNC_Spindle_8", "WO-DEMO-1002", 20, 105, 60),
        ("CNC_Spindle_8", "WO-DEMO-1003", 10, 175, 120),
        ("MPS1_distribution", "WO-DEMO-2001", 10, 0, 40),
        ("MPS1_machining", "WO-DEMO-2001", 20, 45, 60),
        ("MPS1_quality_control", "WO-DEMO-2001", 30, 110, 35),
        ("MPS2_distribution", "WO-DEMO-2002", 10, 20, 30),
        ("MPS2_machining", "WO-DEMO-2002", 20, 55, 45),
    ]
    positions: dict[str, int] = {}
    for code, number, sequence, offset_min, length_min in plan:
        operation = m.Operation.objects.get(work_order__number=number, sequence=sequence)
        start = now + timedelta(minutes=offset_min - 20)
        planning_models.ScheduledOperation.objects.create(
            run=run,
            operation=operation,
            equipment=machines[code],
            position=positions.setdefault(code, 0),
            planned_start_at=start,
            planned_end_at=start + timedelta(minutes=length_min),
            priority=round(2.5 - offset_min / 120, 3),
            explanation={"summary": f"critical ratio rule; TR/TP on {code}"},
        )
        positions[code] += 1

    _health_trends(machines, now)
    _spindle_telemetry(machines["CNC_Spindle_7"], now)
    return {
        "site": site.pk,
        "stop_to_classify": stop_to_classify.pk,
        "waiting_actions": waiting,
        "applied_action": applied.pk,
        "running_operations": running,
        "cnc_line": lines["CNC"].pk,
        "spindle_7": machines["CNC_Spindle_7"].pk,
    }


def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def _oee_snapshot(
    m, scope, scope_id, period, start, end, now, availability, effectiveness, quality, closed
):
    planned_busy_s = (min(end, now) - start).total_seconds()
    production_s = planned_busy_s * availability
    produced = int(production_s / 60)
    m.OeeSnapshot.objects.create(
        scope=scope,
        scope_id=scope_id,
        period=period,
        period_start_at=start,
        period_end_at=end,
        is_closed=closed,
        planned_busy_time_s=planned_busy_s,
        actual_production_time_s=production_s,
        produced_quantity=produced,
        good_quantity=int(produced * quality),
        scrap_quantity=produced - int(produced * quality),
        availability=availability,
        effectiveness=effectiveness,
        quality_ratio=quality,
        oee=availability * effectiveness * quality,
        computed_at=now,
    )


def _health_trends(machines, now) -> None:
    from maintenance.models import HealthSnapshot as snapshot_model

    for code, alpha_from, alpha_to, rul in (
        ("CNC_Spindle_7", 0.18, 0.72, (9 * 24.0, 16 * 24.0, 27 * 24.0)),
        ("CNC_Spindle_8", 0.08, 0.12, (None, None, None)),
    ):
        for step in range(73):
            share = step / 72
            wiggle = 0.03 * (((step * 37) % 7) - 3) / 3
            snapshot_model.objects.create(
                equipment=machines[code],
                ts=now - timedelta(hours=72 - step),
                state="assessed",
                alpha=max(0.0, min(1.0, alpha_from + (alpha_to - alpha_from) * share**2 + wiggle)),
                health_index=1.0 - 0.4 * share if code == "CNC_Spindle_7" else 0.97,
                degradation_slope_per_h=0.0021 if code == "CNC_Spindle_7" else 0.0,
                rul_state="estimated" if rul[1] else "not_degrading",
                rul_p10_h=rul[0],
                rul_p50_h=rul[1],
                rul_p90_h=rul[2],
                recommendation="high" if code == "CNC_Spindle_7" else "low",
                is_anomaly=code == "CNC_Spindle_7" and share > 0.8,
            )


def _spindle_telemetry(spindle, now) -> None:
    """An hour of spindle readings through the real UNS ingest (one batch message a minute)."""
    import json
    import math
    import uuid

    from workers.ingest.uns import ingest_uns_batch

    messages = []
    for minute in range(60, 0, -1):
        ts = now - timedelta(minutes=minute)
        phase = minute / 9.0
        values = {
            "temperature": round(61 + 6 * math.sin(phase) + (60 - minute) * 0.12, 2),
            "spindle_speed": 12000 + 400 * math.sin(phase / 2),
            "power": round(18000 + 2500 * math.sin(phase), 1),
            "vibration_rms": round(2.1 + 0.02 * (60 - minute) + 0.3 * math.sin(phase * 3), 3),
            "vibration_kurtosis": round(3.2 + 0.01 * (60 - minute), 3),
        }
        payload = {"ts": int(ts.timestamp() * 1000), "values": values}
        messages.append((spindle.uns_path, json.dumps(payload).encode()))
    result = ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=now, messages=messages)
    assert result.reading_count == 300, result
