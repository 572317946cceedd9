#!/usr/bin/env python3
"""Check that the services the MES needs are up and answering.

PostgreSQL (when DATABASE_URL points at it), Redis (REDIS_URL), the MQTT broker (MQTT_URL) and
a separate Celery broker (CELERY_BROKER_URL, only when it differs from REDIS_URL). Each check
opens a connection to the address in the URL and speaks the first step of the service's own
protocol, so a port held by some other program is not mistaken for the service:

- PostgreSQL: an SSL request, then a startup message for the URL's user and database;
- Redis: ``AUTH`` when the URL has a password, ``PING`` (expects ``+PONG``), ``SELECT <db>``;
- MQTT: a CONNECT packet (MQTT 3.1.1, clean session), expects a CONNACK that accepts it;
- AMQP: the protocol header, expects the broker's greeting.

Standard library only and no Django import: it runs before anything else in ``make run`` and
``make test`` and turns a stopped service into one clear line (the service, the address it
tried, how to start it) instead of a traceback.

Usage::

    scripts/check_services.py                  # every service that applies
    scripts/check_services.py redis mqtt       # only these
    scripts/check_services.py --allow-missing-database postgres

Exit status: 0 when every checked service answered, 2 when at least one did not (or a URL
cannot be parsed).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import secrets
import socket
import ssl
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

EXIT_OK = 0
EXIT_UNAVAILABLE = 2

DEFAULT_DATABASE_URL = ""  # unset: the settings use the embedded SQLite file
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_MQTT_URL = "mqtt://localhost:1883"

DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "pgsql": 5432,
    "postgis": 5432,
    "redis": 6379,
    "rediss": 6379,
    "mqtt": 1883,
    "tcp": 1883,
    "mqtts": 8883,
    "ssl": 8883,
    "amqp": 5672,
    "pyamqp": 5672,
    "amqps": 5671,
}
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}
AMQP_SCHEMES = {"amqp", "pyamqp", "amqps"}
TLS_SCHEMES = {"rediss", "mqtts", "ssl", "amqps"}
POSTGRES_SOCKET_DIRECTORIES = ("/var/run/postgresql", "/tmp")  # noqa: S108 - libpq's defaults

SERVICE_NAMES = ("postgres", "redis", "mqtt", "broker")


class UrlError(ValueError):
    """A service URL from the environment cannot be understood."""


class CheckFailed(Exception):
    """A service did not answer as expected; ``str()`` is the full message for the user."""


@dataclass(frozen=True)
class Endpoint:
    """Where a service lives, parsed from its URL."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    path: str
    query: dict[str, list[str]]
    unix_socket: str | None = None

    @property
    def address(self) -> str:
        if self.unix_socket is not None:
            return self.unix_socket
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def use_tls(self) -> bool:
        return self.scheme in TLS_SCHEMES


def parse_endpoint(variable: str, url: str) -> Endpoint:
    """Parse ``url`` (the value of environment variable ``variable``) into an Endpoint."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlError(f"{variable} is not a valid URL ({error}): {url!r}") from error
    scheme = parts.scheme.lower()
    if not scheme:
        raise UrlError(f"{variable} has no scheme (e.g. redis://localhost:6379/0): {url!r}")
    query = parse_qs(parts.query)
    host = unquote(parts.hostname or "")
    unix_socket = None
    if scheme == "unix":
        unix_socket = unquote(parts.path)
    elif host.startswith("/"):
        unix_socket = host  # a percent-encoded socket path in the host part
    elif scheme in POSTGRES_SCHEMES and "host" in query and query["host"][0].startswith("/"):
        unix_socket = query["host"][0]
    elif scheme in POSTGRES_SCHEMES and not host:
        unix_socket = _postgres_default_socket_directory()
    if unix_socket is not None and scheme in POSTGRES_SCHEMES:
        unix_socket = str(Path(unix_socket) / f".s.PGSQL.{port or DEFAULT_PORTS[scheme]}")
    return Endpoint(
        scheme=scheme,
        host=host or "localhost",
        port=port or DEFAULT_PORTS.get(scheme, 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        path=unquote(parts.path.lstrip("/")),
        query=query,
        unix_socket=unix_socket,
    )


def _postgres_default_socket_directory() -> str:
    for directory in POSTGRES_SOCKET_DIRECTORIES:
        if Path(directory).is_dir():
            return directory
    return POSTGRES_SOCKET_DIRECTORIES[0]


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme.lower().split("+")[0] in POSTGRES_SCHEMES


# --- transport --------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.timeout | TimeoutError):
        return "no answer before the timeout"
    if isinstance(error, socket.gaierror):
        return f"host name not found: {error.strerror or error}"
    if isinstance(error, FileNotFoundError):
        return "no such socket file"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed: {error.reason or error}"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "connection reset by the peer"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__


def _start_advice(error: BaseException, variable: str, start_command: str) -> str:
    if isinstance(error, socket.gaierror):
        return f"Check the host name in {variable}."
    if isinstance(error, ssl.SSLError):
        return f"Check the TLS settings of the service and the scheme in {variable}."
    return f"Start it with: {start_command}"


def _connect(endpoint: Endpoint, timeout_s: float) -> socket.socket:
    if endpoint.unix_socket is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s)
        try:
            sock.connect(endpoint.unix_socket)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s)


@dataclass(frozen=True)
class TlsFiles:
    """A CA bundle to verify the server with, and a client certificate and key to present."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def _wrap_tls(
    sock: socket.socket, endpoint: Endpoint, *, verify: bool, files: TlsFiles = TlsFiles()
) -> socket.socket:
    try:
        context = ssl.create_default_context(cafile=files.ca_file)
        if files.cert_file:
            context.load_cert_chain(files.cert_file, files.key_file)
    except BaseException:
        sock.close()
        raise
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        return context.wrap_socket(sock, server_hostname=endpoint.host)
    except BaseException:
        sock.close()
        raise


