"""scripts/check_services.py against the real local services and against closed ports.

Not a Django test: the script is stdlib only. Run with ``pytest -p no:django`` or in the suite.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import pytest

from tests.mosquitto import ShippedMosquitto

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_services.py"
LOCAL_POSTGRES_URL = "postgres://postgres@localhost:5432/postgres"
LOCAL_REDIS_URL = "redis://localhost:6379/7"


def run_check(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run the script with only PATH and the given variables in its environment."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    """A local TCP port nothing listens on: bound by us, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_script_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_services_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_all_local_services_answer(mosquitto) -> None:
    result = run_check(
        DATABASE_URL=LOCAL_POSTGRES_URL, REDIS_URL=LOCAL_REDIS_URL, MQTT_URL=mosquitto.url
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ok    PostgreSQL at localhost:5432 (database postgres, user postgres)",
        "ok    Redis at localhost:6379 (database 7)",
        f"ok    MQTT broker at 127.0.0.1:{mosquitto.port}",
        "skip  broker: the Celery broker is REDIS_URL",
    ]
    assert result.stderr == ""


def test_without_database_url_postgres_is_skipped_not_checked(mosquitto) -> None:
    result = run_check(REDIS_URL=LOCAL_REDIS_URL, MQTT_URL=mosquitto.url)

    assert result.returncode == 0, result.stderr
    assert "skip  postgres: DATABASE_URL is unset: the app uses its SQLite file" in result.stdout
    assert "PostgreSQL" not in result.stdout


def test_only_the_named_services_are_checked() -> None:
    closed_port = free_port()
    result = run_check(
        "redis",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed_port}/mes",
        REDIS_URL=LOCAL_REDIS_URL,
        MQTT_URL=f"mqtt://127.0.0.1:{closed_port}",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ok    Redis at localhost:6379 (database 7)"]
    assert result.stderr == ""


def test_closed_redis_port_exits_2_naming_service_address_and_start_command(mosquitto) -> None:
    port = free_port()
    result = run_check(REDIS_URL=f"redis://127.0.0.1:{port}/7", MQTT_URL=mosquitto.url)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"FAIL  Redis is not reachable at 127.0.0.1:{port} (connection refused). "
        f'Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port {port} --save "" '
        "--appendonly no"
    ]
    # The other services are still checked and reported.
    assert f"ok    MQTT broker at 127.0.0.1:{mosquitto.port}" in result.stdout
    assert "Traceback" not in result.stderr


def test_closed_mqtt_port_exits_2_naming_service_address_and_start_command() -> None:
    port = free_port()
    result = run_check("mqtt", MQTT_URL=f"mqtt://127.0.0.1:{port}")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"FAIL  The MQTT broker is not reachable at 127.0.0.1:{port} (connection refused). "
        f"Start it with: mosquitto -d -p {port} (or: service mosquitto start)"
    ]
    assert result.stdout == ""


def test_closed_postgres_port_exits_2_naming_service_and_address() -> None:
    port = free_port()
    result = run_check("postgres", DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/mes")

    assert result.returncode == 2
    [message] = result.stderr.splitlines()
    assert message.startswith(
        f"FAIL  PostgreSQL is not reachable at 127.0.0.1:{port} (connection refused). "
        "Start it with: service postgresql start"
    )
    assert result.stdout == ""


def test_a_different_program_on_the_port_is_not_taken_for_the_service(mosquitto) -> None:
    # Redis URL pointing at the MQTT broker, MQTT URL pointing at Redis.
    result = run_check(
        "--timeout-s",
        "1",
        "redis",
        "mqtt",
        REDIS_URL=f"redis://127.0.0.1:{mosquitto.port}/7",
        MQTT_URL="mqtt://localhost:6379",
    )

    assert result.returncode == 2
    failures = result.stderr.splitlines()
    assert len(failures) == 2
    assert failures[0].startswith(f"FAIL  Redis at 127.0.0.1:{mosquitto.port} ")
    assert failures[1].startswith("FAIL  MQTT broker at localhost:6379 ")
    assert all("Is another program listening on that port?" in line for line in failures)
    assert "ok" not in result.stdout


def test_missing_database_fails_with_createdb_hint_unless_allowed() -> None:
    database = f"mes_missing_{uuid.uuid4().hex[:12]}"
    url = f"postgres://postgres@localhost:5432/{database}"

    strict = run_check("postgres", DATABASE_URL=url)
    tolerant = run_check("--allow-missing-database", "postgres", DATABASE_URL=url)

    assert strict.returncode == 2
    assert strict.stderr.splitlines() == [
        f'FAIL  PostgreSQL at localhost:5432 has no database "{database}". '
        f"Create it with: createdb -h localhost -p 5432 -U postgres {database}"
    ]
    assert tolerant.returncode == 0, tolerant.stderr
    assert tolerant.stdout.splitlines() == [
        f"ok    PostgreSQL at localhost:5432 (database {database} does not exist yet; "
        "tests create their own)"
    ]


def test_unknown_postgres_role_is_reported() -> None:
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    result = run_check("postgres", DATABASE_URL=f"postgres://{role}@localhost:5432/postgres")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f'FAIL  PostgreSQL at localhost:5432 refused user {role} (role "{role}" does not exist). '
        "Check the user and password in DATABASE_URL."
    ]


