"""A database migrated before planning and autonomy were split out of production migrates
forward with its data intact.

The test creates a scratch PostgreSQL database (named after the test database, dropped at the
end even on failure) and runs this module as a subprocess against it (``python -m
tests.test_migrations``, the ``__main__`` block below): migrate to the pre-split heads, write
rows through the HISTORICAL models into every table that moved, count the rows of every table,
migrate to the latest, count again and read the rows through the CURRENT models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

PRE_SPLIT_PRODUCTION = ("production", "0006_roles_sync")
NEW_APPS = frozenset({"planning", "autonomy", "live"})
# The tables of the models that moved to planning and autonomy (their names did not change).
MOVED_TABLES = frozenset(
    {
        "production_dispatchpolicy",
        "production_linepartparameters",
        "production_customerorder",
        "production_customerorderline",
        "production_schedulerun",
        "production_scheduledoperation",
        "production_actionpolicy",
        "production_proposedaction",
    }
)
# Tables the latest migrations add rows to: content types and permissions of the new apps, the
# roles synced to them, and the migration records themselves.
BOOKKEEPING_TABLES = frozenset(
    {"django_migrations", "django_content_type", "auth_permission", "auth_group_permissions"}
)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# --- the test (parent process) ----------------------------------------------------------------


def _scratch_database_name(test_database_name: str) -> str:
    return f"{test_database_name}_migrations_{uuid.uuid4().hex[:8]}"[:63]


def _administration_connection(database: dict[str, Any]):
    import psycopg

    return psycopg.connect(
        host=database["HOST"] or "localhost",
        port=database["PORT"] or 5432,
        user=database["USER"] or "postgres",
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def _database_url(database: dict[str, Any], name: str) -> str:
    credentials = database["USER"] or "postgres"
    if database["PASSWORD"]:
        credentials += f":{database['PASSWORD']}"
    host = database["HOST"] or "localhost"
    return f"postgres://{credentials}@{host}:{database['PORT'] or 5432}/{name}"


@pytest.fixture
def scratch_database_url() -> Any:
    from django.conf import settings
    from psycopg import sql

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the migration test needs PostgreSQL (DATABASE_URL=postgres://...)")
    test_name = database.get("TEST", {}).get("NAME") or f"test_{database['NAME']}"
    name = _scratch_database_name(test_name)
    with _administration_connection(database) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _database_url(database, name)
    finally:
        with _administration_connection(database) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_a_database_from_before_the_split_migrates_forward_with_its_data(
    scratch_database_url: str,
) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": scratch_database_url,
        "DJANGO_SETTINGS_MODULE": "mes_site.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.test_migrations"],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["unapplied_before"] == ["autonomy", "planning"]
    assert report["moved_tables_filled"] == {
        "production_actionpolicy": 1,
        "production_customerorder": 1,
        "production_customerorderline": 2,
        "production_dispatchpolicy": 1,
        "production_linepartparameters": 1,
        "production_proposedaction": 1,
        "production_scheduledoperation": 1,
        "production_schedulerun": 1,
    }
    assert report["tables_lost"] == []
    # the only row a later migration adds: quality's lot_hold policy (low risk)
    assert report["counts_changed"] == {"production_actionpolicy": [1, 2]}
    assert report["read_back"] == {
        "dispatch_policy": ["area_mig", 0.5, 2.0],
        "line_part_parameters": ["L_MIG", "P_MIG", 42.0, 900.0],
        "customer_order": ["CO-MIG-1", "dispatched", "L_MIG", [["P_MIG", 3], ["P_MIG2", 1]]],
        "schedule_run": ["s_mig", "on_demand", "succeeded", True, ["supervisor_mig"]],
        "scheduled_operation": ["WO-MIG-1", 10, "L_MIG_M1", 0, "2026-03-02T09:00:00+00:00"],
        "action_policy": ["reroute", "low"],
        "proposed_action": ["s_mig", "reroute", "applied", "supervisor_mig", {"operation": 1}],
    }
    assert report["supervisor_may"] == {
        "autonomy.approve_proposedaction": True,
        "planning.run_schedule": True,
    }


# --- the migration run (child process, against the scratch database) -------------------------


def _migrate_to_before_the_split() -> list[tuple[str, str]]:
    """Production at 0006, every other app at a head that does not need the new apps."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph

    def before_the_new_apps(leaf: tuple[str, str]) -> tuple[str, str] | None:
        """The app's latest migration that needs none of the new apps (a later one may, as
        quality's holds point at autonomy's proposed actions)."""
        node = leaf
        while node is not None and any(
            needed[0] in NEW_APPS for needed in graph.forwards_plan(node)
        ):
            parents = [parent for parent in graph.node_map[node].parents if parent[0] == node[0]]
            node = parents[0].key if parents else None
        return node

    targets = [PRE_SPLIT_PRODUCTION] + [
        target
        for leaf in graph.leaf_nodes()
        if leaf[0] not in NEW_APPS | {"production"}
        and (target := before_the_new_apps(leaf)) is not None
    ]
    for target in targets:
        needed = graph.forwards_plan(target)
        assert not [node for node in needed if node[0] in NEW_APPS], target
        assert ("production", "0007_planning_autonomy_models_moved_out") not in needed, target
    executor.migrate(targets)
    return targets


