"""Websocket subscription targets: who may watch site.<id>, line.<id> or equipment.<id>."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from production.models import Equipment, Line, Site
from production.selectors.plant import scope_get

TARGET_PATTERN = re.compile(r"^(site|line|equipment)\.([1-9][0-9]{0,17})$")
TARGET_KINDS = ("site", "line", "equipment")
VIEW_PERMISSION = {
    "site": "production.view_site",
    "line": "production.view_line",
    "equipment": "production.view_equipment",
}


class TargetUnknown(ValueError):
    """The subscription target is not of the form site.<id>, line.<id> or equipment.<id>."""


class TargetRefused(PermissionError):
    """The target does not exist or is outside the user's plant scope (told apart by nobody)."""


@dataclass(frozen=True)
class LiveTarget:
    kind: str
    object_id: int
    site_id: int
    line_id: int | None

    @property
    def group(self) -> str:
        return f"{self.kind}.{self.object_id}"


def live_user_get(user_id: int):
    """A fresh, active user (no cached scope or permissions), or None."""
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def live_target_authorize(*, user, target: str) -> LiveTarget:
    """Resolve ``target`` and check that ``user`` may watch it.

    Raises TargetUnknown for a malformed target and TargetRefused for one that does not
    exist or lies outside the user's scope (the same answer, so ids do not leak).
    """
    match = TARGET_PATTERN.match(target) if isinstance(target, str) else None
    if match is None:
        raise TargetUnknown(
            f"Unknown subscription target {str(target)[:80]!r}: use site.<id>, line.<id> "
            "or equipment.<id>."
        )
    kind, object_id = match.group(1), int(match.group(2))
    refused = TargetRefused(
        f"You may not watch {target}: it is outside your plant scope or does not exist."
    )
    if user is None or not user.is_authenticated or not user.has_perm(VIEW_PERMISSION[kind]):
        raise refused
    scope = scope_get(user)
    if kind == "site":
        if not Site.objects.filter(pk=object_id).exists():
            raise refused
        if not scope.covers_site(object_id):
            raise refused
        return LiveTarget(kind, object_id, object_id, None)
    if kind == "line":
        row = Line.objects.filter(pk=object_id).values("id", "area__site_id").first()
        if row is None or not scope.allows_line(row["id"], row["area__site_id"]):
            raise refused
        return LiveTarget(kind, object_id, row["area__site_id"], row["id"])
    row = (
        Equipment.objects.filter(pk=object_id)
        .values("id", "cell__line_id", "cell__line__area__site_id")
        .first()
    )
    if row is None or not scope.allows_line(row["cell__line_id"], row["cell__line__area__site_id"]):
        raise refused
    return LiveTarget(kind, object_id, row["cell__line__area__site_id"], row["cell__line_id"])


# --- small building blocks -------------------------------------------------------------
