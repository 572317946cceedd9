"""Hooks: how an app below calls up into an app above without importing it.

The lower app declares a hook in its ``hooks.py`` (what happened, with what arguments); the
upper app registers a receiver in its ``AppConfig.ready``. Calling the hook calls every
receiver in registration order; with none registered it does nothing. Hooks carry plain
values (ids, dataclasses), never querysets, and the receivers do their own writes through
their services::

    # maintenance/hooks.py
    health_assessed = Hook("health_assessed", "site_id: int, equipment_id: int, reason: str")

    # planning/apps.py
    health_assessed.register(planning_on_health_assessed)

This is the upward counterpart of the action-handler registry in ``autonomy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """A named extension point with its receivers."""

    def __init__(self, name: str, arguments: str) -> None:
        self.name = name
        self.arguments = arguments
        self._receivers: list[Callable[..., Any]] = []

    def register(self, receiver: Callable[..., Any]) -> None:
        """Add ``receiver`` once (registering the same function again changes nothing)."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)

    def __call__(self, **arguments: Any) -> list[Any]:
        """Call every receiver with the keyword arguments; returns their results in order."""
        return [receiver(**arguments) for receiver in self._receivers]

    def __repr__(self) -> str:
        return f"Hook({self.name!r}: {self.arguments}; {len(self._receivers)} receivers)"
