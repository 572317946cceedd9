"""Building blocks of the apps' Django admin classes."""

from django.contrib import admin


class AppendOnlyAdmin(admin.ModelAdmin):
    """A ledger in the admin: rows are read, never added, changed or deleted by hand (audit
    events, signatures, stock movements are written only by their services)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
