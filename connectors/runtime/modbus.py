"""Modbus TCP connection (pymodbus): polls the tags' registers and coils.

- Each poll (every ``sampling_interval_ms``) reads the device in as few requests as the
  protocol allows (``registers.read_plan``) and publishes a tag when its value changed by more
  than its deadband (bools: when they change). Modbus has no timestamps: a reading is stamped
  with the time its response arrived.
- **Per-device rate limit**: at most ``max_requests_per_s`` requests to the device, whatever
  the number of tags (a slow PLC or a serial gateway behind it is not flooded).
- **Timeouts and retries**: a request is given ``timeout_s`` and repeated ``retries`` times.
  A Modbus exception code (illegal address, device busy, …) or a request that still timed out
  makes the connection *degraded* with the reason and publishes one bad reading (quality 0, no
  value) for each of the block's tags; the tags come back by themselves. When every request of
  a poll timed out the device is considered gone: one bad reading for each tag that had a
  value, disconnect, reconnect with a backoff of 1 s doubling to 30 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlsplit

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from connectors.runtime.config import ConnectionConfig, RegisterKind
from connectors.runtime.registers import ReadBlock, read_plan, tag_value
from connectors.runtime.sink import QUALITY_BAD, ConnectionState, ReadingSink
from connectors.runtime.waiting import wait_unless_stopped

logger = logging.getLogger("connectors.modbus")

BACKOFF_MIN_S: Final = 1.0
BACKOFF_MAX_S: Final = 30.0
DEFAULT_PORT: Final = 502
EXCEPTION_CODES: Final = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def modbus_address(endpoint: str) -> tuple[str, int]:
    """``modbus://host[:port]`` (or ``modbus+tcp://``, ``tcp://``, ``host[:port]``)."""
    parts = urlsplit(endpoint if "://" in endpoint else f"modbus://{endpoint}")
    if parts.scheme not in ("modbus", "modbus+tcp", "tcp") or not parts.hostname:
        raise ValueError(f"{endpoint!r} is not modbus://host[:port]")
    return parts.hostname, parts.port or DEFAULT_PORT


class DeviceGone(Exception):
    pass


