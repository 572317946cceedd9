"""Permissions of the production API's read views."""

from __future__ import annotations

from rest_framework import permissions


class ActionPermissions(permissions.BasePermission):
    """The view's ``action_permissions[action]`` (or ``["*"]``) must all be held."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        required = view.action_permissions.get(
            getattr(view, "action", None), view.action_permissions.get("*", [])
        )
        return request.user.has_perms(required)