def _open(endpoint: Endpoint, timeout_s: float, files: TlsFiles = TlsFiles()) -> socket.socket:
    """Connect, with TLS (verified) for the TLS schemes."""
    sock = _connect(endpoint, timeout_s)
    if endpoint.use_tls:
        sock = _wrap_tls(sock, endpoint, verify=True, files=files)
    return sock


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _receive_line(sock: socket.socket, limit: int = 512) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\r\n")


# --- PostgreSQL -------------------------------------------------------------------------

POSTGRES_SSL_REQUEST_CODE = 80877103
POSTGRES_PROTOCOL_3 = 196608


@dataclass(frozen=True)
class PostgresAnswer:
    """What the server said to our startup message."""

    is_accepted: bool  # authentication went through, or a password is asked for
    needs_password: bool
    error_code: str = ""
    error_message: str = ""


def _postgres_startup(
    sock: socket.socket, endpoint: Endpoint, user: str, database: str
) -> PostgresAnswer:
    """Ask for TLS (taken when offered, not verified), then send the startup message.

    Closes ``sock``. Raises CheckFailed (empty message) when the peer is not PostgreSQL.
    """
    with sock:
        sock.sendall(struct.pack("!ii", 8, POSTGRES_SSL_REQUEST_CODE))
        answer = _receive_exactly(sock, 1)
        if answer == b"S":
            with _wrap_tls(sock, endpoint, verify=False) as tls_sock:
                return _postgres_startup_message(tls_sock, user, database)
        if answer != b"N":
            raise CheckFailed("")
        return _postgres_startup_message(sock, user, database)


def _postgres_startup_message(sock: socket.socket, user: str, database: str) -> PostgresAnswer:
    """Send the startup message and read until the server is ready, fails or wants a password.

    The server checks the role and the database only after authentication, so a trusted
    connection gets AuthenticationOk first and the error (if any) after it.
    """
    parameters = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
    sock.sendall(struct.pack("!ii", 8 + len(parameters), POSTGRES_PROTOCOL_3) + parameters)
    is_authenticated = False
    try:
        for _ in range(100):
            header = _receive_exactly(sock, 5)
            if len(header) < 5:
                break
            tag = header[:1]
            (length,) = struct.unpack("!i", header[1:5])
            if tag not in {b"R", b"E", b"S", b"K", b"N", b"Z"} or not 4 <= length <= 65536:
                break
            body = _receive_exactly(sock, length - 4)
            if tag == b"R":
                (authentication_code,) = struct.unpack("!i", body[:4])
                if authentication_code != 0:
                    return PostgresAnswer(is_accepted=True, needs_password=True)
                is_authenticated = True
            elif tag == b"E":
                fields = {
                    chr(field[0]): field[1:].decode("utf-8", "replace")
                    for field in body.split(b"\0")
                    if field
                }
                return PostgresAnswer(
                    is_accepted=False,
                    needs_password=False,
                    error_code=fields.get("C", ""),
                    error_message=fields.get("M", ""),
                )
            elif tag == b"Z" and is_authenticated:  # ReadyForQuery
                return PostgresAnswer(is_accepted=True, needs_password=False)
    finally:
        with contextlib.suppress(OSError):
            sock.sendall(b"X" + struct.pack("!i", 4))  # Terminate
    raise CheckFailed("")


