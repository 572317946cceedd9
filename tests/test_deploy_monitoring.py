"""The shipped Prometheus alert rules and Grafana dashboard (deploy/): well-formed, and every
expression names only metrics the app exports — a renamed metric cannot silently turn an
alert into one that never fires. With ``promtool`` on the PATH the rules are checked by it
too."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from mes_site import metrics
from workers.observability import ScrapeTimeCollector

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "mes-dashboard.json"
METRIC_NAME = re.compile(r"\bmes_[a-z0-9_]+\b")
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}


@pytest.fixture
def exported_names(db) -> set[str]:
    """The sample names /metrics can carry: the recorded metrics and the scrape-time ones."""
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names.update(value._name + suffix for suffix in SAMPLE_SUFFIXES[value._type])
    for family in ScrapeTimeCollector().collect():
        assert family.type == "gauge"
        names.add(family.name)
    return names


def _rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_is_complete_and_names_only_exported_metrics(exported_names):
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for required in (
        "MesIngestStalled",
        "MesDeadLetterRateHigh",
        "MesCeleryQueueBacklog",
        "MesWebhookBacklogOld",
    ):
        assert required in names
    for rule in rules:
        used = set(METRIC_NAME.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported_names, (rule["alert"], sorted(used - exported_names))
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_every_dashboard_panel_queries_exported_metrics(exported_names):
    dashboard = json.loads(DASHBOARD.read_text())
    queried = set()
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(METRIC_NAME.findall(target["expr"]))
            assert used and used <= exported_names, (panel["title"], sorted(used))
            queried |= used
    # Every family of the issue has a panel.
    for family in (
        "mes_ingest_readings_total",
        "mes_ingest_batches_total",
        "mes_ingest_dead_letters_total",
        "mes_ingest_lag_seconds_bucket",
        "mes_celery_queue_length",
        "mes_celery_task_duration_seconds_bucket",
        "mes_websocket_clients",
        "mes_oee_computation_seconds_bucket",
        "mes_schedule_computation_seconds_bucket",
        "mes_bridge_connected",
        "mes_sparkplug_rebirth_requests_total",
        "mes_ingest_reading_conflicts_total",
        "mes_webhook_oldest_pending_age_seconds",
        "mes_procurement_outbox_oldest_age_seconds",
    ):
        assert family in queried, family


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules():
    result = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