class RateLimiter:
    """At most ``per_s`` acquisitions per second, evenly spaced."""

    def __init__(self, per_s: float) -> None:
        self._interval_s = 1.0 / per_s
        self._next = 0.0

    async def acquire(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
            now = self._next
        self._next = now + self._interval_s


class ModbusConnection:
    def __init__(self, config: ConnectionConfig, sink: ReadingSink) -> None:
        self.config = config
        self.sink = sink
        self.host, self.port = modbus_address(config.endpoint)
        self.plan = read_plan(config.tags)
        self.limiter = RateLimiter(config.max_requests_per_s)
        self.last: dict[int, bool | float] = {}  # id(tag) → last published value
        self.failing: set[int] = set()  # id(tag) of tags marked bad
        self.request_count = 0
        self.poll_count = 0

    async def _request(self, client: AsyncModbusTcpClient, block: ReadBlock):
        device_id = self.config.unit_id
        if block.kind is RegisterKind.HOLDING:
            return await client.read_holding_registers(
                block.start, count=block.count, device_id=device_id
            )
        if block.kind is RegisterKind.INPUT:
            return await client.read_input_registers(
                block.start, count=block.count, device_id=device_id
            )
        if block.kind is RegisterKind.COIL:
            return await client.read_coils(block.start, count=block.count, device_id=device_id)
        return await client.read_discrete_inputs(
            block.start, count=block.count, device_id=device_id
        )

    async def read_block(
        self, client: AsyncModbusTcpClient, block: ReadBlock
    ) -> tuple[list[int] | None, str, bool]:
        """(values, reason, timed out): the block's registers or bits, or why not."""
        reason = ""
        for _attempt in range(self.config.retries + 1):
            await self.limiter.acquire()
            self.request_count += 1
            try:
                response = await asyncio.wait_for(
                    self._request(client, block), self.config.timeout_s
                )
            except (TimeoutError, ModbusException) as error:
                reason = f"no answer within {self.config.timeout_s:g} s"
                if isinstance(error, ModbusException):
                    reason = f"{reason} ({error})"
                if not client.connected:
                    return None, "connection closed by the device", True
                continue
            if response.isError():
                code = getattr(response, "exception_code", None)
                name = EXCEPTION_CODES.get(code, "unknown") if code is not None else "error"
                return None, f"exception code {code} ({name})", False
            values = (
                response.bits
                if block.kind in (RegisterKind.COIL, RegisterKind.DISCRETE_INPUT)
                else response.registers
            )
            return list(values[: block.count]), "", False
        return None, reason, True

    def _publish_block(self, block: ReadBlock, values: list[int], ts: datetime) -> None:
        for tag in block.tags:
            key = id(tag)
            value = tag_value(tag, block.slice_of(tag, values))
            previous = self.last.get(key)
            if key in self.failing:
                self.failing.discard(key)
            elif previous is not None and (
                value == previous
                or (
                    not isinstance(value, bool)
                    and abs(value - previous) <= self.config.deadband_of(tag)
                )
            ):
                continue
            self.last[key] = value
            self.sink.reading(tag, ts, value)

    def _mark_bad(self, block: ReadBlock, ts: datetime, *, known_only: bool = False) -> None:
        """One bad reading per tag that turns bad (``known_only``: only the tags that had a
        value — a device that was never reached has nothing to mark)."""
        for tag in block.tags:
            key = id(tag)
            if known_only and key not in self.last:
                continue
            if key not in self.failing:
                self.failing.add(key)
                self.last.pop(key, None)
                self.sink.reading(tag, ts, None, QUALITY_BAD)

    async def poll(self, client: AsyncModbusTcpClient) -> list[str]:
        """One poll of every block; the problems, each with its reason."""
        self.poll_count += 1
        problems = []
        timed_out = 0
        for block in self.plan:
            values, reason, is_timeout = await self.read_block(client, block)
            ts = datetime.now(UTC)
            if values is None:
                timed_out += is_timeout
                problems.append(
                    f"{block.kind} {block.start}..{block.start + block.count - 1}: {reason}"
                )
                self._mark_bad(block, ts)
                continue
            self._publish_block(block, values, ts)
        if self.plan and timed_out == len(self.plan):
            raise DeviceGone("; ".join(problems))
        return problems

    async def _poll_loop(self, client: AsyncModbusTcpClient, stop: asyncio.Event) -> None:
        name = self.config.name
        period_s = self.config.sampling_interval_ms / 1000
        next_poll = time.monotonic()
        while not stop.is_set():
            problems = await self.poll(client)
            if problems:
                self.sink.state(name, ConnectionState.DEGRADED, "; ".join(problems)[:500])
            else:
                self.sink.state(name, ConnectionState.CONNECTED, "")
            next_poll = max(next_poll + period_s, time.monotonic())
            await wait_unless_stopped(stop, max(next_poll - time.monotonic(), 0))

    async def run(self, stop: asyncio.Event) -> None:
        name = self.config.name
        backoff_s = BACKOFF_MIN_S
        while not stop.is_set():
            self.sink.state(name, ConnectionState.CONNECTING, "")
            client = AsyncModbusTcpClient(
                self.host,
                port=self.port,
                timeout=self.config.timeout_s,
                retries=0,
                reconnect_delay=0,
            )
            try:
                if not await client.connect():
                    raise ConnectionError(f"cannot connect to {self.host}:{self.port}")
                backoff_s = BACKOFF_MIN_S
                await self._poll_loop(client, stop)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the device or the network
                reason = str(error) or type(error).__name__
                self.sink.state(name, ConnectionState.DISCONNECTED, reason[:500])
                ts = datetime.now(UTC)
                for block in self.plan:
                    self._mark_bad(block, ts, known_only=True)
            finally:
                client.close()
            if stop.is_set():
                break
            await wait_unless_stopped(stop, backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
