"""OPC UA connection (asyncua): one subscription with a monitored item per tag.

- **Subscriptions, not polling**: each tag is a monitored item with the connection's sampling
  interval and, when a deadband is set, an absolute ``DataChangeFilter`` (the server reports
  only changes larger than it); the subscription's publishing interval is the sampling interval.
- **The server's timestamps and status codes**: a reading is stamped with the value's
  SourceTimestamp (else its ServerTimestamp, else the receipt time). A Good status publishes the
  value (quality 192), an Uncertain one the value with quality 64, a Bad one no value and
  quality 0 — the reading is stored as bad, never as a number.
- **Reconnect with session recovery**: a lost server (socket closed, keep-alive read failing,
  session or subscription gone) closes the client and connects again with a backoff of 1 s
  doubling to 30 s; the new session gets a new subscription and the same monitored items, whose
  initial notifications bring the current values again.
- **Security**: ``Basic256Sha256`` with Sign or SignAndEncrypt, the client's certificate and
  key (the application URI is taken from the certificate), optionally the server's certificate
  (else the one the server's endpoint announces), and user name/password.
- Faults (refused certificate or user, unknown node, wrong value type) become the connection's
  state with the reason; nothing raises out of ``run``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509

from connectors.runtime.config import ConnectionConfig, SecurityPolicy, TagConfig
from connectors.runtime.sink import (
    QUALITY_BAD,
    QUALITY_UNCERTAIN,
    ConnectionState,
    ReadingSink,
)
from connectors.runtime.waiting import wait_unless_stopped
from workers.mqtt.uns import QUALITY_GOOD

logger = logging.getLogger("connectors.opcua")

KEEPALIVE_INTERVAL_S: Final = 1.0
BACKOFF_MIN_S: Final = 1.0
BACKOFF_MAX_S: Final = 30.0
QUEUE_SIZE: Final = 100  # per monitored item: value changes between two publishes


class ConnectionLost(Exception):
    pass


def error_reason(error: BaseException) -> str:
    """A short reason for the connection's state."""
    if isinstance(error, ua.UaStatusCodeError):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


def _scalar(value: Any) -> Any:
    """An OPC UA value as a UNS scalar (bool, int, float, str), or raise ``TypeError``."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value} is not finite")
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} is not a scalar")


def application_uri(certificate_path: str) -> str | None:
    """The URI in the certificate's subjectAltName (the client must present it as its
    ApplicationUri, or the server refuses the session)."""
    data = Path(certificate_path).read_bytes()
    try:
        certificate = x509.load_der_x509_certificate(data)
    except ValueError:
        certificate = x509.load_pem_x509_certificate(data)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


async def client_for(config: ConnectionConfig) -> Client:
    """An asyncua client for ``config``: timeouts, user, security (not connected)."""
    # asyncua's own watchdog probes the server every watchdog_intervall with that timeout:
    # no shorter than the connection's timeout, or a busy server looks dead.
    client = Client(
        url=config.endpoint,
        timeout=config.timeout_s,
        watchdog_intervall=max(config.timeout_s, KEEPALIVE_INTERVAL_S),
    )
    client.session_timeout = max(int(config.timeout_s * 10_000), 30_000)
    if config.username:
        client.set_user(config.username)
        client.set_password(config.password)
    if config.security_policy is SecurityPolicy.BASIC256SHA256:
        uri = application_uri(config.certificate_path)
        if uri:
            client.application_uri = uri
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=config.certificate_path,
            private_key=config.private_key_path,
            server_certificate=config.server_certificate_path or None,
            mode=getattr(ua.MessageSecurityMode, config.security_mode.value),
        )
    return client


class _Notifications:
    """The subscription's handler: a data change → a reading of its tag."""

    def __init__(self, connection: OpcUaConnection) -> None:
        self._connection = connection

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        item = data.monitored_item
        tag = self._connection.tags_by_handle.get(item.ClientHandle)
        if tag is None:
            return
        self._connection.publish(tag, item.Value, value)

    def status_change_notification(self, status: Any) -> None:
        self._connection.lost.set()
        self._connection.lost_reason = f"subscription status {status.Status}"


