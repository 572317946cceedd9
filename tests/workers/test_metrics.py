"""``GET /metrics`` (issue 19): only for the scraper's bearer token; the values move with real
activity — UNS messages through the session's broker, the bridge, the Celery queue and the
ingest task run by Celery — and the scrape-time figures (queue depth, dead letters, ERP
backlogs) match their sources; multiprocess mode sums the files of other processes, and the
exporter serves them on an internal port."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgpack
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from inventory.selectors import procurement_outbox_backlog
from mes_site.celery import app
from tests.api_tokens import make_api_token
from tests.mfa import login_verified
from workers.bridge.publish import CeleryPublisher
from workers.bridge.uns import UnsBridge, UnsBridgeSettings
from workers.selectors import ingest_status
from workers.tasks import ingest_uns_batch

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

TOKEN = "scraper-" + "x" * 40


def _scrape(client: Client | None = None) -> dict[tuple[str, tuple], float]:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_BEARER_TOKEN = TOKEN
    return TOKEN


def test_metrics_are_off_without_a_configured_token(settings):
    settings.METRICS_BEARER_TOKEN = ""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_metrics_refuse_everything_but_the_scrapers_token(metrics_token, make_user):
    anonymous = Client().get("/metrics")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"mes_" not in anonymous.content
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + "y" * 48)
    assert wrong.status_code == 401
    basic = Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert basic.status_code == 401
    # A user — even an administrator with both factors, or their API token — is no scraper.
    admin = make_user("admin", username="metrics-admin")
    assert login_verified(Client(), admin).get("/metrics").status_code == 401
    key = make_api_token(admin)
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def _run_queued_tasks(queue: str) -> int:
    """Take the UNS ingest tasks off the Celery queue in Redis, oldest first, and run each
    through Celery (``apply``: the same tracer and signals as a worker); their number."""
    client = app.connection_for_read().default_channel.client
    count = 0
    while (raw := client.rpop(queue)) is not None:
        envelope = json.loads(raw)
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _embed = msgpack.unpackb(body, raw=False)
        headers = envelope["headers"]
        assert headers["task"] == ingest_uns_batch.name
        result = ingest_uns_batch.apply(args=args, kwargs=kwargs, task_id=headers["id"])
        assert result.successful(), result.traceback
        count += 1
    return count


def test_a_scrape_after_ingest_through_the_broker_and_a_task_run_shows_what_moved(
    metrics_token, telemetry, ingest_env, broker_address, mqtt_publisher,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    before = _scrape()
    client_id = f"test-metrics-{uuid.uuid4().hex[:10]}"
    bridge = UnsBridge(
        UnsBridgeSettings(
            address=broker_address,
            client_id=client_id,
            topic_filters=(f"{telemetry.path}/#",),
            session_expiry_s=0,
            batch_max_wait_s=0.5,
        ),
        CeleryPublisher(app, queue=ingest_env.queue).uns,
    )
    bridge.start()
    try:
        assert bridge.subscribed.wait(10)
        connected = _scrape()
        assert _value(connected, "mes_bridge_connected", client="uns", client_id=client_id) == 1
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
        ms = round(ts.timestamp() * 1000)
        mqtt_publisher.publish_many(
            [
                (f"{telemetry.path}/temperature", json.dumps({"ts": ms, "value": 20.5}).encode()),
                (f"{telemetry.path}/running", json.dumps({"ts": ms, "value": True}).encode()),
                # The same signal, the same millisecond, another value: dropped, a conflict.
                (f"{telemetry.path}/temperature", json.dumps({"ts": ms, "value": 21.0}).encode()),
                (f"{telemetry.path}/no_such_signal", json.dumps({"ts": ms, "value": 1}).encode()),
            ]
        )
        deadline = time.monotonic() + 15
        while bridge.stats.published < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert bridge.stats.published == 4
        queued = _scrape()
        batches = bridge.stats.batches
        assert _value(queued, "mes_celery_queue_length", queue=ingest_env.queue) == batches
        with django_capture_on_commit_callbacks(execute=True):
            assert _run_queued_tasks(ingest_env.queue) == batches
        after = _scrape()
    finally:
        bridge.stop()
    stopped = _scrape()

    def moved(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("mes_bridge_messages_received_total", client="uns") == 4
    assert moved("mes_ingest_batches_total", source="uns") == batches
    assert moved("mes_ingest_messages_total", source="uns") == 4
    assert moved("mes_ingest_readings_total", source="uns") == 3
    assert moved("mes_ingest_readings_stored_total", source="uns") == 2
    assert moved("mes_ingest_reading_conflicts_total", source="uns") == 1
    assert moved("mes_ingest_dead_letters_total", source="uns", reason="unknown_signal") == 1
    assert moved("mes_ingest_dead_letters_total", source="uns", reason="out_of_range") == 0
    assert moved("mes_ingest_lag_seconds_count", source="uns") == batches
    task = "workers.tasks.ingest_uns_batch"
    assert moved("mes_celery_task_duration_seconds_count", task=task, state="success") == batches
    assert _value(after, "mes_celery_queue_length", queue=ingest_env.queue) == 0
    assert _value(after, "mes_dead_letter_groups_open", reason="unknown_signal") >= 1
    assert _value(after, "mes_ingest_last_batch_processed_timestamp_seconds") > time.time() - 60
    assert _value(after, "mes_scrape_source_up", source="redis") == 1
    assert _value(after, "mes_scrape_source_up", source="database") == 1
    assert _value(stopped, "mes_bridge_connected", client="uns", client_id=client_id) == 0
    # The ingest status page counts the conflict too.
    assert ingest_status()["reading_conflict_count"] == 1


def test_the_erp_backlogs_are_exported_with_their_sources_figures(metrics_token, settings):
    samples = _scrape()
    outbox = procurement_outbox_backlog()
    assert (
        _value(samples, "mes_procurement_outbox_requests", status="pending")
        == (outbox["pending_count"])
    )
    assert _value(samples, "mes_procurement_outbox_oldest_age_seconds") == (
        outbox["oldest_unacknowledged_age_s"] or 0.0
    )
    for status in ("pending", "retrying", "parked"):
        assert ("mes_webhook_deliveries", (("status", status),)) in samples
    assert ("mes_webhook_oldest_pending_age_seconds", ()) in samples


def test_multiprocess_mode_sums_the_files_of_every_process(metrics_token, tmp_path, monkeypatch):
    """What another process (a worker child, the bridge) recorded in the shared directory is
    in this process's scrape; a live gauge of a process that ended stops counting."""
    script = (
        "import os\n"
        "from mes_site import metrics\n"
        "metrics.INGEST_BATCHES.labels(source='uns').inc(7)\n"
        "metrics.WEBSOCKET_CLIENTS.inc(2)\n"
        "print(os.getpid())\n"
    )
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    environment["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    pids = [
        int(
            subprocess.run(
                [sys.executable, "-c", script],
                env=environment,
                capture_output=True,
                check=True,
                text=True,
            ).stdout
        )
        for _ in range(2)
    ]
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = _scrape()
    assert _value(samples, "mes_ingest_batches_total", source="uns") == 14
    assert _value(samples, "mes_websocket_clients") == 4
    from mes_site.metrics import process_exited

    process_exited(pids[0])
    samples = _scrape()
    assert _value(samples, "mes_websocket_clients") == 2
    assert _value(samples, "mes_ingest_batches_total", source="uns") == 14


def test_the_exporter_serves_this_hosts_processes_on_an_internal_port(tmp_path):
    """``manage.py metrics_exporter`` for a host with bridges or workers and no web server:
    what they recorded, on a port of its own (here a free one)."""
    environment = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from mes_site import metrics\n"
            "metrics.BRIDGE_MESSAGES_RECEIVED.labels(client='uns').inc(5)\n",
        ],
        env=environment,
        check=True,
    )
    exporter = subprocess.Popen(
        [sys.executable, "manage.py", "metrics_exporter", "--port", "0"],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = exporter.stdout.readline()
        assert line.startswith("serving metrics on http://127.0.0.1:"), line
        with urllib.request.urlopen(line.split()[-1], timeout=10) as response:
            text = response.read().decode()
    finally:
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(timeout=20) == 0
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("mes_bridge_messages_received_total", (("client", "uns"),))] == 5


def test_the_exporter_refuses_to_start_without_the_multiprocess_directory(monkeypatch):
    from django.core.management import CommandError, call_command

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(CommandError, match="PROMETHEUS_MULTIPROC_DIR is not set"):
        call_command("metrics_exporter", "--port", "0")
