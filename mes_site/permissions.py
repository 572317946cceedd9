"""API permissions: Django model permissions (view included) and explicit per-command ones."""

from rest_framework import permissions


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
