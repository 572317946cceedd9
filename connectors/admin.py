"""Admin of the connectors: connections with their tag → Signal mappings, the state the
running connectors last reported, and the export of the configuration for a gateway."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from connectors.choices import Protocol
from connectors.models import Connection, TagMapping
from connectors.runtime.config import config_to_dict
from connectors.runtime.opcua_browse import OBJECTS_FOLDER, BrowseError, opcua_browse
from connectors.services import connection_config_build, connectors_config_build


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
    readonly_fields = ["state", "state_reason", "state_changed_at", "browse_link"]
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
        (
            "State (reported by the running connectors)",
            {"fields": ["state", "state_reason", "state_changed_at", "browse_link"]},
        ),
    ]

    @admin.display(description="address space")
    def browse_link(self, obj: Connection) -> str:
        if obj.pk is None or obj.protocol != Protocol.OPCUA:
            return "—"
        url = reverse("admin:connectors_connection_browse", args=[obj.pk])
        return format_html('<a href="{}">Browse the server\'s nodes</a>', url)

    def get_urls(self):
        urls = [
            path(
                "<int:connection_id>/browse/",
                self.admin_site.admin_view(self.browse_view),
                name="connectors_connection_browse",
            )
        ]
        return urls + super().get_urls()

    def browse_view(self, request: HttpRequest, connection_id: int) -> HttpResponse:
        """The children of one node of the connection's OPC UA server (default: Objects),
        to pick node ids for the tags."""
        connection = get_object_or_404(Connection, pk=connection_id, protocol=Protocol.OPCUA)
        if not self.has_view_permission(request, connection):
            raise PermissionDenied
        node_id = request.GET.get("node") or OBJECTS_FOLDER
        nodes, error = [], ""
        try:
            nodes = opcua_browse(connection_config_build(connection), node_id)
        except (BrowseError, ValueError) as problem:
            error = str(problem)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Browse {connection.name}",
            "connection": connection,
            "node_id": node_id,
            "nodes": nodes,
            "error": error,
        }
        return TemplateResponse(request, "admin/connectors/connection/browse.html", context)

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
