"""The OPC UA connector with Basic256Sha256 (sign and encrypt), certificates on both sides and
a user name and password, against asyncua's server that offers nothing else."""

from __future__ import annotations

import asyncio
import socket

import pytest
from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors.runtime.config import ConnectionConfig, Protocol, SecurityPolicy, TagConfig
from connectors.runtime.opcua import OpcUaConnection
from connectors.runtime.sink import ConnectionState
from tests.connectors.harness import Collector, States, root_topic, uns_sink, until
from tests.mosquitto import free_port

pytestmark = pytest.mark.timeout(120)

PATH = "acme/plant1/area/line/cell/press"


class PasswordUsers:
    def get_user(self, iserver, username=None, password=None, certificate=None):
        if (username, password) == ("mes", "s3cret"):
            return User(role=UserRole.User)
        return None


async def _certificate(directory, name: str, uri: str, use) -> tuple[str, str]:
    key, certificate = directory / f"{name}.pem", directory / f"{name}.der"
    await setup_self_signed_certificate(
        key, certificate, uri, socket.gethostname(), [use], {"commonName": name}
    )
    return str(certificate), str(key)


def _connect(tmp_path, mosquitto, *, password: str) -> States:
    root = root_topic()
    collector = Collector(mosquitto.url, root).start()
    states = States()
    sink, publisher = uns_sink(mosquitto.url, root, states)

    async def main() -> None:
        server_certificate, server_key = await _certificate(
            tmp_path, "server", "urn:mes:test:server", ExtendedKeyUsageOID.SERVER_AUTH
        )
        certificate, key = await _certificate(
            tmp_path, "client", "urn:mes:test:connector", ExtendedKeyUsageOID.CLIENT_AUTH
        )
        server = Server(user_manager=PasswordUsers())
        await server.init()
        port = free_port()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/mes/")
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        server.set_security_IDs(["Username"])
        await server.load_certificate(server_certificate)
        await server.load_private_key(server_key)
        namespace = await server.register_namespace("urn:mes:test")
        await server.nodes.objects.add_variable(ua.NodeId("Temperature", namespace), "T", 20.0)
        await server.start()
        config = ConnectionConfig(
            name="secure",
            protocol=Protocol.OPCUA,
            endpoint=f"opc.tcp://127.0.0.1:{port}/mes/",
            tags=(TagConfig(PATH, "temperature", f"ns={namespace};s=Temperature"),),
            security_policy=SecurityPolicy.BASIC256SHA256,
            certificate_path=certificate,
            private_key_path=key,
            server_certificate_path=server_certificate,
            username="mes",
            password=password,
            sampling_interval_ms=50,
            timeout_s=2.0,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(OpcUaConnection(config, sink).run(stop))
        try:
            if password == "s3cret":
                await until(lambda: len(collector.readings("temperature")) == 1)
            else:
                await until(
                    lambda: (states.last("secure") or (None,))[0] is ConnectionState.DISCONNECTED
                )
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await server.stop()

    try:
        asyncio.run(main())
    finally:
        publisher.stop()
        collector.stop()
    return states


def test_basic256sha256_with_certificates_and_a_password_subscribes(tmp_path, mosquitto):
    states = _connect(tmp_path, mosquitto, password="s3cret")

    assert (ConnectionState.CONNECTED, "") in [(s, r) for _n, s, r in states.history]


def test_a_refused_password_is_the_connection_state_with_the_reason(tmp_path, mosquitto):
    states = _connect(tmp_path, mosquitto, password="wrong")

    state, reason = states.last("secure")
    assert state is ConnectionState.DISCONNECTED
    assert "BadUserAccessDenied" in reason