def postgres_start_hint(endpoint: Endpoint) -> str:
    versions = sorted(
        (path.name for path in Path("/etc/postgresql").glob("*") if path.is_dir()),
        key=lambda name: (len(name), name),
    )
    if versions:
        return f"service postgresql start (or: pg_ctlcluster {versions[-1]} main start)"
    return "service postgresql start (or start your PostgreSQL server)"


def check_postgres(url: str, timeout_s: float, *, allow_missing_database: bool) -> str:
    endpoint = parse_endpoint("DATABASE_URL", url.replace("postgresql+psycopg", "postgresql"))
    user = endpoint.username or getpass.getuser()
    database = endpoint.path or user
    where = f"PostgreSQL at {endpoint.address}"
    try:
        sock = _connect(endpoint, timeout_s)
    except OSError as error:
        raise CheckFailed(
            f"PostgreSQL is not reachable at {endpoint.address} ({_reason(error)}). "
            + _start_advice(error, "DATABASE_URL", postgres_start_hint(endpoint))
        ) from error
    try:
        answer = _postgres_startup(sock, endpoint, user, database)
    except CheckFailed as error:
        raise CheckFailed(
            f"{where} did not answer like a PostgreSQL server. "
            "Is another program listening on that port? Check DATABASE_URL."
        ) from error
    except OSError as error:
        raise CheckFailed(
            f"{where} accepted the connection but did not answer ({_reason(error)}). "
            "Is it still starting, or is another program listening on that port?"
        ) from error
    if answer.is_accepted:
        note = ", password not checked here" if answer.needs_password else ""
        return f"{where} (database {database}, user {user}{note})"
    if answer.error_code == "3D000":  # invalid_catalog_name: the database does not exist
        if allow_missing_database:
            return f"{where} (database {database} does not exist yet; tests create their own)"
        host_option = "" if endpoint.unix_socket else f"-h {endpoint.host} -p {endpoint.port} "
        raise CheckFailed(
            f'{where} has no database "{database}". '
            f"Create it with: createdb {host_option}-U {user} {database}"
        )
    if answer.error_code.startswith("28"):  # invalid authorization / password
        raise CheckFailed(
            f"{where} refused user {user} ({answer.error_message}). "
            "Check the user and password in DATABASE_URL."
        )
    raise CheckFailed(
        f"{where} refused the connection ({answer.error_code}: {answer.error_message})."
    )


# --- Redis ------------------------------------------------------------------------------


def redis_start_hint(endpoint: Endpoint) -> str:
    return (
        f'redis-server --daemonize yes --bind 127.0.0.1 --port {endpoint.port} --save "" '
        "--appendonly no"
    )


def _redis_command(sock: socket.socket, *arguments: str) -> bytes:
    encoded = [argument.encode() for argument in arguments]
    request = f"*{len(encoded)}\r\n".encode() + b"".join(
        f"${len(argument)}\r\n".encode() + argument + b"\r\n" for argument in encoded
    )
    sock.sendall(request)
    return _receive_line(sock)


def _redis_database(endpoint: Endpoint) -> int:
    raw = endpoint.query.get("db", [""])[0] if endpoint.unix_socket else endpoint.path
    raw = raw or endpoint.query.get("db", ["0"])[0]
    try:
        return int(raw)
    except ValueError as error:
        raise UrlError(f"the Redis database in the URL is not a number: {raw!r}") from error