def _unapplied_apps() -> list[str]:
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    applied = {app for app, _name in MigrationRecorder(connection).applied_migrations()}
    return sorted(NEW_APPS - {"live"} - applied)


def _historical_apps(targets: list[tuple[str, str]]):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    return MigrationExecutor(connection).loader.project_state(targets, at_end=True).apps


def _plant(apps) -> dict[str, Any]:
    """The plant rows the moved models point at, through the historical models."""
    model = apps.get_model
    enterprise = model("production", "Enterprise").objects.create(code="e_mig", name="E")
    site = model("production", "Site").objects.create(enterprise=enterprise, code="s_mig", name="S")
    area = model("production", "Area").objects.create(site=site, code="area_mig", name="A")
    line = model("production", "Line").objects.create(area=area, code="L_MIG", name="L")
    cell = model("production", "Cell").objects.create(line=line, code="c1", name="C")
    equipment = model("production", "Equipment").objects.create(
        cell=cell, code="L_MIG_M1", name="M1", uns_path="e_mig/s_mig/area_mig/L_MIG/c1/L_MIG_M1"
    )
    capability = model("production", "Capability").objects.create(code="mill_mig", name="Mill")
    products = [
        model("production", "Product").objects.create(code=code, name=code)
        for code in ("P_MIG", "P_MIG2")
    ]
    routing = model("production", "Routing").objects.create(product=products[0], version="1")
    work_order = model("production", "WorkOrder").objects.create(
        number="WO-MIG-1",
        product=products[0],
        routing=routing,
        quantity=5,
        due_at=NOW + timedelta(days=1),
        site=site,
    )
    operation = model("production", "Operation").objects.create(
        work_order=work_order,
        sequence=10,
        name="Mill",
        capability=capability,
        planned_run_time_per_unit_s=60.0,
    )
    user = model("auth", "User").objects.create(username="supervisor_mig")
    return {
        "site": site,
        "area": area,
        "line": line,
        "equipment": equipment,
        "products": products,
        "operation": operation,
        "user": user,
    }


