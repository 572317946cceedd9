"""The MQTT codecs, the Sparkplug session and LTTB import without Django, DRF, Celery, Channels
or paho: they are pure and can run in any process (bridge, worker, benchmark)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_PREFIXES = ("django", "rest_framework", "celery", "channels", "paho")
MODULES = (
    "workers.mqtt.address",
    "workers.mqtt.uns",
    "workers.mqtt.sparkplug",
    "workers.mqtt.sparkplug_session",
    "workers.algorithms.lttb",
)


def test_pure_modules_load_no_framework_module() -> None:
    script = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"missing = [name for name in {MODULES!r} if name not in sys.modules]\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_PREFIXES!r})\n"
        "print('missing=' + ','.join(missing))\n"
        "print('loaded=' + ','.join(loaded))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPOSITORY_ROOT,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["missing=", "loaded="]


def test_protobuf_runs_on_the_upb_backend() -> None:
    script = (
        "import workers.mqtt.sparkplug\n"
        "from google.protobuf.internal import api_implementation\n"
        "print(api_implementation.Type())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPOSITORY_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "upb"
