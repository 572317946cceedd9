"""daphne serving the project in a subprocess, for tests that need a real ASGI server.

pytest-django's ``live_server`` is WSGI only; websockets need the ASGI app. The server reads
the test database (tests that use it commit their data: they are transactional) and the
Redis channel layer of the test run.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# As `make run` starts it: a burst of handshakes queues for the session lookup, so each may
# wait longer than daphne's default 5 s before it is accepted (docs/deploy.md).
DAPHNE_OPTIONS = ["--websocket_connect_timeout", "30"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_for_server() -> str:
    """The URL of the database the tests run on (pytest-django's ``test_`` copy)."""
    database = connection.settings_dict
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "localhost"
    port = database.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


@dataclass
class AsgiServer:
    """daphne serving the project on 127.0.0.1:port; stop() and start() for outage tests."""

    port: int
    environment: dict
    process: subprocess.Popen | None = None
    log_path: Path = field(default_factory=lambda: ARTIFACTS / "daphne.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "daphne"),
                *DAPHNE_OPTIONS,
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "mes_site.asgi:application",
            ],
            cwd=ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()  # the fixture never gets to stop a server that did not start
        raise RuntimeError(f"daphne did not answer within 30 s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