def check_redis(url: str, timeout_s: float, *, label: str = "Redis", variable: str = "REDIS_URL"):
    endpoint = parse_endpoint(variable, url)
    database = _redis_database(endpoint)
    where = f"{label} at {endpoint.address}"
    try:
        sock = _open(endpoint, timeout_s)
    except OSError as error:
        raise CheckFailed(
            f"{label} is not reachable at {endpoint.address} ({_reason(error)}). "
            + _start_advice(error, variable, redis_start_hint(endpoint))
        ) from error
    try:
        if endpoint.password:
            credentials = (
                [endpoint.username, endpoint.password] if endpoint.username else [endpoint.password]
            )
            reply = _redis_command(sock, "AUTH", *credentials)
            if reply != b"+OK":
                raise CheckFailed(
                    f"{where} refused the password in {variable} "
                    f"({reply.decode('utf-8', 'replace').lstrip('-')})."
                )
        reply = _redis_command(sock, "PING")
        if reply.startswith(b"-NOAUTH"):
            raise CheckFailed(f"{where} requires a password: put it in {variable}.")
        if reply != b"+PONG":
            raise CheckFailed(
                f"{where} did not answer PING with +PONG (got {reply[:60]!r}). "
                f"Is another program listening on that port? Check {variable}."
            )
        if database:
            reply = _redis_command(sock, "SELECT", str(database))
            if reply != b"+OK":
                raise CheckFailed(
                    f"{where} refused database {database} from {variable} "
                    f"({reply.decode('utf-8', 'replace').lstrip('-')})."
                )
    except OSError as error:
        raise CheckFailed(
            f"{where} accepted the connection but did not answer PING ({_reason(error)}). "
            f"Is another program listening on that port? Check {variable}."
        ) from error
    finally:
        sock.close()
    return f"{where} (database {database})"


# --- MQTT -------------------------------------------------------------------------------

MQTT_CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def _mqtt_string(value: str) -> bytes:
    encoded = value.encode()
    return struct.pack("!H", len(encoded)) + encoded


def _mqtt_remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def mqtt_connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """An MQTT 3.1.1 CONNECT packet with a clean session and a 10 s keep-alive."""
    flags = 0x02  # clean session
    payload = _mqtt_string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _mqtt_string(username)
        if password is not None:
            flags |= 0x40
            payload += _mqtt_string(password)
    variable_header = _mqtt_string("MQTT") + bytes([0x04, flags]) + struct.pack("!H", 10)
    body = variable_header + payload
    return bytes([0x10]) + _mqtt_remaining_length(len(body)) + body


def mqtt_start_hint(endpoint: Endpoint) -> str:
    return f"mosquitto -d -p {endpoint.port} (or: service mosquitto start)"


def check_mqtt(url: str, timeout_s: float, environ: dict[str, str] | None = None) -> str:
    endpoint = parse_endpoint("MQTT_URL", url)
    where = f"MQTT broker at {endpoint.address}"
    # The MES's MQTT clients take these from the environment too (workers/mqtt/address.py).
    environ = dict(os.environ) if environ is None else environ
    files = TlsFiles(
        environ.get("MQTT_CA_FILE") or None,
        environ.get("MQTT_CERT_FILE") or None,
        environ.get("MQTT_KEY_FILE") or None,
    )
    username = endpoint.username or environ.get("MQTT_USERNAME") or None
    password = endpoint.password if endpoint.username else environ.get("MQTT_PASSWORD")
    try:
        sock = _open(endpoint, timeout_s, files)
    except OSError as error:
        raise CheckFailed(
            f"The MQTT broker is not reachable at {endpoint.address} ({_reason(error)}). "
            + _start_advice(error, "MQTT_URL", mqtt_start_hint(endpoint))
        ) from error
    if endpoint.scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
        sock.close()
        return f"{where} (port open; {endpoint.scheme}:// is not probed further)"
    client_id = f"mes-check-services-{secrets.token_hex(4)}"
    try:
        sock.sendall(mqtt_connect_packet(client_id, username, password or None))
        reply = _receive_exactly(sock, 4)
        if len(reply) == 4 and reply[0] == 0x20 and reply[1] == 0x02:
            return_code = reply[3]
            if return_code != 0:
                reason = MQTT_CONNACK_REASONS.get(return_code, f"return code {return_code}")
                raise CheckFailed(f"{where} refused the connection ({reason}). Check MQTT_URL.")
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT
            return where
        if not reply:
            detail = "closed the connection without answering CONNECT"
        else:
            detail = f"answered CONNECT with {reply!r}"
        raise CheckFailed(
            f"{where} {detail}. Is another program listening on that port? Check MQTT_URL."
        )
    except OSError as error:
        raise CheckFailed(
            f"{where} accepted the connection but did not answer CONNECT ({_reason(error)}). "
            "Is another program listening on that port? Check MQTT_URL."
        ) from error
    finally:
        sock.close()


# --- AMQP (a RabbitMQ Celery broker) ----------------------------------------------------


