"""The payloads the monitoring services broadcast to live screens (plain JSON-able data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from production.choices import OeeScope
from production.models import Alert

# The KPIs each member row of an aggregate carries.
MEMBER_KPIS = ("availability", "effectiveness", "quality_ratio", "oee")


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def oee_line_payload(report: dict[str, Any]) -> dict[str, Any]:
    """A small aggregate for live screens: KPIs, flags, shift and per-equipment KPIs."""
    return {
        "scope": report["scope"],
        "scope_id": report["scope_id"],
        "shift": report["shift"],
        "period_start_at": iso_or_none(report["period_start_at"]),
        "period_end_at": iso_or_none(report["period_end_at"]),
        "is_open": report["is_open"],
        "computed_at": iso_or_none(report["computed_at"]),
        **report["kpis"],
        "flags": report["flags"],
        "good_quantity": report["elements"]["good_quantity"],
        "produced_quantity": report["elements"]["produced_quantity"],
        "equipment": [
            {
                **member,
                "state_since": iso_or_none(member["state_since"]),
            }
            for member in report["equipment"]
        ],
    }


def oee_site_payload(
    site_id: int, total: dict[str, Any], members: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """A site's aggregate: its KPIs and flags (``total``) and a row per line report."""
    return {
        "scope": OeeScope.SITE.value,
        "scope_id": site_id,
        "computed_at": now.isoformat(),
        **total["kpis"],
        "flags": total["flags"],
        "lines": [
            {
                "line_id": member["scope_id"],
                "shift": member["shift"],
                "is_open": member["is_open"],
                **{name: member["kpis"][name] for name in MEMBER_KPIS},
                "flags": member["flags"],
            }
            for member in members
        ],
    }


def alert_payload(alert: Alert, site_id: int | None) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule_id": alert.rule_id,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "value": alert.value,
        "raised_at": iso_or_none(alert.raised_at),
        "acknowledged_at": iso_or_none(alert.acknowledged_at),
        "acknowledged_by": (
            alert.acknowledged_by.get_username() if alert.acknowledged_by_id else None
        ),
        "cleared_at": iso_or_none(alert.cleared_at),
        "equipment_id": alert.equipment_id,
        "line_id": alert.line_id,
        "site_id": site_id,
    }
