"""scripts/run_all.py: prefixed logs, clean stop on a signal, report when a process dies.

Not a Django test: the script is stdlib only. Run with ``pytest -p no:django`` or in the suite.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_all.py"
STARTED = re.compile(r"started (?P<name>\S+) \(pid (?P<pid>\d+)\)")

pytestmark = pytest.mark.timeout(90)


def python_process(name: str, code: str) -> str:
    return f"{name}={shlex.join([sys.executable, '-c', code])}"


def start_runner(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def read_until(runner: subprocess.Popen[str], marker: str) -> list[str]:
    """Lines printed by the runner up to the first that is ``marker`` or a process's ``marker``.

    Read with readline, not iteration or communicate(), so that nothing stays in a buffer.
    """
    assert runner.stdout is not None
    lines: list[str] = []
    while line := runner.stdout.readline():
        lines.append(line.rstrip("\n"))
        if lines[-1] == marker or lines[-1].endswith(f"| {marker}"):
            return lines
    raise AssertionError(f"{marker!r} never printed; output was:\n" + "\n".join(lines))


def stop_and_read_rest(runner: subprocess.Popen[str], signum: int) -> list[str]:
    assert runner.stdout is not None
    runner.send_signal(signum)
    rest = runner.stdout.read()  # EOF once the runner has exited
    runner.wait(timeout=30)
    return rest.splitlines()


def started_pids(lines: list[str]) -> dict[str, int]:
    return {match["name"]: int(match["pid"]) for line in lines if (match := STARTED.search(line))}


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_output_is_prefixed_and_a_dead_process_is_reported_and_stops_the_others() -> None:
    runner = start_runner(
        python_process("long", "import time; print('long up', flush=True); time.sleep(60)"),
        python_process("crasher", "import sys, time; time.sleep(0.5); print('oops'); sys.exit(3)"),
    )
    output, _ = runner.communicate(timeout=60)
    lines = output.splitlines()
    pids = started_pids(lines)

    assert runner.returncode == 1
    assert "long    | long up" in lines
    assert "crasher | oops" in lines
    assert any(
        re.fullmatch(r"run_all \| crasher exited with code 3 after \d+\.\d s", line)
        for line in lines
    )
    assert "run_all |   oops" in lines  # the last lines are repeated in the report
    assert "run_all | stopping long" in lines
    assert set(pids) == {"long", "crasher"}
    assert wait_gone(pids["long"])


def test_sigterm_stops_every_process_and_exits_0() -> None:
    runner = start_runner(
        python_process("one", "import time; print('one ready', flush=True); time.sleep(60)"),
        python_process("two", "import time; time.sleep(60)"),
    )
    lines = read_until(runner, "one ready")
    pids = started_pids(lines)

    rest = stop_and_read_rest(runner, signal.SIGTERM)

    assert runner.returncode == 0
    assert "run_all | SIGTERM: stopping everything" in rest
    assert not any("exited with code" in line for line in rest)  # not reported as a death
    assert set(pids) == {"one", "two"}
    assert wait_gone(pids["one"]) and wait_gone(pids["two"])


def test_a_process_that_ignores_sigterm_is_killed_after_the_stop_timeout() -> None:
    stubborn = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('ignoring TERM', flush=True))\n"
        "print('stubborn ready', flush=True)\n"
        "while True: time.sleep(0.1)\n"
    )
    runner = start_runner("--stop-timeout-s", "1", python_process("stubborn", stubborn))
    lines = read_until(runner, "stubborn ready")
    pid = started_pids(lines)["stubborn"]

    rest = stop_and_read_rest(runner, signal.SIGINT)

    assert runner.returncode == 0
    assert "stubborn | ignoring TERM" in rest
    assert "run_all  | stubborn did not stop within 1 s: killed" in rest
    assert wait_gone(pid)


def test_banner_is_printed_once_the_url_answers(tmp_path: Path) -> None:
    port = free_port()
    banner_file = tmp_path / "banner.txt"
    banner_file.write_text("Demo logins:\n  supervisor / supervisor-demo\n", encoding="utf-8")
    server = (
        f"web={shlex.join([sys.executable, '-m', 'http.server', '-b', '127.0.0.1', str(port)])}"
    )
    runner = start_runner(
        "--ready-url",
        f"http://127.0.0.1:{port}/",
        "--banner-file",
        str(banner_file),
        "--stop-timeout-s",
        "5",
        server,
    )
    lines = read_until(runner, "Press Ctrl-C to stop everything.")
    stop_and_read_rest(runner, signal.SIGINT)

    banner_start = lines.index(f"The MES is running at http://127.0.0.1:{port}/")
    assert lines[banner_start + 1 : banner_start + 4] == [
        "Demo logins:",
        "  supervisor / supervisor-demo",
        "Press Ctrl-C to stop everything.",
    ]
    assert runner.returncode == 0


def test_a_command_that_cannot_start_is_reported_and_nothing_keeps_running() -> None:
    runner = start_runner(
        python_process("fine", "import time; time.sleep(60)"), "missing=/nonexistent/program"
    )
    output, _ = runner.communicate(timeout=30)
    pids = started_pids(output.splitlines())

    assert runner.returncode == 1
    assert "missing | could not start /nonexistent/program: " in output
    assert wait_gone(pids["fine"])


@pytest.mark.parametrize(
    "arguments",
    [["no-equals-sign"], ["web="], ["a=sleep 1", "a=sleep 2"], ["bad name=sleep 1"]],
)
def test_bad_process_specifications_are_usage_errors(arguments: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "error:" in result.stderr
    assert "started" not in result.stdout
