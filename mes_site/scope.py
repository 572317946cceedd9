"""The one scoping rule: what part of the plant a user may see.

Supervisors and operators see only the sites and lines of their ``PlantScope``; every other
role sees the whole plant. Every user-visible query goes through ``scope_filter`` (or a
selector built on it), so an object outside the scope is simply not found (404, not 403).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from mes_site.roles import SCOPED_ROLES


@dataclass(frozen=True)
class Scope:
    """What a user may see: everything, or the listed sites and lines."""

    is_unrestricted: bool
    site_ids: frozenset[int] = frozenset()
    line_ids: frozenset[int] = frozenset()

    def covers_site(self, site_id: int | None) -> bool:
        """The whole site is visible: its site-level figures (site and area OEE, proposed
        actions, the site's live group) are for this user. A user scoped to some lines of a
        site does not see them; they would include the other lines."""
        return self.is_unrestricted or (site_id is not None and site_id in self.site_ids)

    def allows_line(self, line_id: int | None, site_id: int | None) -> bool:
        if self.is_unrestricted:
            return True
        return (line_id is not None and line_id in self.line_ids) or (
            site_id is not None and site_id in self.site_ids
        )


def scope_get(user) -> Scope:
    if user is None or not user.is_authenticated:
        return Scope(is_unrestricted=False)
    cached = getattr(user, "_mes_scope", None)
    if cached is not None:
        return cached
    group_names = set(user.groups.values_list("name", flat=True))
    if user.is_superuser or not (group_names & SCOPED_ROLES) or (group_names - SCOPED_ROLES):
        scope = Scope(is_unrestricted=True)
    else:
        plant_scope = getattr(user, "plant_scope", None)
        if plant_scope is None:
            scope = Scope(is_unrestricted=False)
        else:
            scope = Scope(
                is_unrestricted=False,
                site_ids=frozenset(plant_scope.sites.values_list("id", flat=True)),
                line_ids=frozenset(plant_scope.lines.values_list("id", flat=True)),
            )
    user._mes_scope = scope
    return scope


# The session key of a badge/PIN login at an HMI station: {"equipment_id", "line_id"}.
STATION_SESSION_KEY = "mes_station"


def scope_narrow_to_station(user, session) -> dict | None:
    """A station login sees its station's line only, whatever the user's own scope: narrow
    the user's cached scope for this request or socket. Returns the station, or None for an
    ordinary session."""
    station = session.get(STATION_SESSION_KEY) if session is not None else None
    if not station or user is None or not user.is_authenticated:
        return None
    user._mes_scope = Scope(is_unrestricted=False, line_ids=frozenset({int(station["line_id"])}))
    return station


def scope_filter(queryset: QuerySet, user, *, line: str | None, site: str | None) -> QuerySet:
    """Filter ``queryset`` to the user's scope; ``line``/``site`` are lookup paths to the ids."""
    scope = scope_get(user)
    if scope.is_unrestricted:
        return queryset
    condition = Q(pk__in=[])
    if line is not None and scope.line_ids:
        condition |= Q(**{f"{line}__in": scope.line_ids})
    if site is not None and scope.site_ids:
        condition |= Q(**{f"{site}__in": scope.site_ids})
    return queryset.filter(condition)
