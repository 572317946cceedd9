"""Private Mosquitto brokers for the tests: the session's broker (the `mosquitto` fixture of
tests/conftest.py) and the ones a test kills and restarts.

A private broker on a free port means a test sees only its own traffic: nothing from a
`make run` on the same machine (its Sparkplug host's rebirth requests, its simulator).
"""

from __future__ import annotations

import getpass
import os
import re
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


DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto"
SHIPPED_CONFIG = DEPLOY_DIR / "mosquitto.conf"
# The shipped file's Debian paths, and where a test's broker keeps them instead.
_ETC = "/etc/mosquitto/mes/"
_PERSISTENCE = "/var/lib/mosquitto/"


@dataclass
class ShippedMosquitto(Mosquitto):
    """A broker running deploy/mosquitto/mosquitto.conf as shipped, with only its ports and
    paths moved into ``directory``: the plain listener on 127.0.0.1:``port``, the TLS listener
    on 127.0.0.1:``tls_port``, certificates by make-certs.sh (for ``certificate_clients``),
    passwords by make-passwords.sh (for ``users``), the shipped ACL file itself.

    ``overrides`` replaces options of the shipped file (e.g. Mosquitto's default queue size,
    to show what the shipped value is for)."""

    tls_port: int = field(default_factory=free_port)
    users: tuple[str, ...] = ("mes-bridge", "mes-simulator")
    certificate_clients: tuple[str, ...] = ("mes-bridge",)
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def certificates(self) -> Path:
        return self.directory / "certs"

    def password(self, user: str) -> str:
        for line in (self.directory / "credentials").read_text().splitlines():
            name, _, password = line.partition(" ")
            if name == user:
                return password
        raise KeyError(f"no password was made for {user!r}")

    def client_url(self, user: str, *, tls: bool = False) -> str:
        scheme, port = ("mqtts", self.tls_port) if tls else ("mqtt", self.port)
        host = "localhost" if tls else HOST  # the server certificate names localhost
        return f"{scheme}://{user}:{self.password(user)}@{host}:{port}"

    def _prepare(self) -> None:
        if not (self.directory / "credentials").exists():
            subprocess.run(
                [DEPLOY_DIR / "make-passwords.sh", self.directory, *self.users],
                check=True,
                capture_output=True,
            )
        if not (self.certificates / "server.crt").exists():
            subprocess.run(
                [DEPLOY_DIR / "make-certs.sh", self.certificates, *self.certificate_clients],
                check=True,
                capture_output=True,
            )

    def _write_config(self) -> None:
        self._prepare()
        (self.directory / "data").mkdir(exist_ok=True)
        text = SHIPPED_CONFIG.read_text()
        replacements = [
            ("listener 1883 127.0.0.1\n", f"listener {self.port} {HOST}\n"),
            ("listener 8883\n", f"listener {self.tls_port} {HOST}\n"),
            (f"{_ETC}acl\n", f"{DEPLOY_DIR / 'acl'}\n"),
            (_ETC, f"{self.directory}/"),
            (_PERSISTENCE, f"{self.directory / 'data'}/"),
        ]
        for name, value in self.overrides.items():
            option = re.search(rf"^{re.escape(name)} .*$", text, flags=re.MULTILINE)
            if option is None:
                raise AssertionError(f"the shipped mosquitto.conf has no {name!r}")
            replacements.append((option.group(0), f"{name} {value}"))
        for old, new in replacements:
            if old not in text:
                raise AssertionError(f"the shipped mosquitto.conf has no {old.strip()!r}")
            text = text.replace(old, new)
        # Started as root, Mosquitto switches to the user "mosquitto", who cannot read the
        # test's files; as anyone else this line is ignored.
        text += f"\nuser {getpass.getuser()}\n"
        self.config_path.write_text(text)
