"""Private Mosquitto brokers for the tests: the session's broker (the `mosquitto` fixture of
tests/conftest.py) and the ones a test kills and restarts.

A private broker on a free port means a test sees only its own traffic: nothing from a
`make run` on the same machine (its Sparkplug host's rebirth requests, its simulator).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"

# The machine's broker (/etc/mosquitto/mosquitto.conf) sets no per-client queue limits, so it
# runs on Mosquitto's defaults; the session's broker states them, as some tests rely on them
# (a burst is published in steps below the 1,000 messages queued per client).
SHARED_BROKER_LIMITS = {"max_queued_messages": 1000, "max_inflight_messages": 20}
START_TIMEOUT_S = 10.0


def mosquitto_binary() -> str:
    """The mosquitto executable (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    binary = shutil.which("mosquitto", path=search_path)
    if binary is None:
        raise RuntimeError("mosquitto is not installed (Debian: apt-get install -y mosquitto)")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Mosquitto:
    """One broker process on 127.0.0.1:`port`, configured in `directory`."""

    directory: Path
    port: int = field(default_factory=free_port)
    limits: dict[str, int] = field(default_factory=lambda: dict(SHARED_BROKER_LIMITS))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    @property
    def host(self) -> str:
        return HOST

    @property
    def config_path(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            "persistence false",
            *(f"{name} {value}" for name, value in self.limits.items()),
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> Mosquitto:
        """Start the broker and return once it accepts a connection (or raise with its log)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_config()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if _accepts_connections(self.port):
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"mosquitto did not accept connections on {HOST}:{self.port} within "
            f"{START_TIMEOUT_S:.0f} s:\n{self.log_path.read_text(errors='replace')[-2000:]}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the broker goes away without a goodbye (sessions and Wills as on a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