class OpcUaConnection:
    def __init__(self, config: ConnectionConfig, sink: ReadingSink) -> None:
        self.config = config
        self.sink = sink
        self.tags_by_handle: dict[int, TagConfig] = {}
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self.value_count = 0
        self.bad_count = 0
        self.sessions = 0
        self._wrong_type: set[int] = set()

    # --- readings ------------------------------------------------------------------------

    def publish(self, tag: TagConfig, data_value: Any, value: Any) -> None:
        self.value_count += 1
        ts = (
            getattr(data_value, "SourceTimestamp", None)
            or getattr(data_value, "ServerTimestamp", None)
            or datetime.now(UTC)
        )
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        status = getattr(data_value, "StatusCode", None)
        if status is not None and status.is_bad():
            self.bad_count += 1
            self.sink.reading(tag, ts, None, QUALITY_BAD)
            return
        quality = (
            QUALITY_UNCERTAIN if status is not None and status.is_uncertain() else QUALITY_GOOD
        )
        try:
            scalar = _scalar(value)
        except TypeError as error:
            self._wrong_type_report(tag, str(error))
            self.sink.reading(tag, ts, None, QUALITY_BAD)
            return
        self.sink.reading(tag, ts, scalar, quality)

    def _wrong_type_report(self, tag: TagConfig, reason: str) -> None:
        key = id(tag)
        if key in self._wrong_type:
            return
        self._wrong_type.add(key)
        self.sink.state(
            self.config.name,
            ConnectionState.DEGRADED,
            f"{tag.address}: wrong value type ({reason})",
        )

    # --- the session -----------------------------------------------------------------------

    async def _client(self) -> Client:
        return await client_for(self.config)

    def _requests(self, client: Client) -> list[ua.MonitoredItemCreateRequest]:
        config = self.config
        requests = []
        self.tags_by_handle = {}
        for handle, tag in enumerate(config.tags, start=1):
            self.tags_by_handle[handle] = tag
            read = ua.ReadValueId()
            read.NodeId = ua.NodeId.from_string(tag.address)
            read.AttributeId = ua.AttributeIds.Value
            parameters = ua.MonitoringParameters()
            parameters.ClientHandle = handle
            parameters.SamplingInterval = config.sampling_interval_ms
            parameters.QueueSize = QUEUE_SIZE
            parameters.DiscardOldest = True
            deadband = config.deadband_of(tag)
            if deadband > 0:
                parameters.Filter = ua.DataChangeFilter(
                    Trigger=ua.DataChangeTrigger.StatusValue,
                    DeadbandType=ua.DeadbandType.Absolute,
                    DeadbandValue=deadband,
                )
            request = ua.MonitoredItemCreateRequest()
            request.ItemToMonitor = read
            request.MonitoringMode = ua.MonitoringMode.Reporting
            request.RequestedParameters = parameters
            requests.append(request)
        return requests

    async def _subscribe(self, client: Client) -> list[str]:
        """Create the subscription; the tags the server refused, with their status."""
        try:
            requests = self._requests(client)
        except (ValueError, ua.UaError) as error:
            raise ValueError(f"bad node id: {error}") from None
        subscription = await client.create_subscription(
            self.config.sampling_interval_ms, _Notifications(self)
        )
        results = await subscription.create_monitored_items(requests)
        refused = []
        for request, result in zip(requests, results, strict=True):
            if isinstance(result, ua.StatusCode):
                refused.append(f"{request.ItemToMonitor.NodeId.to_string()}: {result.name}")
        return refused

    async def _watch(self, client: Client, stop: asyncio.Event) -> None:
        """Until ``stop``; raises ``ConnectionLost`` when the server is gone."""
        timeout_s = self.config.timeout_s
        while not await wait_unless_stopped(stop, KEEPALIVE_INTERVAL_S):
            if self.lost.is_set():
                raise ConnectionLost(self.lost_reason or "connection lost")
            try:
                await asyncio.wait_for(client.nodes.server_state.read_value(), timeout_s)
            except Exception as error:
                raise ConnectionLost(f"keep-alive failed: {error_reason(error)}") from None

    async def run(self, stop: asyncio.Event) -> None:
        name = self.config.name
        backoff_s = BACKOFF_MIN_S
        while not stop.is_set():
            self.sink.state(name, ConnectionState.CONNECTING, "")
            self.lost.clear()
            self.lost_reason = ""
            client: Client | None = None
            connected = False
            try:
                client = await self._client()
                await asyncio.wait_for(client.connect(), self.config.timeout_s * 3)
                connected = True
                self.sessions += 1
                refused = await self._subscribe(client)
                if refused:
                    self.sink.state(name, ConnectionState.DEGRADED, "; ".join(refused)[:500])
                else:
                    self.sink.state(name, ConnectionState.CONNECTED, "")
                backoff_s = BACKOFF_MIN_S
                await self._watch(client, stop)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # every fault of the server or the network
                reason = str(error) if isinstance(error, ConnectionLost) else error_reason(error)
                self.sink.state(name, ConnectionState.DISCONNECTED, reason)
            finally:
                if client is not None:
                    await self._close(client, connected)
            if stop.is_set():
                break
            await wait_unless_stopped(stop, backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)

    async def _close(self, client: Client, connected: bool) -> None:
        try:
            if connected:
                await asyncio.wait_for(client.disconnect(), self.config.timeout_s)
            else:
                client.disconnect_socket()
        except Exception:
            client.disconnect_socket()