def test_redis_database_out_of_range_is_reported() -> None:
    result = run_check("redis", REDIS_URL="redis://localhost:6379/999")

    assert result.returncode == 2
    assert result.stderr.startswith("FAIL  Redis at localhost:6379 refused database 999 ")


def test_unparsable_url_is_reported_without_traceback() -> None:
    result = run_check("redis", REDIS_URL="redis://localhost:notaport/1")

    assert result.returncode == 2
    assert result.stderr.startswith("FAIL  REDIS_URL is not a valid URL ")
    assert "Traceback" not in result.stderr


def test_unknown_service_name_is_a_usage_error() -> None:
    result = run_check("redis", "kafka", REDIS_URL=LOCAL_REDIS_URL)

    assert result.returncode == 2
    assert "unknown service 'kafka'" in result.stderr
    assert result.stdout == ""


def test_quiet_prints_nothing_when_all_answer(mosquitto) -> None:
    result = run_check("--quiet", REDIS_URL=LOCAL_REDIS_URL, MQTT_URL=mosquitto.url)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_mqtt_connect_packet_follows_mqtt_3_1_1() -> None:
    module = load_script_module()

    anonymous = module.mqtt_connect_packet("abc", None, None)
    with_credentials = module.mqtt_connect_packet("abc", "u", "p")

    assert anonymous == b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x0a\x00\x03abc"
    assert with_credentials == b"\x10\x15\x00\x04MQTT\x04\xc2\x00\x0a\x00\x03abc\x00\x01u\x00\x01p"


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (321, b"\xc1\x02"),
        (16384, b"\x80\x80\x01"),
    ],
)
def test_mqtt_remaining_length_encoding(length: int, encoded: bytes) -> None:
    module = load_script_module()

    assert module._mqtt_remaining_length(length) == encoded


def test_parse_endpoint_defaults_ipv6_and_socket_paths() -> None:
    module = load_script_module()

    redis = module.parse_endpoint("REDIS_URL", "redis://:secret@[::1]/2")
    postgres_socket = module.parse_endpoint(
        "DATABASE_URL", "postgres://postgres@%2Frun%2Fpostgresql:5433/mes"
    )
    mqtt = module.parse_endpoint("MQTT_URL", "mqtts://broker.example")

    assert (redis.address, redis.password, redis.path) == ("[::1]:6379", "secret", "2")
    assert postgres_socket.address == "/run/postgresql/.s.PGSQL.5433"
    assert (mqtt.address, mqtt.use_tls) == ("broker.example:8883", True)


def test_the_mqtt_check_logs_in_with_the_tls_files_and_credentials_of_the_environment(
    tmp_path,
) -> None:
    broker = ShippedMosquitto(tmp_path / "broker").start()
    try:
        certificates = broker.certificates
        tls = {
            "MQTT_URL": f"mqtts://localhost:{broker.tls_port}",
            "MQTT_CA_FILE": str(certificates / "ca.crt"),
            "MQTT_USERNAME": "mes-bridge",
            "MQTT_PASSWORD": broker.password("mes-bridge"),
        }
        client_certificate = {
            "MQTT_CERT_FILE": str(certificates / "mes-bridge.crt"),
            "MQTT_KEY_FILE": str(certificates / "mes-bridge.key"),
        }
        accepted = run_check("mqtt", **tls, **client_certificate)
        without_certificate = run_check("mqtt", **tls)
        without_password = run_check("mqtt", **{**tls, "MQTT_PASSWORD": ""}, **client_certificate)
    finally:
        broker.kill()

    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.splitlines() == [f"ok    MQTT broker at localhost:{broker.tls_port}"]
    assert without_certificate.returncode != 0
    # TLS 1.3: the broker's alert (CERTIFICATE_REQUIRED) or its closing the socket (EOF)
    assert "TLS handshake failed" in without_certificate.stderr
    assert without_password.returncode != 0
    assert "not authorized" in without_password.stderr