def check_amqp(url: str, timeout_s: float) -> str:
    endpoint = parse_endpoint("CELERY_BROKER_URL", url)
    where = f"Celery broker (AMQP) at {endpoint.address}"
    try:
        sock = _open(endpoint, timeout_s)
    except OSError as error:
        raise CheckFailed(
            f"The Celery broker (AMQP) is not reachable at {endpoint.address} "
            f"({_reason(error)}). "
            + _start_advice(error, "CELERY_BROKER_URL", "service rabbitmq-server start")
        ) from error
    try:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        reply = _receive_exactly(sock, 1)
    except OSError as error:
        raise CheckFailed(
            f"{where} accepted the connection but did not answer ({_reason(error)})."
        ) from error
    finally:
        sock.close()
    if reply != b"\x01":  # a method frame: Connection.Start
        raise CheckFailed(
            f"{where} did not answer like an AMQP 0-9-1 broker (got {reply!r}). "
            "Check CELERY_BROKER_URL."
        )
    return where


# --- command line -----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str] | None  # None: skipped
    skip_reason: str = ""


def plan_checks(
    selected: list[str], environ: dict[str, str], timeout_s: float, allow_missing_database: bool
) -> list[Check]:
    database_url = environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    mqtt_url = environ.get("MQTT_URL", DEFAULT_MQTT_URL)
    broker_url = environ.get("CELERY_BROKER_URL", "")
    checks: list[Check] = []
    for name in selected:
        if name == "postgres":
            if database_url and is_postgres_url(database_url):
                checks.append(
                    Check(
                        name,
                        lambda: check_postgres(
                            database_url, timeout_s, allow_missing_database=allow_missing_database
                        ),
                    )
                )
            elif database_url:
                checks.append(Check(name, None, "DATABASE_URL is not a PostgreSQL URL"))
            else:
                checks.append(
                    Check(name, None, "DATABASE_URL is unset: the app uses its SQLite file")
                )
        elif name == "redis":
            checks.append(Check(name, lambda: check_redis(redis_url, timeout_s)))
        elif name == "mqtt":
            checks.append(Check(name, lambda: check_mqtt(mqtt_url, timeout_s, environ)))
        elif name == "broker":
            if not broker_url or broker_url == redis_url:
                checks.append(Check(name, None, "the Celery broker is REDIS_URL"))
            elif urlsplit(broker_url).scheme.lower() in REDIS_SCHEMES:
                checks.append(
                    Check(
                        name,
                        lambda: check_redis(
                            broker_url,
                            timeout_s,
                            label="Celery broker (Redis)",
                            variable="CELERY_BROKER_URL",
                        ),
                    )
                )
            elif urlsplit(broker_url).scheme.lower() in AMQP_SCHEMES:
                checks.append(Check(name, lambda: check_amqp(broker_url, timeout_s)))
            else:
                checks.append(Check(name, None, "CELERY_BROKER_URL uses a scheme not probed"))
    return checks


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check that PostgreSQL, Redis and the MQTT broker answer, with a clear "
        "message (service, address, how to start it) when one does not.",
    )
    parser.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help=f"services to check, any of {', '.join(SERVICE_NAMES)} (default: all that apply)",
    )
    parser.add_argument(
        "--timeout-s", type=float, default=3.0, help="seconds to wait per service (default 3)"
    )
    parser.add_argument(
        "--allow-missing-database",
        action="store_true",
        help="accept a PostgreSQL server where the database of DATABASE_URL does not exist yet "
        "(the test run creates its own test database)",
    )
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    arguments = parser.parse_args(argv)
    unknown = [name for name in arguments.services if name not in SERVICE_NAMES]
    if unknown:
        parser.error(f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICE_NAMES)}")
    environ = dict(os.environ) if environ is None else environ
    selected = list(dict.fromkeys(arguments.services or SERVICE_NAMES))

    failures = 0
    for check in plan_checks(
        selected, environ, arguments.timeout_s, arguments.allow_missing_database
    ):
        if check.run is None:
            if not arguments.quiet:
                print(f"skip  {check.name}: {check.skip_reason}")
            continue
        try:
            description = check.run()
        except (CheckFailed, UrlError) as error:
            failures += 1
            print(f"FAIL  {error}", file=sys.stderr)
        else:
            if not arguments.quiet:
                print(f"ok    {description}")
    return EXIT_UNAVAILABLE if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
