"""The Sparkplug codec runs protobuf on its fast upb backend (tests/test_architecture.py checks
that the MQTT codecs load no framework)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


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
