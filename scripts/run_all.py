#!/usr/bin/env python3
"""Run the MES processes side by side, like a small Procfile runner.

Each process is given as ``NAME=COMMAND`` (the command is split like a shell would, without
running a shell). The processes' output is merged into this terminal, each line prefixed with
the process name. Ctrl-C, SIGTERM or SIGHUP stops every process: SIGTERM to each process group,
then SIGKILL to whatever is still running after ``--stop-timeout-s``; a second Ctrl-C kills at
once. When a process exits on its own, its exit status and last lines are reported and the
others are stopped, so a half-running plant is never mistaken for a working one.

``--ready-url`` is polled until it answers HTTP; then the banner (``--banner-file``) is printed.

Standard library only. Example::

    scripts/run_all.py --ready-url http://127.0.0.1:8000/ \\
        "web=daphne -b 127.0.0.1 -p 8000 mes_site.asgi:application" \\
        "worker=celery -A mes_site worker -Q ingest,default,scheduling --concurrency 2"

Exit status: 0 after a requested stop, 1 when a process exited on its own, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

EXIT_STOPPED = 0
EXIT_CHILD_DIED = 1
EXIT_USAGE = 2
LAST_LINES_KEPT = 15
POLL_INTERVAL_S = 0.2
COLORS = ("36", "33", "35", "32", "34", "31", "96", "93")
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    command: list[str]
    color: str
    process: subprocess.Popen[bytes] | None = None
    started_at_s: float = 0.0
    reader: threading.Thread | None = None
    exit_status: int | None = None
    last_lines: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=LAST_LINES_KEPT)
    )


class Console:
    """Serialises prefixed lines from several threads onto stdout."""

    def __init__(self, width: int, *, use_color: bool) -> None:
        self.width = width
        self.use_color = use_color
        self.lock = threading.RLock()  # signal handlers print from the main thread too

    def line(self, name: str, text: str, color: str = "1") -> None:
        label = name.ljust(self.width)
        if self.use_color:
            label = f"\033[{color}m{label}\033[0m"
        with self.lock:
            sys.stdout.write(f"{label} | {text}\n")
            sys.stdout.flush()

    def block(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()


def parse_process(specification: str) -> tuple[str, list[str]]:
    name, separator, command = specification.partition("=")
    name = name.strip()
    if not separator or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"expected NAME=COMMAND, got {specification!r}")
    arguments = shlex.split(command)
    if not arguments:
        raise ValueError(f"process {name!r} has an empty command")
    return name, arguments


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if this runner dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def describe_status(status: int) -> str:
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with code {status}"


class Runner:
    def __init__(self, children: list[Child], console: Console, stop_timeout_s: float) -> None:
        self.children = children
        self.console = console
        self.stop_timeout_s = stop_timeout_s
        self.stop_requested = threading.Event()
        self.signal_count = 0

    # signals -------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: object) -> None:
        self.signal_count += 1
        if self.signal_count == 1:
            self.console.line("run_all", f"{signal.Signals(signum).name}: stopping everything")
        else:
            self.console.line("run_all", "second signal: killing everything now")
            self.signal_all(signal.SIGKILL)
        self.stop_requested.set()

    # processes -----------------------------------------------------------------------

    def start(self) -> bool:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for child in self.children:
            try:
                child.process = subprocess.Popen(
                    child.command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=environment,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # safe: no other thread is running yet
                )
            except OSError as error:
                self.console.line(child.name, f"could not start {child.command[0]}: {error}")
                child.exit_status = 127
                return False
            child.started_at_s = time.monotonic()
            self.console.line(
                "run_all",
                f"started {child.name} (pid {child.process.pid}): {shlex.join(child.command)}",
            )
        for child in self.children:
            child.reader = threading.Thread(target=self.forward, args=(child,), daemon=True)
            child.reader.start()
        return True

    def forward(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for raw in iter(child.process.stdout.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            child.last_lines.append(text)
            self.console.line(child.name, text, child.color)

    def has_exited(self, child: Child) -> bool:
        """True once the child's main process ended; it stays a zombie (pid not reused)."""
        if child.process is None:
            return True
        if child.process.returncode is not None:
            return True
        try:
            result = os.waitid(os.P_PID, child.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return result is not None

    def signal_all(self, signum: int) -> None:
        for child in self.children:
            if child.process is None or child.process.returncode is not None:
                continue  # reaped: its process group id may belong to someone else now
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signum)

    def reap(self, child: Child) -> None:
        """Kill what is left of the child's process group, then collect its status."""
        if child.process is None or child.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)  # stragglers only: leader is a zombie
        child.exit_status = child.process.wait()

    def stop(self) -> None:
        alive = [child for child in self.children if not self.has_exited(child)]
        if alive:
            self.console.line("run_all", f"stopping {', '.join(child.name for child in alive)}")
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        while time.monotonic() < deadline and not all(map(self.has_exited, self.children)):
            time.sleep(POLL_INTERVAL_S)
        for child in self.children:
            if not self.has_exited(child):
                self.console.line(
                    "run_all", f"{child.name} did not stop within {self.stop_timeout_s:g} s: killed"
                )
            self.reap(child)
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)

    def report_death(self, child: Child) -> None:
        self.reap(child)
        if child.reader is not None:
            child.reader.join(timeout=2)  # the pipe closes once the whole group is gone
        uptime_s = time.monotonic() - child.started_at_s
        status = describe_status(child.exit_status if child.exit_status is not None else 0)
        self.console.line("run_all", f"{child.name} {status} after {uptime_s:.1f} s")
        if child.last_lines:
            self.console.line("run_all", f"last lines of {child.name}:")
            for text in child.last_lines:
                self.console.line("run_all", f"  {text}")

    def run(self, ready_url: str | None, banner: str, ready_timeout_s: float) -> int:
        if not self.start():
            self.stop()
            return EXIT_CHILD_DIED
        if ready_url:
            threading.Thread(
                target=self.announce_when_ready,
                args=(ready_url, banner, ready_timeout_s),
                daemon=True,
            ).start()
        while not self.stop_requested.is_set():
            dead = [child for child in self.children if self.has_exited(child)]
            if dead:
                for child in dead:
                    self.report_death(child)
                self.stop()
                return EXIT_CHILD_DIED
            self.stop_requested.wait(POLL_INTERVAL_S)
        self.stop()
        return EXIT_STOPPED

    def announce_when_ready(self, url: str, banner: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stop_requested.is_set():
            if answers_http(url):
                if not self.stop_requested.is_set():
                    self.console.block(banner)
                return
            time.sleep(0.5)
        if not self.stop_requested.is_set():
            self.console.line("run_all", f"{url} did not answer within {timeout_s:g} s")


def answers_http(url: str) -> bool:
    """True when anything answers HTTP at ``url`` (an error status counts as an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own local URL
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def build_banner(url: str | None, banner_file: Path | None) -> str:
    rule = "=" * 72
    lines = [rule]
    if url:
        lines.append(f"The MES is running at {url}")
    if banner_file is not None and banner_file.is_file():
        lines.extend(banner_file.read_text(encoding="utf-8").rstrip("\n").splitlines())
    lines.extend(["Press Ctrl-C to stop everything.", rule])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run several processes with prefixed logs; stop them all together."
    )
    parser.add_argument("processes", nargs="+", metavar="NAME=COMMAND")
    parser.add_argument("--ready-url", help="print the banner once this URL answers HTTP")
    parser.add_argument("--banner-file", type=Path, help="text printed once the URL answers")
    parser.add_argument("--ready-timeout-s", type=float, default=120.0)
    parser.add_argument(
        "--stop-timeout-s",
        type=float,
        default=15.0,
        help="seconds the processes get to stop after SIGTERM before SIGKILL (default 15)",
    )
    arguments = parser.parse_args(argv)

    parsed: list[tuple[str, list[str]]] = []
    for specification in arguments.processes:
        try:
            parsed.append(parse_process(specification))
        except ValueError as error:
            parser.error(str(error))
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        parser.error(f"process names must be unique: {', '.join(names)}")

    use_color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    console = Console(max(len("run_all"), *map(len, names)), use_color=use_color)
    children = [
        Child(name, command, COLORS[index % len(COLORS)])
        for index, (name, command) in enumerate(parsed)
    ]
    runner = Runner(children, console, arguments.stop_timeout_s)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, runner.on_signal)
    banner = build_banner(arguments.ready_url, arguments.banner_file)
    return runner.run(arguments.ready_url, banner, arguments.ready_timeout_s)


if __name__ == "__main__":
    sys.exit(main())
