"""Alerts: rules on signal values and OEE, raised and cleared with hysteresis, acknowledged.

A value crossing a rule's threshold raises an alert (one open alert per rule and target); it
clears only once the value is back past threshold ∓ hysteresis. Every raise, acknowledge and
clear is broadcast as ``alert`` to the equipment's, line's and site's groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from mes_site.errors import NotFound
from mes_site.publish import broadcast, group_name
from production.choices import AlertMetric, AlertSeverity, AlertState, Comparison, OeeScope
from production.models import Alert, AlertRule, Equipment, Line, Signal
from production.services.live_payloads import alert_payload
from traceability.services import state_transition

DEFAULT_ALERT_RULES = [
    # (name, metric, signal name, comparison, threshold, hysteresis, severity)
    ("OEE below 75 %", AlertMetric.OEE, "", Comparison.BELOW, 0.75, 0.02, AlertSeverity.WARNING),
    (
        "Temperature above 80 °C",
        AlertMetric.SIGNAL,
        "temperature",
        Comparison.ABOVE,
        80.0,
        2.0,
        AlertSeverity.CRITICAL,
    ),
    (
        "Vibration above 10 mm/s",
        AlertMetric.SIGNAL,
        "vibration_rms",
        Comparison.ABOVE,
        10.0,
        0.5,
        AlertSeverity.WARNING,
    ),
]


@transaction.atomic
def alert_rules_default_ensure() -> list[AlertRule]:
    """Create the plant-wide default rules if missing (idempotent; edits are kept).

    OEE below 75 % (warning, per line), temperature above 80 °C (critical) and vibration
    (``vibration_rms``) above 10 mm/s (warning) on every equipment that has the signal.
    """
    rules = []
    for (
        name,
        metric,
        signal_name,
        comparison,
        threshold,
        hysteresis,
        severity,
    ) in DEFAULT_ALERT_RULES:
        rule, _ = AlertRule.objects.get_or_create(
            name=name,
            equipment=None,
            line=None,
            defaults={
                "metric": metric,
                "signal_name": signal_name,
                "comparison": comparison,
                "threshold": threshold,
                "hysteresis": hysteresis,
                "severity": severity,
            },
        )
        rules.append(rule)
    return rules


def _breaches(rule: AlertRule, value: float) -> bool:
    if rule.comparison == Comparison.ABOVE:
        return value > rule.threshold
    return value < rule.threshold


def _recovered(rule: AlertRule, value: float) -> bool:
    """Past the threshold by the hysteresis, back on the good side: the alert clears."""
    if rule.comparison == Comparison.ABOVE:
        return value <= rule.threshold - rule.hysteresis
    return value >= rule.threshold + rule.hysteresis


def _alert_broadcast(alert: Alert, site_id: int | None) -> None:
    groups = []
    if alert.equipment_id:
        groups.append(group_name("equipment", alert.equipment_id))
    if alert.line_id:
        groups.append(group_name("line", alert.line_id))
    if site_id:
        groups.append(group_name("site", site_id))
    broadcast(groups, "alert", alert_payload(alert, site_id))


def _format_value(value: float, unit: str) -> str:
    text = f"{value:.4g}"
    return f"{text} {unit}".strip()


@dataclass(frozen=True, slots=True)
class _AlertCheck:
    """One value checked against one rule for one target."""

    rule: AlertRule
    open_alert: Alert | None
    equipment_id: int | None
    line_id: int | None
    signal_id: int | None
    value: float
    ts: datetime
    message: str
    site_id: int | None


def _alerts_apply(checks: list[_AlertCheck]) -> list[Alert]:
    """Raise (no open alert, value breaches) or clear (value recovered past the hysteresis)."""
    changed = []
    for check in checks:
        rule, open_alert, value, ts = check.rule, check.open_alert, check.value, check.ts
        equipment_id, line_id, signal_id = check.equipment_id, check.line_id, check.signal_id
        message, site_id = check.message, check.site_id
        if open_alert is None:
            if not _breaches(rule, value):
                continue
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        rule=rule,
                        equipment_id=equipment_id,
                        line_id=line_id,
                        signal_id=signal_id,
                        severity=rule.severity,
                        state=AlertState.ACTIVE,
                        message=message[:400],
                        value=value,
                        raised_at=ts,
                    )
            except IntegrityError:  # raised concurrently by another worker: one alert only
                continue
            _alert_broadcast(alert, site_id)
            changed.append(alert)
        elif _recovered(rule, value) and ts >= open_alert.raised_at:
            updated = (
                Alert.objects.filter(pk=open_alert.pk)
                .exclude(state=AlertState.CLEARED)
                .update(state=AlertState.CLEARED, cleared_at=ts)
            )
            if updated:
                open_alert.state, open_alert.cleared_at = AlertState.CLEARED, ts
                _alert_broadcast(open_alert, site_id)
                changed.append(open_alert)
    return changed


@transaction.atomic
def alerts_evaluate_signal_values(
    *, values: Sequence[tuple[int, str, float, datetime]]
) -> list[Alert]:
    """Check signal values against the active signal rules; raise or clear alerts.

    ``values``: (equipment id, signal name, value, ts), the latest per signal of a batch.
    A rule applies to its equipment, to every equipment of its line, or (neither set) to
    every equipment. Raised when the value crosses the threshold, cleared only once it is
    back past threshold ∓ hysteresis; one open alert per rule and equipment (a breach while
    one is open changes nothing). Returns the alerts raised or cleared.
    """
    values = [
        (equipment_id, name, float(value), ts)
        for equipment_id, name, value, ts in values
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if not values:
        return []
    names = {name for _, name, _, _ in values}
    rules = list(
        AlertRule.objects.filter(
            is_active=True, metric=AlertMetric.SIGNAL, signal_name__in=names
        ).order_by("pk")
    )
    if not rules:
        return []
    equipment = {
        row[0]: row
        for row in Equipment.objects.filter(id__in={v[0] for v in values}).values_list(
            "id", "code", "cell__line_id", "cell__line__area__site_id"
        )
    }
    signals = {
        (equipment_id, name): (signal_id, unit)
        for signal_id, equipment_id, name, unit in Signal.objects.filter(
            equipment_id__in=list(equipment), name__in=names
        ).values_list("id", "equipment_id", "name", "unit")
    }
    # A sensor found suspect (maintenance sensor drift) raises no alert until it is trusted.
    suspect = set(
        Signal.objects.filter(
            equipment_id__in=list(equipment), name__in=names, is_suspect=True
        ).values_list("equipment_id", "name")
    )
    values = [value for value in values if (value[0], value[1]) not in suspect]
    open_alerts = {
        (alert.rule_id, alert.equipment_id): alert
        for alert in Alert.objects.select_for_update()
        .filter(rule__in=rules, equipment_id__in=list(equipment))
        .exclude(state=AlertState.CLEARED)
    }
    decisions = []
    for equipment_id, name, value, ts in values:
        row = equipment.get(equipment_id)
        if row is None:
            continue
        _, code, line_id, site_id = row
        for rule in rules:
            if rule.signal_name != name:
                continue
            if rule.equipment_id is not None and rule.equipment_id != equipment_id:
                continue
            if rule.line_id is not None and rule.line_id != line_id:
                continue
            signal_id, unit = signals.get((equipment_id, name), (None, ""))
            comparison = "above" if rule.comparison == Comparison.ABOVE else "below"
            message = (
                f"{code}: {name} {_format_value(value, unit)} {comparison} "
                f"{_format_value(rule.threshold, unit)} ({rule.name})"
            )
            decisions.append(
                _AlertCheck(
                    rule,
                    open_alerts.get((rule.pk, equipment_id)),
                    equipment_id,
                    line_id,
                    signal_id,
                    value,
                    ts,
                    message,
                    site_id,
                )
            )
    return _alerts_apply(decisions)


@transaction.atomic
def alerts_evaluate_oee(*, values: Sequence[tuple[str, int, float, datetime]]) -> list[Alert]:
    """Check OEE values against the active OEE rules; raise or clear alerts.

    ``values``: (scope "line" or "equipment", id, OEE as a fraction, ts). A rule with an
    equipment watches that equipment's OEE, a rule with a line that line's, a rule with
    neither every line's. Hysteresis and de-duplication as for signals.
    """
    rules = list(AlertRule.objects.filter(is_active=True, metric=AlertMetric.OEE).order_by("pk"))
    if not rules or not values:
        return []
    line_ids = {scope_id for scope, scope_id, _, _ in values if scope == OeeScope.LINE}
    equipment_ids = {scope_id for scope, scope_id, _, _ in values if scope == OeeScope.EQUIPMENT}
    lines = {
        row[0]: row
        for row in Line.objects.filter(id__in=line_ids).values_list("id", "code", "area__site_id")
    }
    machines = {
        row[0]: row
        for row in Equipment.objects.filter(id__in=equipment_ids).values_list(
            "id", "code", "cell__line_id", "cell__line__area__site_id"
        )
    }
    open_alerts = {
        (alert.rule_id, alert.equipment_id, alert.line_id): alert
        for alert in Alert.objects.select_for_update()
        .filter(rule__in=rules)
        .exclude(state=AlertState.CLEARED)
    }
    decisions = []
    for scope, scope_id, value, ts in values:
        for rule in rules:
            if scope == OeeScope.LINE:
                if rule.equipment_id is not None or (
                    rule.line_id is not None and rule.line_id != scope_id
                ):
                    continue
                row = lines.get(scope_id)
                if row is None:
                    continue
                equipment_id, line_id, code, site_id = None, scope_id, row[1], row[2]
            else:
                if rule.equipment_id != scope_id:
                    continue
                machine = machines.get(scope_id)
                if machine is None:
                    continue
                equipment_id, line_id, code, site_id = scope_id, machine[2], machine[1], machine[3]
            comparison = "above" if rule.comparison == Comparison.ABOVE else "below"
            message = f"{code}: OEE {value:.1%} {comparison} {rule.threshold:.0%} ({rule.name})"
            decisions.append(
                _AlertCheck(
                    rule,
                    open_alerts.get((rule.pk, equipment_id, line_id)),
                    equipment_id,
                    line_id,
                    None,
                    value,
                    ts,
                    message,
                    site_id,
                )
            )
    return _alerts_apply(decisions)


@transaction.atomic
def alert_acknowledge(*, alert_id: int, actor, note: str = "") -> Alert:
    """Acknowledge an active alert (who and when are kept); audited. It stays open until
    its value recovers."""
    now = timezone.now()
    if not Alert.objects.filter(pk=alert_id).exists():
        raise NotFound(f"No alert {alert_id}.")
    alert = state_transition(
        model=Alert,
        pk=alert_id,
        allowed_from={AlertState.ACTIVE},
        to_state=AlertState.ACKNOWLEDGED,
        actor=actor,
        action="acknowledge",
        reason=note,
        updates={
            "acknowledged_by": actor if getattr(actor, "is_authenticated", False) else None,
            "acknowledged_at": now,
        },
    )
    site_id = None
    if alert.line_id:
        site_id = alert.line.area.site_id
    elif alert.equipment_id:
        site_id = alert.equipment.cell.line.area.site_id
    _alert_broadcast(alert, site_id)
    return alert
