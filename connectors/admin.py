"""Admin of the connectors: connections with their tag → Signal mappings, the state the
running connectors last reported, and the export of the configuration for a gateway."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from connectors.models import Connection, TagMapping
from connectors.runtime.config import config_to_dict
from connectors.services import connectors_config_build


class TagMappingInline(admin.TabularInline):
    model = TagMapping
    extra = 1
    autocomplete_fields = ["signal"]
    fields = [
        "signal",
        "address",
        "register_kind",
        "data_type",
        "byte_order",
        "word_order",
        "scale",
        "offset",
        "deadband",
    ]


class ConnectionForm(forms.ModelForm):
    class Meta:
        model = Connection
        fields = [
            "name",
            "protocol",
            "endpoint",
            "is_enabled",
            "security_policy",
            "security_mode",
            "certificate_path",
            "private_key_path",
            "server_certificate_path",
            "username",
            "password",
            "sampling_interval_ms",
            "deadband",
            "max_requests_per_s",
            "timeout_s",
            "retries",
            "unit_id",
        ]
        widgets = {"password": forms.PasswordInput(render_value=True)}


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    inlines = [TagMappingInline]
    list_display = ["name", "protocol", "endpoint", "is_enabled", "state", "state_reason"]
    list_filter = ["protocol", "is_enabled", "state"]
    search_fields = ["name", "endpoint"]
    readonly_fields = ["state", "state_reason", "state_changed_at"]
    actions = ["export_configuration"]
    fieldsets = [
        (None, {"fields": ["name", "protocol", "endpoint", "is_enabled"]}),
        (
            "Security (OPC UA)",
            {
                "fields": [
                    "security_policy",
                    "security_mode",
                    "certificate_path",
                    "private_key_path",
                    "server_certificate_path",
                    "username",
                    "password",
                ]
            },
        ),
        (
            "Sampling",
            {
                "fields": [
                    "sampling_interval_ms",
                    "deadband",
                    "max_requests_per_s",
                    "timeout_s",
                    "retries",
                    "unit_id",
                ]
            },
        ),
        ("State (reported by the running connectors)", {"fields": readonly_fields}),
    ]

    @admin.action(description="Export the configuration of the selected connections (JSON)")
    def export_configuration(self, request: HttpRequest, queryset) -> HttpResponse | None:
        try:
            config = connectors_config_build(names=list(queryset.values_list("name", flat=True)))
        except ValueError as error:
            self.message_user(request, str(error), messages.ERROR)
            return None
        response = HttpResponse(
            json.dumps(config_to_dict(config), indent=2, sort_keys=True),
            content_type="application/json",
        )
        response["Content-Disposition"] = 'attachment; filename="connectors.json"'
        return response
