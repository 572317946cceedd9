"""The roles of the MES as Django groups, and the permissions each role holds.

`roles_sync` is idempotent; the roles migration calls it, and so does any later migration
that adds models whose permissions a role should get.
"""

from __future__ import annotations

ROLE_OPERATOR = "operator"
ROLE_SUPERVISOR = "supervisor"
ROLE_MAINTENANCE = "maintenance"
ROLE_QUALITY = "quality"
ROLE_PLANNER = "planner"
ROLE_INTEGRATION = "integration"
ROLE_ADMIN = "admin"

ALL_ROLES = [
    ROLE_OPERATOR,
    ROLE_SUPERVISOR,
    ROLE_MAINTENANCE,
    ROLE_QUALITY,
    ROLE_PLANNER,
    ROLE_INTEGRATION,
    ROLE_ADMIN,
]

# Supervisors and operators see only the sites and lines of their PlantScope.
SCOPED_ROLES = {ROLE_OPERATOR, ROLE_SUPERVISOR}

MES_APPS = [
    "autonomy",
    "production",
    "planning",
    "quality",
    "maintenance",
    "inventory",
    "traceability",
    "workers",
    "integration",
    "connectors",
]

# Each entry: "app.codename", "app.*" (every permission of the app) or "app.view_*".
ROLE_PERMISSIONS: dict[str, list[str]] = {
    ROLE_OPERATOR: [
        "production.view_*",
        "planning.view_*",
        "autonomy.view_*",
        "production.operate_workorder",
        "production.operate_operation",
        "production.acknowledge_alert",
        "production.change_equipmentstateinterval",
        "quality.view_*",
        "quality.add_measurement",
        "quality.add_inspectionresult",
        "maintenance.view_*",
        "traceability.view_lot",
        "traceability.view_serialunit",
        "inventory.view_item",
        "inventory.view_stock",
        "workers.view_*",
    ],
    ROLE_SUPERVISOR: [
        "production.view_*",
        "planning.view_*",
        "autonomy.view_*",
        "production.release_workorder",
        "production.operate_workorder",
        "production.operate_operation",
        "production.change_workorder",
        "production.acknowledge_alert",
        "production.change_equipmentstateinterval",
        "autonomy.approve_proposedaction",
        "autonomy.set_autonomy_mode",
        "planning.run_schedule",
        "planning.dispatch_customerorder",
        "quality.view_*",
        "maintenance.view_*",
        "maintenance.add_maintenanceworkorder",
        "maintenance.schedule_maintenanceworkorder",
        "maintenance.add_failureevent",
        "inventory.view_*",
        "traceability.view_*",
        "workers.view_*",
    ],
    ROLE_MAINTENANCE: [
        "production.view_*",
        "planning.view_*",
        "autonomy.view_*",
        "maintenance.*",
        "inventory.view_*",
        "inventory.add_reservation",
        "inventory.change_reservation",
        "inventory.add_procurementrequest",
        "inventory.change_procurementrequest",
        "traceability.view_lot",
        "workers.view_*",
    ],
    ROLE_QUALITY: [
        "production.view_*",
        "planning.view_*",
        "autonomy.view_*",
        "quality.*",
        "traceability.*",
        "inventory.view_*",
        "workers.view_*",
    ],
    ROLE_PLANNER: [
        "production.view_*",
        "planning.view_*",
        "autonomy.view_*",
        "production.add_workorder",
        "production.change_workorder",
        "production.release_workorder",
        "production.add_product",
        "production.change_product",
        "production.add_routing",
        "production.change_routing",
        "production.add_billofmaterials",
        "production.add_operationtemplate",
        "production.change_operationtemplate",
        "planning.add_customerorder",
        "planning.dispatch_customerorder",
        "planning.run_schedule",
        "inventory.view_*",
        "maintenance.view_*",
        "traceability.view_*",
        "workers.view_*",
    ],
    ROLE_INTEGRATION: [
        "production.view_*",
        "planning.view_*",
        "autonomy.view_*",
        "production.add_workorder",
        "planning.add_customerorder",
        "production.release_workorder",
        "inventory.view_*",
        "inventory.change_*",
        "inventory.add_stockmovement",
        "inventory.exchange_procurementrequest",
        "maintenance.view_*",
        "maintenance.send_raw_window",
        "traceability.view_*",
        "traceability.add_lot",
        "quality.view_*",
        "quality.add_visionresult",  # edge vision stations post their results
        "workers.view_*",
        "integration.*",
    ],
    ROLE_ADMIN: [f"{app}.*" for app in MES_APPS]
    + ["auth.view_user", "auth.change_user", "auth.add_user"],
}


def _matches(pattern: str, app_label: str, codename: str) -> bool:
    pattern_app, _, pattern_code = pattern.partition(".")
    if pattern_app != app_label:
        return False
    if pattern_code == "*":
        return True
    if pattern_code.endswith("*"):
        return codename.startswith(pattern_code[:-1])
    return codename == pattern_code


def roles_sync(group_model, permission_model) -> None:
    """Create the role groups and give each exactly the permissions its patterns match."""
    permissions = list(permission_model.objects.select_related("content_type"))
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = [
            permission
            for permission in permissions
            if any(
                _matches(pattern, permission.content_type.app_label, permission.codename)
                for pattern in patterns
            )
        ]
        group.permissions.set(wanted)


def roles_sync_migration(apps, schema_editor) -> None:
    """RunPython entry point: make sure permissions exist, then sync the groups."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))
