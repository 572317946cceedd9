"""The maintenance algorithms import without Django, DRF, Celery, Channels or paho."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN_PREFIXES = ("django", "rest_framework", "celery", "channels", "paho")
MODULES = (
    "maintenance.algorithms.signal",
    "maintenance.algorithms.anomaly",
    "maintenance.algorithms.degradation",
    "maintenance.algorithms.health",
    "maintenance.algorithms.health_settings",
    "maintenance.algorithms.recommendation",
    "maintenance.algorithms.reliability",
    "maintenance.algorithms.synthetic",
)


def test_algorithm_modules_load_no_framework_module() -> None:
    script = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_PREFIXES!r})\n"
        "print(','.join(loaded))\n"
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
    assert result.stdout.strip() == ""
