"""API permissions: Django model permissions (view included) and explicit per-command ones."""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from rest_framework import permissions


@cache
def _permissions_sql(vendor: str) -> str:
    """The user's own and their groups' permissions as (source, app label, codename) rows.
    Table and column names come from the models; ``vendor`` keys the cache by database."""
    user_model = get_user_model()
    own = user_model.user_permissions.through._meta
    memberships = user_model.groups.through._meta
    granted = Group.permissions.through._meta
    permission = Permission._meta
    content_type = permission.get_field("content_type").related_model._meta
    quote = connection.ops.quote_name

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    def rows_of(source: str, permission_ids: str) -> str:
        return (
            f"SELECT '{source}', ct.{column(content_type, 'app_label')}, "  # noqa: S608 (names)
            f"p.{column(permission, 'codename')} FROM {quote(permission.db_table)} p "
            f"JOIN {quote(content_type.db_table)} ct "
            f"ON ct.{quote(content_type.pk.column)} = p.{column(permission, 'content_type')} "
            f"WHERE p.{quote(permission.pk.column)} IN ({permission_ids})"
        )

    own_ids = (
        f"SELECT {column(own, 'permission')} FROM {quote(own.db_table)} "  # noqa: S608 (names)
        f"WHERE {column(own, 'user')} = %s"
    )
    group_ids = (
        f"SELECT gp.{column(granted, 'permission')} FROM {quote(granted.db_table)} gp "  # noqa: S608
        f"JOIN {quote(memberships.db_table)} m "
        f"ON m.{column(memberships, 'group')} = gp.{column(granted, 'group')} "
        f"WHERE m.{column(memberships, 'user')} = %s"
    )
    return f"{rows_of('user', own_ids)} UNION ALL {rows_of('group', group_ids)}"


def permissions_preload(user) -> None:
    """Read the user's model permissions, their own and their groups', in one query into the
    per-user caches of Django's ``ModelBackend`` (which would ask with two heavier ones):
    the same sets, so ``has_perm`` answers as before. Superusers, inactive users and a user
    whose permissions were read already are left to the backend."""
    if (
        not user.is_authenticated
        or not user.is_active
        or user.is_superuser
        or hasattr(user, "_perm_cache")
        or hasattr(user, "_user_perm_cache")
        or hasattr(user, "_group_perm_cache")
    ):
        return
    found: dict[str, set[str]] = {"user": set(), "group": set()}
    with connection.cursor() as cursor:
        cursor.execute(_permissions_sql(connection.vendor), [user.pk, user.pk])
        for source, app_label, codename in cursor.fetchall():
            found[source].add(f"{app_label}.{codename}")
    user._user_perm_cache = found["user"]
    user._group_perm_cache = found["group"]
    user._perm_cache = found["user"] | found["group"]


class ModelPermissions(permissions.DjangoModelPermissions):
    """Model permissions that also require the ``view`` permission for reads.

    A viewset's explicit commands (``@action``) declare their permission in
    ``command_permissions = {"start": "production.operate_workorder", ...}``; a command
    without an entry there falls back to the ``change`` permission of the model.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        permissions_preload(request.user)
        action = getattr(view, "action", None)
        command_permissions = getattr(view, "command_permissions", {})
        if action in command_permissions:
            required = command_permissions[action]
            required = [required] if isinstance(required, str) else list(required)
            return request.user.has_perms(required)
        extra_actions = (
            {a.__name__ for a in view.get_extra_actions()}
            if hasattr(view, "get_extra_actions")
            else set()
        )
        if action in extra_actions:
            queryset = self._queryset(view)
            model = queryset.model
            if request.method in permissions.SAFE_METHODS:
                perm = f"{model._meta.app_label}.view_{model._meta.model_name}"
            else:
                perm = f"{model._meta.app_label}.change_{model._meta.model_name}"
            return request.user.has_perm(perm)
        return super().has_permission(request, view)


class IsAuthenticatedReadOnly(permissions.BasePermission):
    """For read-only endpoints that are not backed by one model (status, series)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated) and (
            request.method in permissions.SAFE_METHODS
        )
