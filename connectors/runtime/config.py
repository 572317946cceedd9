"""The connectors' configuration as plain data: what the admin exports and a gateway reads.

Pure (stdlib only): ``python -m connectors.run --config file.json`` loads it without Django.
The file is JSON::

    {"version": 1, "mqtt_url": "mqtt://broker:1883", "uns_root": "",
     "connections": [{"name": "press-1", "protocol": "opcua",
                      "endpoint": "opc.tcp://plc:4840", ..., "tags": [...]}]}

Every problem raises ``ValueError`` naming the connection, the tag and the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

CONFIG_VERSION: Final = 1


class Protocol(StrEnum):
    OPCUA = "opcua"
    MODBUS = "modbus"


class SecurityPolicy(StrEnum):
    NONE = "None"
    BASIC256SHA256 = "Basic256Sha256"


class SecurityMode(StrEnum):
    SIGN = "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt"


class RegisterKind(StrEnum):
    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"


class ByteOrder(StrEnum):
    BIG = "big"
    LITTLE = "little"


REGISTER_COUNT: Final = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
}
BIT_KINDS: Final = frozenset({RegisterKind.COIL, RegisterKind.DISCRETE_INPUT})


@dataclass(frozen=True)
class TagConfig:
    """One tag of a device and the Signal it feeds (``equipment_path``/``signal``).

    OPC UA: ``address`` is the node id (``ns=2;s=Line1.Temperature``). Modbus: the register
    or coil number (0-based), ``register_kind``, ``data_type`` and the byte and word order of
    multi-register values; the published value is ``raw × scale + offset``."""

    equipment_path: str
    signal: str
    address: str
    register_kind: RegisterKind = RegisterKind.HOLDING
    data_type: DataType = DataType.INT16
    byte_order: ByteOrder = ByteOrder.BIG
    word_order: ByteOrder = ByteOrder.BIG
    scale: float = 1.0
    offset: float = 0.0
    deadband: float | None = None  # None: the connection's

    @property
    def register_count(self) -> int:
        return REGISTER_COUNT[self.data_type]


@dataclass(frozen=True)
class ConnectionConfig:
    name: str
    protocol: Protocol
    endpoint: str  # opc.tcp://host:4840[/path] or modbus://host:502
    tags: tuple[TagConfig, ...] = ()
    security_policy: SecurityPolicy = SecurityPolicy.NONE
    security_mode: SecurityMode = SecurityMode.SIGN_AND_ENCRYPT
    certificate_path: str = ""
    private_key_path: str = ""
    server_certificate_path: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    sampling_interval_ms: float = 1000.0
    deadband: float = 0.0
    max_requests_per_s: float = 50.0
    timeout_s: float = 3.0
    retries: int = 2
    unit_id: int = 1

    def deadband_of(self, tag: TagConfig) -> float:
        return self.deadband if tag.deadband is None else tag.deadband


@dataclass(frozen=True)
class ConnectorsConfig:
    mqtt_url: str
    uns_root: str = ""
    connections: tuple[ConnectionConfig, ...] = ()
    # Retained connection states go to ``<state_topic>/<connection name>``: three levels,
    # never a UNS topic (those have six or seven below the root).
    state_topic: str = "_mes/connectors"


def _enum(kind: type[StrEnum], raw: Any, where: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(member.value for member in kind)  # type: ignore[attr-defined]
        raise ValueError(f"{where}: {raw!r} is not one of {choices}") from None


def _number(raw: Any, where: str, *, minimum: float | None = None) -> float:
    if type(raw) not in (int, float):
        raise ValueError(f"{where}: {raw!r} is not a number")
    if minimum is not None and raw < minimum:
        raise ValueError(f"{where}: {raw!r} is below {minimum}")
    return float(raw)


def _text(raw: Any, where: str, *, required: bool = False) -> str:
    if type(raw) is not str or (required and not raw):
        raise ValueError(f"{where}: must be {'a non-empty' if required else 'a'} string")
    return raw


def _unknown_keys(document: dict[str, Any], kind: type, where: str) -> None:
    known = {item.name for item in fields(kind)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")


def tag_from_dict(document: dict[str, Any], where: str) -> TagConfig:
    _unknown_keys(document, TagConfig, where)
    deadband = document.get("deadband")
    tag = TagConfig(
        equipment_path=_text(
            document.get("equipment_path"), f"{where}.equipment_path", required=True
        ),
        signal=_text(document.get("signal"), f"{where}.signal", required=True),
        address=_text(document.get("address"), f"{where}.address", required=True),
        register_kind=_enum(
            RegisterKind, document.get("register_kind", "holding"), f"{where}.register_kind"
        ),
        data_type=_enum(DataType, document.get("data_type", "int16"), f"{where}.data_type"),
        byte_order=_enum(ByteOrder, document.get("byte_order", "big"), f"{where}.byte_order"),
        word_order=_enum(ByteOrder, document.get("word_order", "big"), f"{where}.word_order"),
        scale=_number(document.get("scale", 1.0), f"{where}.scale"),
        offset=_number(document.get("offset", 0.0), f"{where}.offset"),
        deadband=None if deadband is None else _number(deadband, f"{where}.deadband", minimum=0),
    )
    if tag.register_kind in BIT_KINDS and tag.data_type is not DataType.BOOL:
        raise ValueError(f"{where}.data_type: a {tag.register_kind} holds a bool")
    return tag


def connection_from_dict(document: dict[str, Any], where: str) -> ConnectionConfig:
    _unknown_keys(document, ConnectionConfig, where)
    name = _text(document.get("name"), f"{where}.name", required=True)
    where = f"connection {name!r}"
    protocol = _enum(Protocol, document.get("protocol"), f"{where}.protocol")
    raw_tags = document.get("tags", [])
    if type(raw_tags) is not list:
        raise ValueError(f"{where}.tags: must be a list")
    tags = []
    for index, raw in enumerate(raw_tags):
        if type(raw) is not dict:
            raise ValueError(f"{where}.tags[{index}]: must be an object")
        tags.append(tag_from_dict(raw, f"{where}.tags[{index}]"))
    if protocol is Protocol.MODBUS:
        for index, tag in enumerate(tags):
            if not tag.address.isdigit() or int(tag.address) > 65535:
                raise ValueError(
                    f"{where}.tags[{index}].address: a Modbus address is a number 0..65535"
                )
    config = ConnectionConfig(
        name=name,
        protocol=protocol,
        endpoint=_text(document.get("endpoint"), f"{where}.endpoint", required=True),
        tags=tuple(tags),
        security_policy=_enum(
            SecurityPolicy, document.get("security_policy", "None"), f"{where}.security_policy"
        ),
        security_mode=_enum(
            SecurityMode, document.get("security_mode", "SignAndEncrypt"), f"{where}.security_mode"
        ),
        certificate_path=_text(document.get("certificate_path", ""), f"{where}.certificate_path"),
        private_key_path=_text(document.get("private_key_path", ""), f"{where}.private_key_path"),
        server_certificate_path=_text(
            document.get("server_certificate_path", ""), f"{where}.server_certificate_path"
        ),
        username=_text(document.get("username", ""), f"{where}.username"),
        password=_text(document.get("password", ""), f"{where}.password"),
        sampling_interval_ms=_number(
            document.get("sampling_interval_ms", 1000.0), f"{where}.sampling_interval_ms", minimum=0
        ),
        deadband=_number(document.get("deadband", 0.0), f"{where}.deadband", minimum=0),
        max_requests_per_s=_number(
            document.get("max_requests_per_s", 50.0), f"{where}.max_requests_per_s", minimum=0.001
        ),
        timeout_s=_number(document.get("timeout_s", 3.0), f"{where}.timeout_s", minimum=0.001),
        retries=int(_number(document.get("retries", 2), f"{where}.retries", minimum=0)),
        unit_id=int(_number(document.get("unit_id", 1), f"{where}.unit_id", minimum=0)),
    )
    if config.security_policy is not SecurityPolicy.NONE and not (
        config.certificate_path and config.private_key_path
    ):
        raise ValueError(
            f"{where}: security policy {config.security_policy} needs certificate_path and "
            "private_key_path (the client's certificate and key)"
        )
    return config


def config_from_dict(document: Any) -> ConnectorsConfig:
    if type(document) is not dict:
        raise ValueError("the configuration must be a JSON object")
    version = document.get("version")
    if version != CONFIG_VERSION:
        raise ValueError(f"version: {version!r} is not {CONFIG_VERSION}")
    raw_connections = document.get("connections", [])
    if type(raw_connections) is not list:
        raise ValueError("connections: must be a list")
    connections = []
    for index, raw in enumerate(raw_connections):
        if type(raw) is not dict:
            raise ValueError(f"connections[{index}]: must be an object")
        connections.append(connection_from_dict(raw, f"connections[{index}]"))
    names = [connection.name for connection in connections]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"connections: duplicate name(s) {', '.join(duplicates)}")
    return ConnectorsConfig(
        mqtt_url=_text(document.get("mqtt_url"), "mqtt_url", required=True),
        uns_root=_text(document.get("uns_root", ""), "uns_root").strip("/"),
        connections=tuple(connections),
        state_topic=_text(
            document.get("state_topic", "_mes/connectors"), "state_topic", required=True
        ),
    )


def config_to_dict(config: ConnectorsConfig) -> dict[str, Any]:
    document = asdict(config)
    document["connections"] = [
        {**connection, "tags": list(connection["tags"])} for connection in document["connections"]
    ]
    return {"version": CONFIG_VERSION, **document}


def config_load(path: str | Path) -> ConnectorsConfig:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: {error}") from None
    return config_from_dict(document)


def config_dump(config: ConnectorsConfig, path: str | Path) -> None:
    """Write the file readable by its owner only: it may hold OPC UA passwords."""
    target = Path(path)
    text = json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n"
    target.touch(mode=0o600, exist_ok=True)
    target.write_text(text, encoding="utf-8")
