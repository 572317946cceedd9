"""The one scoping rule: what part of the plant a user may see.

Supervisors and operators see only the sites and lines of their ``PlantScope``; every other
role sees the whole plant. Every user-visible query goes through ``scope_filter`` (or a
selector built on it), so an object outside the scope is simply not found (404, not 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
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
    group_names, site_ids, line_ids = _roles_and_plant_scope(user)
    if user.is_superuser or not (group_names & SCOPED_ROLES) or (group_names - SCOPED_ROLES):
        scope = Scope(is_unrestricted=True)
    else:
        scope = Scope(is_unrestricted=False, site_ids=site_ids, line_ids=line_ids)
    user._mes_scope = scope
    return scope


@cache
def _roles_and_plant_scope_sql(vendor: str) -> str:
    """One query for the user's group names and the site and line ids of their
    ``PlantScope`` (none without one): every API request of a user asks, and three ORM
    queries cost more CPU than the rest of a small page. Table and column names come from
    the models; ``vendor`` keys the cache by database (the SQL is the same on each)."""
    user_model = get_user_model()
    memberships = user_model.groups.through._meta
    group = user_model.groups.field.related_model._meta
    plant_scope = user_model._meta.get_field("plant_scope").related_model
    scope_sites = plant_scope.sites.through._meta
    scope_lines = plant_scope.lines.through._meta
    quote = connection.ops.quote_name

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    return (
        f"SELECT 'group', g.{column(group, 'name')}, NULL "  # noqa: S608 (model names only)
        f"FROM {quote(group.db_table)} g JOIN {quote(memberships.db_table)} m "
        f"ON m.{column(memberships, 'group')} = g.{quote(group.pk.column)} "
        f"WHERE m.{column(memberships, 'user')} = %s "
        f"UNION ALL SELECT 'site', NULL, ss.{column(scope_sites, 'site')} "
        f"FROM {quote(scope_sites.db_table)} ss JOIN {quote(plant_scope._meta.db_table)} ps "
        f"ON ps.{quote(plant_scope._meta.pk.column)} = ss.{column(scope_sites, 'plantscope')} "
        f"WHERE ps.{column(plant_scope._meta, 'user')} = %s "
        f"UNION ALL SELECT 'line', NULL, sl.{column(scope_lines, 'line')} "
        f"FROM {quote(scope_lines.db_table)} sl JOIN {quote(plant_scope._meta.db_table)} ps "
        f"ON ps.{quote(plant_scope._meta.pk.column)} = sl.{column(scope_lines, 'plantscope')} "
        f"WHERE ps.{column(plant_scope._meta, 'user')} = %s"
    )


def _roles_and_plant_scope(user) -> tuple[set[str], frozenset[int], frozenset[int]]:
    group_names: set[str] = set()
    ids: dict[str, set[int]] = {"site": set(), "line": set()}
    with connection.cursor() as cursor:
        cursor.execute(_roles_and_plant_scope_sql(connection.vendor), [user.pk] * 3)
        for kind, name, object_id in cursor.fetchall():
            if kind == "group":
                group_names.add(name)
            else:
                ids[kind].add(object_id)
    return group_names, frozenset(ids["site"]), frozenset(ids["line"])


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
