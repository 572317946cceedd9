"""Reads of the production app, with the user's plant scope built in."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from mes_site.scope import scope_filter, scope_get
from production.models import (
    Area,
    Cell,
    DowntimeReason,
    Equipment,
    Line,
    Operation,
    Signal,
    Site,
    WorkOrder,
)


def site_list(*, user) -> QuerySet[Site]:
    scope = scope_get(user)
    queryset = Site.objects.select_related("enterprise")
    if scope.is_unrestricted:
        return queryset
    return queryset.filter(
        Q(id__in=scope.site_ids) | Q(areas__lines__id__in=scope.line_ids)
    ).distinct()


def site_whole_list(*, user) -> QuerySet[Site]:
    """The sites the user sees whole (``Scope.covers_site``): the only targets of a command
    that decides for every line of a site or an area. A user scoped to some lines of a site
    sees the site but may not set its autonomy, plan it or dispatch its areas."""
    scope = scope_get(user)
    queryset = Site.objects.select_related("enterprise")
    if scope.is_unrestricted:
        return queryset
    return queryset.filter(id__in=scope.site_ids)


def area_list(*, user) -> QuerySet[Area]:
    scope = scope_get(user)
    queryset = Area.objects.select_related("site")
    if scope.is_unrestricted:
        return queryset
    return queryset.filter(
        Q(site_id__in=scope.site_ids) | Q(lines__id__in=scope.line_ids)
    ).distinct()


def line_list(*, user) -> QuerySet[Line]:
    return scope_filter(
        Line.objects.select_related("area__site"), user, line="id", site="area__site_id"
    )


def cell_list(*, user) -> QuerySet[Cell]:
    return scope_filter(
        Cell.objects.select_related("line__area__site"),
        user,
        line="line_id",
        site="line__area__site_id",
    )


def equipment_list(*, user) -> QuerySet[Equipment]:
    return scope_filter(
        Equipment.objects.select_related("cell__line__area__site").prefetch_related("capabilities"),
        user,
        line="cell__line_id",
        site="cell__line__area__site_id",
    )


def signal_list(*, user) -> QuerySet[Signal]:
    return scope_filter(
        Signal.objects.select_related("equipment"),
        user,
        line="equipment__cell__line_id",
        site="equipment__cell__line__area__site_id",
    )


def work_order_list(*, user) -> QuerySet[WorkOrder]:
    return scope_filter(
        WorkOrder.objects.select_related("product", "routing", "site", "line"),
        user,
        line="line_id",
        site="site_id",
    )


def operation_list(*, user) -> QuerySet[Operation]:
    return scope_filter(
        Operation.objects.select_related(
            "work_order", "capability", "assigned_equipment", "template"
        ),
        user,
        line="work_order__line_id",
        site="work_order__site_id",
    )


def downtime_reason_tree() -> list[dict]:
    """The active reason tree as nested dicts, for pickers on the HMI."""
    reasons = list(DowntimeReason.objects.filter(is_active=True).order_by("code"))
    children: dict[int | None, list[DowntimeReason]] = {}
    for reason in reasons:
        children.setdefault(reason.parent_id, []).append(reason)

    def build(parent_id: int | None) -> list[dict]:
        return [
            {
                "id": reason.id,
                "code": reason.code,
                "name": reason.name,
                "iso_element": reason.iso_element,
                "children": build(reason.id),
            }
            for reason in children.get(parent_id, [])
        ]

    return build(None)


def plant_tree(*, user) -> list[dict]:
    """Sites → areas → lines → cells → equipment visible to ``user`` (four queries)."""
    equipment = list(equipment_list(user=user).order_by("cell__line__area__site__code", "uns_path"))
    tree: dict[int, dict] = {}
    for machine in equipment:
        cell = machine.cell
        line = cell.line
        area = line.area
        site = area.site
        site_node = tree.setdefault(site.id, {"site": site, "areas": {}})
        area_node = site_node["areas"].setdefault(area.id, {"area": area, "lines": {}})
        line_node = area_node["lines"].setdefault(line.id, {"line": line, "cells": {}})
        cell_node = line_node["cells"].setdefault(cell.id, {"cell": cell, "equipment": []})
        cell_node["equipment"].append(machine)
    return list(tree.values())