def _write_rows_before_the_split(apps) -> None:
    model = apps.get_model
    plant = _plant(apps)
    first, second = plant["products"]
    model("production", "DispatchPolicy").objects.create(
        area=plant["area"], time_weight=0.5, energy_weight=2.0
    )
    model("production", "LinePartParameters").objects.create(
        line=plant["line"], product=first, time_per_part_s=42.0, power_w=900.0
    )
    order = model("production", "CustomerOrder").objects.create(
        number="CO-MIG-1",
        site=plant["site"],
        area=plant["area"],
        state="dispatched",
        line=plant["line"],
    )
    for product, quantity in ((first, 3), (second, 1)):
        model("production", "CustomerOrderLine").objects.create(
            order=order, product=product, quantity=quantity
        )
    run = model("production", "ScheduleRun").objects.create(
        site=plant["site"],
        trigger="on_demand",
        status="succeeded",
        is_current=True,
        requested_by=plant["user"],
        triggers=["supervisor_mig"],
    )
    model("production", "ScheduledOperation").objects.create(
        run=run,
        operation=plant["operation"],
        equipment=plant["equipment"],
        position=0,
        planned_start_at=NOW + timedelta(hours=1),
        planned_end_at=NOW + timedelta(hours=2),
    )
    model("production", "ActionPolicy").objects.create(kind="reroute", risk="low")
    model("production", "ProposedAction").objects.create(
        site=plant["site"],
        kind="reroute",
        risk="low",
        status="applied",
        target="Mill → M1",
        payload={"operation": 1},
        explanation="faster",
        decided_by=plant["user"],
    )


def _row_counts() -> dict[str, int]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def _read_back() -> dict[str, Any]:
    """The rows written before the split, through today's models."""
    from autonomy.models import ActionPolicy, ProposedAction
    from planning.models import (
        CustomerOrder,
        DispatchPolicy,
        LinePartParameters,
        ScheduledOperation,
        ScheduleRun,
    )

    policy = DispatchPolicy.objects.select_related("area").get()
    parameters = LinePartParameters.objects.select_related("line", "product").get()
    order = CustomerOrder.objects.select_related("line").get()
    run = ScheduleRun.objects.select_related("site").get()
    scheduled = ScheduledOperation.objects.select_related(
        "operation__work_order", "equipment"
    ).get()
    action_policy = ActionPolicy.objects.get(kind="reroute")
    action = ProposedAction.objects.select_related("site", "decided_by").get()
    return {
        "dispatch_policy": [policy.area.code, policy.time_weight, policy.energy_weight],
        "line_part_parameters": [
            parameters.line.code,
            parameters.product.code,
            parameters.time_per_part_s,
            parameters.power_w,
        ],
        "customer_order": [
            order.number,
            order.state,
            order.line.code,
            [[line.product.code, line.quantity] for line in order.lines.order_by("product__code")],
        ],
        "schedule_run": [run.site.code, run.trigger, run.status, run.is_current, run.triggers],
        "scheduled_operation": [
            scheduled.operation.work_order.number,
            scheduled.operation.sequence,
            scheduled.equipment.code,
            scheduled.position,
            scheduled.planned_start_at.isoformat(),
        ],
        "action_policy": [action_policy.kind, action_policy.risk],
        "proposed_action": [
            action.site.code,
            action.kind,
            action.status,
            action.decided_by.username,
            action.payload,
        ],
    }


def _supervisor_permissions() -> dict[str, bool]:
    from django.contrib.auth.models import Group, User

    from mes_site.roles import ROLE_SUPERVISOR

    user = User.objects.get(username="supervisor_mig")
    user.groups.add(Group.objects.get(name=ROLE_SUPERVISOR))
    user = User.objects.get(pk=user.pk)  # no permission cache
    permissions = ("autonomy.approve_proposedaction", "planning.run_schedule")
    return {permission: user.has_perm(permission) for permission in permissions}


def migrate_forward_and_report() -> dict[str, Any]:
    from django.core.management import call_command

    targets = _migrate_to_before_the_split()
    unapplied = _unapplied_apps()
    _write_rows_before_the_split(_historical_apps(targets))
    before = _row_counts()
    call_command("migrate", verbosity=0, interactive=False)
    after = _row_counts()
    compared = set(before) - BOOKKEEPING_TABLES
    return {
        "unapplied_before": unapplied,
        "moved_tables_filled": {table: before[table] for table in sorted(MOVED_TABLES)},
        "tables_lost": sorted(set(before) - set(after)),
        "counts_changed": {
            table: [before[table], after[table]]
            for table in sorted(compared & set(after))
            if before[table] != after[table]
        },
        "read_back": _read_back(),
        "supervisor_may": _supervisor_permissions(),
    }


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(migrate_forward_and_report()))
