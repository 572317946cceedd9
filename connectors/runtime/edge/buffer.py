"""A bounded on-disk queue of MQTT messages (SQLite): what the edge agent has not yet had
acknowledged by the broker. It survives a restart of the agent and of the gateway.

Messages leave in the order they came (``id``), and only once the broker acknowledged them
(QoS 1 PUBACK). Bounds: at most ``max_messages`` (the oldest are dropped first when full) and
nothing older than ``max_age_s``; what was dropped is counted (``dropped``)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
)
"""


class BufferedMessage(NamedTuple):
    id: int
    created_ms: int
    topic: str
    payload: bytes


class DiskBuffer:
    def __init__(
        self, path: str | Path, *, max_messages: int = 1_000_000, max_age_s: float = 7 * 86400
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self.dropped = 0
        self._lock = threading.Lock()
        self._database = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._database.execute("PRAGMA journal_mode=WAL")
        self._database.execute("PRAGMA synchronous=NORMAL")
        self._database.execute(_SCHEMA)
        self._size = self._database.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._database.close()

    def __len__(self) -> int:
        return self._size

    def append(self, topic: str, payload: bytes, *, now_ms: int | None = None) -> None:
        now_ms = now_ms if now_ms is not None else round(time.time() * 1000)
        with self._lock:
            self._database.execute(
                "INSERT INTO outbox (created_ms, topic, payload) VALUES (?, ?, ?)",
                (now_ms, topic, payload),
            )
            self._size += 1
            self._trim(now_ms)

    def _trim(self, now_ms: int) -> None:
        too_old = now_ms - self.max_age_s * 1000
        cursor = self._database.execute("DELETE FROM outbox WHERE created_ms < ?", (too_old,))
        removed = cursor.rowcount
        excess = self._size - removed - self.max_messages
        if excess > 0:
            cursor = self._database.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                (excess,),
            )
            removed += cursor.rowcount
        self._size -= removed
        self.dropped += removed

    def head(self, limit: int, *, after_id: int = 0) -> list[BufferedMessage]:
        """The oldest ``limit`` messages with an id above ``after_id``."""
        with self._lock:
            rows = self._database.execute(
                "SELECT id, created_ms, topic, payload FROM outbox "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [BufferedMessage(*row) for row in rows]

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            cursor = self._database.executemany(
                "DELETE FROM outbox WHERE id = ?", [(item,) for item in ids]
            )
            self._size -= cursor.rowcount

    def oldest_age_s(self, *, now_ms: int | None = None) -> float:
        """Age of the oldest waiting message (0 when empty)."""
        now_ms = now_ms if now_ms is not None else round(time.time() * 1000)
        with self._lock:
            row = self._database.execute("SELECT min(created_ms) FROM outbox").fetchone()
        return 0.0 if row[0] is None else max(now_ms - row[0], 0) / 1000
