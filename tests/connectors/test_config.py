"""The connectors' configuration: the admin models exported to the file a gateway runs, the
file's validation, and the standalone entry point that needs no Django."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from connectors.models import Connection, TagMapping
from connectors.runtime.config import (
    ByteOrder,
    DataType,
    Protocol,
    RegisterKind,
    SecurityPolicy,
    config_from_dict,
    config_load,
    config_to_dict,
)
from connectors.services import connectors_config_build

ROOT = Path(__file__).resolve().parents[2]


def _document(**connection) -> dict:
    return {
        "version": 1,
        "mqtt_url": "mqtt://broker:1883",
        "connections": [
            {
                "name": "press",
                "protocol": "modbus",
                "endpoint": "modbus://plc:502",
                "tags": [{"equipment_path": "a/b/c/d/e/f", "signal": "s", "address": "10"}],
                **connection,
            }
        ],
    }


def test_a_file_round_trips() -> None:
    config = config_from_dict(_document(deadband=0.5))

    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    (connection,) = config.connections
    assert connection.protocol is Protocol.MODBUS
    assert connection.tags[0].register_kind is RegisterKind.HOLDING
    assert connection.deadband_of(connection.tags[0]) == 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protocol": "profibus"}, "connection 'press'.protocol: 'profibus' is not one of"),
        ({"deadband": -1}, "connection 'press'.deadband: -1 is below 0"),
        ({"tags": [{"signal": "s", "address": "1"}]}, "tags[0].equipment_path: must be"),
        (
            {"tags": [{"equipment_path": "p", "signal": "s", "address": "ns=2;s=x"}]},
            "tags[0].address: a Modbus address is a number 0..65535",
        ),
        (
            {
                "tags": [
                    {
                        "equipment_path": "p",
                        "signal": "s",
                        "address": "1",
                        "register_kind": "coil",
                        "data_type": "float32",
                    }
                ]
            },
            "a coil holds a bool",
        ),
        ({"security_policy": "Basic256Sha256"}, "needs certificate_path and private_key_path"),
        ({"sampling": 5}, "unknown field(s) sampling"),
    ],
)
def test_a_bad_file_names_the_connection_and_the_field(change, message) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        config_from_dict(_document(**change))

    assert message in str(caught.value)


@pytest.fixture
def connections(plant):
    from production.models import Signal

    temperature = Signal.objects.create(equipment=plant.equipment, name="temperature", unit="degC")
    pressure = Signal.objects.create(equipment=plant.equipment, name="pressure", unit="bar")
    opcua = Connection.objects.create(
        name="press-opcua",
        protocol=Protocol.OPCUA,
        endpoint="opc.tcp://plc:4840",
        security_policy=SecurityPolicy.BASIC256SHA256,
        certificate_path="/etc/mes/opcua/client.der",
        private_key_path="/etc/mes/opcua/client.pem",
        username="mes",
        password="secret",
        deadband=0.2,
    )
    TagMapping.objects.create(connection=opcua, signal=temperature, address="ns=2;s=Temperature")
    modbus = Connection.objects.create(
        name="press-modbus", protocol=Protocol.MODBUS, endpoint="modbus://plc:502"
    )
    TagMapping.objects.create(
        connection=modbus,
        signal=pressure,
        address="100",
        register_kind=RegisterKind.INPUT,
        data_type=DataType.FLOAT32,
        word_order=ByteOrder.LITTLE,
        scale=0.1,
    )
    Connection.objects.create(
        name="disabled", protocol=Protocol.MODBUS, endpoint="modbus://x", is_enabled=False
    )
    return plant


@pytest.mark.django_db
def test_the_export_holds_the_enabled_connections_with_their_tags(
    connections, tmp_path, settings
) -> None:
    settings.MQTT_URL = "mqtt://broker.plant:1883"
    settings.MQTT_UNS_ROOT = "acme/v1"
    target = tmp_path / "connectors.json"

    call_command("connect", export=str(target))

    config = config_load(target)
    assert config == connectors_config_build()
    assert (config.mqtt_url, config.uns_root) == ("mqtt://broker.plant:1883", "acme/v1")
    assert [connection.name for connection in config.connections] == [
        "press-modbus",
        "press-opcua",
    ]
    modbus, opcua = config.connections
    (pressure,) = modbus.tags
    assert (pressure.equipment_path, pressure.signal, pressure.address) == (
        connections.equipment.uns_path,
        "pressure",
        "100",
    )
    assert (pressure.data_type, pressure.word_order, pressure.scale) == (
        DataType.FLOAT32,
        ByteOrder.LITTLE,
        0.1,
    )
    assert (opcua.security_policy, opcua.username, opcua.password) == (
        SecurityPolicy.BASIC256SHA256,
        "mes",
        "secret",
    )
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # it holds passwords


@pytest.mark.django_db
def test_the_admin_exports_the_selected_connections(connections, make_user, verified_client):
    user = make_user("admin")  # the role holds the connectors' permissions
    user.is_staff = True
    user.save()
    client = verified_client(user)
    ids = Connection.objects.filter(name="press-modbus").values_list("pk", flat=True)

    response = client.post(
        "/admin/connectors/connection/",
        {"action": "export_configuration", "_selected_action": list(ids)},
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="connectors.json"'
    config = config_from_dict(json.loads(response.content))
    assert [connection.name for connection in config.connections] == ["press-modbus"]
    page = client.get("/admin/connectors/connection/")
    assert page.status_code == 200
    assert b"press-opcua" in page.content


def _standalone(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-m", "connectors.run", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=environment,
        check=False,
    )


def test_the_standalone_entry_refuses_a_bad_file_with_the_reason(tmp_path) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(_document(protocol="profibus")))

    result = _standalone("--config", str(path))

    assert result.returncode == 2
    assert "connection 'press'.protocol: 'profibus' is not one of" in result.stderr


def test_the_gateway_runtime_loads_no_django() -> None:
    """What a gateway imports — the entry points, both drivers, the edge agent — pulls in no
    Django, Celery or Channels."""
    script = (
        "import sys, connectors.run, connectors.edge;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'rest_framework', 'celery', 'channels', 'kombu'}))"
    )
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=environment,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
