from django import forms
from django.conf import settings
from django.contrib import admin, messages

from mes_site.admin_mixins import AppendOnlyAdmin
from mes_site.errors import DomainError
from traceability.models import (
    ApiToken,
    AuditEvent,
    ElectronicSignature,
    GenealogyLink,
    Lot,
    SerialUnit,
)
from traceability.services.api_tokens import (
    api_token_create,
    api_token_is_admin,
    api_token_revoke,
)


class SerialUnitInline(admin.TabularInline):
    model = SerialUnit
    extra = 0


@admin.register(Lot)
class LotAdmin(admin.ModelAdmin):
    list_display = ["code", "item", "quantity", "status", "origin", "created_at"]
    list_filter = ["status", "origin"]
    search_fields = ["code", "item__code"]
    inlines = [SerialUnitInline]
    list_select_related = ["item"]


@admin.register(SerialUnit)
class SerialUnitAdmin(admin.ModelAdmin):
    list_display = ["serial", "lot", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["serial", "lot__code"]


@admin.register(GenealogyLink)
class GenealogyLinkAdmin(admin.ModelAdmin):
    """Read-only: links are booked by the consumption services (stock is drawn with them)."""

    list_display = ["child", "parent", "quantity", "method", "operation", "linked_at", "actor"]
    list_filter = ["method"]
    search_fields = [
        "child__lot__code",
        "child__serial_unit__serial",
        "parent__lot__code",
        "parent__serial_unit__serial",
    ]
    list_select_related = ["child__lot", "child__serial_unit", "parent__lot", "parent__serial_unit"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(AppendOnlyAdmin):
    """Read-only: the audit log is append-only."""

    list_display = [
        "chain_seq",
        "at",
        "actor_name",
        "action",
        "object_repr",
        "old_value",
        "new_value",
    ]
    list_filter = ["action", "content_type"]
    search_fields = ["object_repr", "actor_name", "reason"]
    date_hierarchy = "at"


@admin.register(ElectronicSignature)
class ElectronicSignatureAdmin(AppendOnlyAdmin):
    """Read-only: electronic signatures are append-only (21 CFR Part 11)."""

    list_display = ["signed_at", "printed_name", "meaning", "object_repr", "reason"]
    list_filter = ["meaning", "content_type"]
    search_fields = ["printed_name", "object_repr", "reason"]
    date_hierarchy = "signed_at"


class ApiTokenAddForm(forms.ModelForm):
    ttl_days = forms.IntegerField(
        label="Lifetime (days)",
        min_value=1,
        initial=lambda: settings.API_TOKEN_DEFAULT_TTL_DAYS,
        help_text="The token stops working after this many days.",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name"]

    def clean_ttl_days(self):
        ttl_days = self.cleaned_data["ttl_days"]
        if ttl_days > settings.API_TOKEN_MAX_TTL_DAYS:
            raise forms.ValidationError(
                f"At most {settings.API_TOKEN_MAX_TTL_DAYS} days (API_TOKEN_MAX_TTL_DAYS)."
            )
        return ttl_days


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins create a token for a user (the key is shown once) and revoke tokens; nobody
    edits or deletes one (the rows are the history the audit events point at)."""

    list_display = [
        "prefix", "name", "user", "created_at", "expires_at", "last_used_at", "revoked_at",
    ]  # fmt: skip
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user"]
    actions = ["revoke_selected"]
    readonly_fields = [
        "user", "name", "prefix", "created_at", "created_by", "expires_at", "last_used_at",
        "revoked_at", "revoked_by", "replaced_by",
    ]  # fmt: skip
    exclude = ["key_hash"]

    def _is_admin(self, request) -> bool:
        return api_token_is_admin(request.user)

    def has_module_permission(self, request) -> bool:
        return self._is_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_admin(request)

    def has_add_permission(self, request) -> bool:
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "ttl_days"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        token, key = api_token_create(
            actor=request.user,
            owner=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            ttl_days=form.cleaned_data["ttl_days"],
        )
        obj.pk = token.pk
        obj._state.adding = False
        obj.prefix = token.prefix
        self.message_user(
            request,
            f"Token {token.prefix}… for {token.user}: {key} — copy it now, it is not shown again.",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset) -> None:
        revoked = 0
        for token in queryset:
            try:
                api_token_revoke(actor=request.user, token_id=token.pk, reason="admin")
            except DomainError as refused:
                self.message_user(request, f"{token.prefix}: {refused.message}", messages.ERROR)
            else:
                revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.")
