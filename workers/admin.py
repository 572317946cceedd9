"""Admin of the telemetry ingest: dead letters (grouped by reason; resolve, replay, map an
unknown topic to a new Signal), Sparkplug node/device mappings, the batch ledger."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from mes_site.errors import DomainError
from production.choices import SignalDataType
from production.models import Equipment
from workers.choices import IngestReason, IngestSource
from workers.ingest.dead_letters import payload_excerpt
from workers.ingest.triage import (
    dead_letters_replay,
    dead_letters_resolve,
    signal_create_from_topic,
    topic_signal_guess,
)
from workers.models import (
    DeadLetter,
    DeadLetterPayload,
    IngestBatch,
    SparkplugDeviceMapping,
    SparkplugNodeMapping,
)
from workers.selectors import contracts_forget

MAPPABLE_REASONS = {IngestReason.UNKNOWN_SIGNAL, IngestReason.UNKNOWN_EQUIPMENT}


class DeadLetterPayloadInline(admin.TabularInline):
    model = DeadLetterPayload
    extra = 0
    can_delete = False
    fields = ["received_at", "size_bytes", "excerpt"]
    readonly_fields = fields

    @admin.display(description="bytes")
    def size_bytes(self, obj: DeadLetterPayload) -> int:
        return len(obj.payload)

    @admin.display(description="payload")
    def excerpt(self, obj: DeadLetterPayload) -> str:
        return payload_excerpt(bytes(obj.payload))

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class MapSignalForm(forms.Form):
    equipment = forms.ModelChoiceField(
        queryset=Equipment.objects.order_by("uns_path"),
        help_text="The equipment whose UNS path the topic names.",
    )
    name = forms.CharField(max_length=100, help_text="The topic's last level.")
    data_type = forms.ChoiceField(choices=SignalDataType.choices)
    unit = forms.CharField(max_length=32, required=False)
    min_value = forms.FloatField(required=False, label="Plausible minimum")
    max_value = forms.FloatField(required=False, label="Plausible maximum")
    replay = forms.BooleanField(
        required=False, initial=True, help_text="Replay the kept payloads of this dead letter."
    )


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = [
        "reason_code",
        "topic",
        "count",
        "last_seen_at",
        "source",
        "equipment",
        "is_resolved",
        "kept_payloads",
        "map_link",
    ]
    list_filter = ["reason_code", "source", "is_resolved"]
    search_fields = ["topic", "message"]
    ordering = ["reason_code", "-count"]
    list_select_related = ["equipment"]
    readonly_fields = [
        "source",
        "topic",
        "reason_code",
        "message",
        "payload_excerpt",
        "payload_size_bytes",
        "count",
        "first_seen_at",
        "last_seen_at",
        "equipment",
        "is_resolved",
        "resolved_at",
        "resolved_by",
    ]
    inlines = [DeadLetterPayloadInline]
    actions = ["resolve", "replay"]
    change_list_template = "admin/workers/deadletter/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(kept=Count("payloads"))

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="kept", ordering="kept")
    def kept_payloads(self, obj) -> int:
        return obj.kept

    @admin.display(description="")
    def map_link(self, obj: DeadLetter) -> str:
        if obj.source != IngestSource.UNS or obj.reason_code not in MAPPABLE_REASONS:
            return ""
        url = reverse("admin:workers_deadletter_map_signal", args=[obj.pk])
        return format_html('<a href="{}">Map to a signal…</a>', url)

    def changelist_view(self, request, extra_context=None):
        summary = list(
            DeadLetter.objects.filter(is_resolved=False)
            .values("reason_code")
            .annotate(groups=Count("id"), messages=Sum("count"))
            .order_by("-messages")
        )
        extra_context = {**(extra_context or {}), "reason_summary": summary}
        return super().changelist_view(request, extra_context=extra_context)

    def get_urls(self):
        urls = [
            path(
                "<int:dead_letter_id>/map-signal/",
                self.admin_site.admin_view(self.map_signal_view),
                name="workers_deadletter_map_signal",
            )
        ]
        return urls + super().get_urls()

    @admin.action(description="Mark resolved", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset) -> None:
        count = dead_letters_resolve(dead_letters=queryset, user=request.user)
        self.message_user(request, f"{count} dead-letter groups marked resolved.")

    @admin.action(description="Replay the kept payloads", permissions=["change"])
    def replay(self, request: HttpRequest, queryset) -> None:
        result = dead_letters_replay(dead_letters=list(queryset), user=request.user)
        self.message_user(
            request,
            f"Replayed {result.replayed} payloads: {result.stored} readings stored, "
            f"{result.dead_lettered} dead-lettered again.",
            messages.SUCCESS if not result.dead_lettered else messages.WARNING,
        )

    def map_signal_view(self, request: HttpRequest, dead_letter_id: int) -> HttpResponse:
        if not (
            request.user.has_perm("workers.change_deadletter")
            and request.user.has_perm("production.add_signal")
        ):
            raise PermissionDenied
        dead_letter = get_object_or_404(DeadLetter, pk=dead_letter_id)
        guess = topic_signal_guess(dead_letter)
        if request.method == "POST":
            form = MapSignalForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    signal = signal_create_from_topic(
                        dead_letter=dead_letter,
                        equipment=data["equipment"],
                        name=data["name"],
                        data_type=data["data_type"],
                        unit=data["unit"],
                        min_value=data["min_value"],
                        max_value=data["max_value"],
                    )
                except ValidationError as error:
                    for field, errors in error.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                except DomainError as error:
                    form.add_error(None, error.message)
                else:
                    text = f"Signal {signal} created."
                    if data["replay"]:
                        contracts_forget()
                        result = dead_letters_replay(dead_letters=[dead_letter], user=request.user)
                        text += (
                            f" Replayed {result.replayed} payloads: {result.stored} readings "
                            f"stored, {result.dead_lettered} dead-lettered again."
                        )
                    self.message_user(request, text, messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:workers_deadletter_changelist"))
        else:
            form = MapSignalForm(
                initial={
                    "equipment": guess["equipment"],
                    "name": guess["name"],
                    "data_type": guess["data_type"],
                    "unit": guess["unit"],
                    "replay": True,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Map a topic to a new signal",
            "dead_letter": dead_letter,
            "equipment_path": guess.get("equipment_path"),
            "equipment_found": guess["equipment"] is not None,
            "form": form,
        }
        return TemplateResponse(request, "admin/workers/deadletter/map_signal.html", context)


class SparkplugDeviceMappingInline(admin.TabularInline):
    model = SparkplugDeviceMapping
    extra = 1
    autocomplete_fields = ["equipment"]


@admin.register(SparkplugNodeMapping)
class SparkplugNodeMappingAdmin(admin.ModelAdmin):
    list_display = ["group_id", "edge_node_id", "equipment", "auto_create_signals", "device_count"]
    list_filter = ["group_id", "auto_create_signals"]
    search_fields = ["group_id", "edge_node_id", "devices__device_id"]
    autocomplete_fields = ["equipment"]
    inlines = [SparkplugDeviceMappingInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("equipment")
            .annotate(device_total=Count("devices"))
        )

    @admin.display(description="devices", ordering="device_total")
    def device_count(self, obj) -> int:
        return obj.device_total


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    list_display = [
        "processed_at",
        "source",
        "message_count",
        "reading_count",
        "stored_count",
        "dead_letter_count",
        "event_count",
        "lag",
    ]
    list_filter = ["source"]
    date_hierarchy = "processed_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="lag")
    def lag(self, obj: IngestBatch) -> str:
        return f"{(obj.processed_at - obj.published_at).total_seconds():.3f} s"
