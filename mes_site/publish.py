"""The interface through which services publish live updates, without knowing who shows them.

Domain apps sit below the live screens and never import ``live``; they call ``broadcast``
here, after or inside their transaction. ``live`` implements it: its app config registers
``live.broadcast.broadcast`` at start-up (every process that sets up Django installs ``live``).
Until something is registered (a bare script, a test of one app), a broadcast is a no-op.
"""

from __future__ import annotations

from typing import Any, Protocol


class Publisher(Protocol):
    def __call__(
        self,
        groups: list[str],
        event: str,
        payload: dict[str, Any],
        *,
        aggregate: bool | None = None,
        subject: str | int | None = None,
    ) -> None: ...


_publisher: Publisher | None = None


def publisher_register(publisher: Publisher) -> None:
    global _publisher
    _publisher = publisher


def group_name(kind: str, object_id: int | str) -> str:
    """A live group: ``site.<id>``, ``line.<id>``, ``equipment.<id>``, ``user.<id>``."""
    return f"{kind}.{object_id}"


def broadcast(
    groups: list[str],
    event: str,
    payload: dict[str, Any],
    *,
    aggregate: bool | None = None,
    subject: str | int | None = None,
) -> None:
    """Send ``event`` with ``payload`` (plain JSON-able data) to ``groups`` after commit.

    ``aggregate`` events (OEE, counts, current values...) are rate-limited per group and
    ``subject``; see ``live.broadcast`` for the delivery rules.
    """
    if _publisher is not None:
        _publisher(groups, event, payload, aggregate=aggregate, subject=subject)


__all__: list[str] = ["Publisher", "broadcast", "group_name", "publisher_register"]
