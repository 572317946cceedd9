"""The checks a reading passes before it is stored: its signal's contract (type, range, unit,
text length) and the time window (retention behind, ``INGEST_MAX_FUTURE_S`` ahead); the
contracts indexed by equipment path, and their invalidation across processes."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from mes_site.redis import redis_client
from workers.choices import IngestReason
from workers.selectors import (
    TYPE_BOOLEAN,
    TYPE_NUMBER,
    Contracts,
    SignalContract,
    contracts_version_key,
)


class ContractViolation(Exception):
    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def reading_check(
    contract: SignalContract, value: Any, unit: str | None
) -> tuple[float | None, str | None]:
    """A value checked against its signal's contract → (value column, text column).

    Numbers must be int/float (not bool) within [min, max]; booleans bool (or 0/1) stored as
    0/1; strings str of at most ``INGEST_MAX_TEXT_LENGTH`` characters. A unit sent with the
    value must equal the signal's unit when the signal declares one."""
    if unit is not None and contract.unit and unit != contract.unit:
        raise ContractViolation(
            IngestReason.UNIT_MISMATCH,
            f"{contract.name}: unit {unit[:32]!r} differs from the signal's {contract.unit!r}",
        )
    kind = type(value)
    type_code = contract.type_code
    if type_code == TYPE_NUMBER:
        if kind is not float and kind is not int:
            raise ContractViolation(
                IngestReason.WRONG_TYPE,
                f"{contract.name}: expected a number, got {_type_name(value)}",
            )
        number = float(value)
        if not math.isfinite(number):
            raise ContractViolation(IngestReason.WRONG_TYPE, f"{contract.name}: not finite")
        if (contract.min_value is not None and number < contract.min_value) or (
            contract.max_value is not None and number > contract.max_value
        ):
            raise ContractViolation(
                IngestReason.OUT_OF_RANGE,
                f"{contract.name}: {number:g} outside the plausible range "
                f"[{_bound(contract.min_value)}, {_bound(contract.max_value)}]",
            )
        return number, None
    if type_code == TYPE_BOOLEAN:
        if kind is bool:
            return (1.0 if value else 0.0), None
        if kind is int and value in (0, 1):
            return float(value), None
        raise ContractViolation(
            IngestReason.WRONG_TYPE,
            f"{contract.name}: expected a boolean, got {_type_name(value)}",
        )
    if kind is not str:
        raise ContractViolation(
            IngestReason.WRONG_TYPE, f"{contract.name}: expected a string, got {_type_name(value)}"
        )
    if "\x00" in value:
        raise ContractViolation(
            IngestReason.BAD_TEXT, f"{contract.name}: text values must not contain NUL"
        )
    if len(value) > settings.INGEST_MAX_TEXT_LENGTH:
        raise ContractViolation(
            IngestReason.VALUE_TOO_LONG,
            f"{contract.name}: {len(value)} characters, at most "
            f"{settings.INGEST_MAX_TEXT_LENGTH} allowed",
        )
    return None, value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bound(bound: float | None) -> str:
    return "-" if bound is None else f"{bound:g}"


def contracts_invalidate() -> None:
    """Make every process reload its signal contracts (bump the Redis version key)."""
    redis_client().incr(contracts_version_key())


def time_window(now: datetime) -> tuple[datetime, datetime]:
    return (
        now - timedelta(days=settings.INGEST_RETENTION_DAYS),
        now + timedelta(seconds=settings.INGEST_MAX_FUTURE_S),
    )


def ts_problem(ts: datetime, oldest: datetime, newest: datetime) -> tuple[str, str] | None:
    if ts < oldest:
        return (
            IngestReason.TOO_OLD,
            f"ts {ts.isoformat()} is older than the retention of "
            f"{settings.INGEST_RETENTION_DAYS} days",
        )
    if ts > newest:
        return (
            IngestReason.TS_IN_FUTURE,
            f"ts {ts.isoformat()} is more than {settings.INGEST_MAX_FUTURE_S:g} s ahead",
        )
    return None


_by_path_cache: tuple[Contracts, dict[str, dict[str, SignalContract]]] | None = None


def contracts_by_path(contracts: Contracts) -> dict[str, dict[str, SignalContract]]:
    """The contracts as equipment path → signal name → contract (built once per snapshot):
    one lookup per message for the equipment, then one per reading by name."""
    global _by_path_cache
    cached = _by_path_cache
    if cached is not None and cached[0] is contracts:
        return cached[1]
    by_path: dict[str, dict[str, SignalContract]] = {
        path: {} for path in contracts.equipment_by_path
    }
    for (path, name), contract in contracts.by_path_and_name.items():
        by_path.setdefault(path, {})[name] = contract
    _by_path_cache = (contracts, by_path)
    return by_path
