"""The generic (SQLite) path of the telemetry store, in a subprocess with its own database:
migrations, idempotent writes, rollups from the rows actually inserted, retention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, uuid
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes_site.settings")
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from datetime import UTC, datetime, timedelta
from production import models as m
from workers import store
from workers.ingest.uns import ingest_uns_batch
from workers.models import DeadLetter, Reading, ReadingRollup
enterprise = m.Enterprise.objects.create(code="e", name="E")
site = m.Site.objects.create(enterprise=enterprise, code="s", name="S")
area = m.Area.objects.create(site=site, code="a", name="A")
line = m.Line.objects.create(area=area, code="l", name="L")
cell = m.Cell.objects.create(line=line, code="c", name="C")
equipment = m.Equipment.objects.create(cell=cell, code="m", name="M")
m.Signal.objects.create(equipment=equipment, name="t", min_value=0, max_value=100)
m.Signal.objects.create(equipment=equipment, name="mode", data_type="string")
base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
topic = f"{equipment.uns_path}/t"
messages = [
    [topic, json.dumps({"ts": int((base + timedelta(seconds=20 * i)).timestamp() * 1000),
                        "value": i}).encode()]
    for i in range(6)
]
text = [f"{equipment.uns_path}/mode",
        json.dumps({"ts": int(base.timestamp() * 1000), "value": "auto"}).encode()]
first = ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC),
                          messages=[*messages, text, [topic, b"{"]])
second = ingest_uns_batch(batch_id=str(uuid.uuid4()), published_at=datetime.now(UTC),
                           messages=[*messages[3:], [topic, b"{"]])
print(json.dumps({
    "stored": [first.stored_count, second.stored_count],
    "readings": sorted(Reading.objects.values_list("value", "text_value"),
                       key=lambda row: (row[0] is not None, row[0] or 0)),
    "rollups": list(ReadingRollup.objects.order_by("bucket").values_list(
        "min_value", "max_value", "sum_value", "count")),
    "dead": list(DeadLetter.objects.values_list("reason_code", "count")),
    "retention": store.telemetry_retention_apply(now=datetime.now(UTC) + timedelta(days=365)),
    "left": Reading.objects.count(),
}, default=str))
"""


def test_the_sqlite_store_is_idempotent_rolls_up_and_applies_retention(tmp_path):
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'mes.sqlite3'}",
        "INGEST_REDIS_PREFIX": f"test-sqlite:{uuid.uuid4().hex[:8]}",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["stored"] == [7, 0]
    assert report["readings"] == [[None, "auto"]] + [[float(i), None] for i in range(6)]
    assert report["rollups"] == [[0.0, 2.0, 3.0, 3], [3.0, 5.0, 12.0, 3]]
    assert report["dead"] == [["bad_json", 2]]
    assert report["retention"]["deleted_readings"] == 7
    assert report["retention"]["created_partitions"] == []
    assert report["left"] == 0
