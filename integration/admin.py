"""Admin of the webhooks: subscriptions (the secret shown once, rotatable) and the delivery log
(filters, replay). Every write goes through integration.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from integration.choices import EventType
from integration.models import WebhookDelivery, WebhookSubscription
from integration.selectors import webhook_delivery_list
from integration.services import replay, subscriptions
from mes_site.errors import DomainError


class SubscriptionForm(forms.ModelForm):
    target_url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "target_url", "event_types", "site_id", "is_active"]

    def clean(self):
        cleaned = super().clean()
        try:
            subscriptions.target_url_clean(cleaned.get("target_url") or "")
        except DomainError as error:
            raise ValidationError({"target_url": error.message}) from error
        return cleaned


def _show_secret(request: HttpRequest, subscription: WebhookSubscription, what: str) -> None:
    messages.warning(
        request,
        f"{what} The secret of “{subscription.name}” is {subscription.secret} — copy it now "
        "into the receiver; it is not shown again (rotate it to get a new one).",
    )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "target_url", "event_type_list", "site_id", "is_active", "owner"]
    list_filter = ["is_active"]
    search_fields = ["name", "target_url"]
    readonly_fields = ["owner", "created_at", "secret_rotated_at"]
    actions = ["rotate_secret"]

    @admin.display(description="event types")
    def event_type_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.event_types or [])

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        if change:
            saved = subscriptions.subscription_update(
                subscription_id=obj.pk,
                name=data["name"],
                target_url=data["target_url"],
                event_types=data["event_types"],
                site_id=data.get("site_id"),
                is_active=data["is_active"],
            )
        else:
            saved = subscriptions.subscription_create(
                name=data["name"],
                target_url=data["target_url"],
                event_types=data["event_types"],
                site_id=data.get("site_id"),
                is_active=data["is_active"],
                owner=request.user,
            )
            _show_secret(request, saved, "Subscription created.")
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Rotate the secret (shown once)", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> None:
        for subscription in queryset:
            rotated = subscriptions.subscription_secret_rotate(subscription_id=subscription.pk)
            _show_secret(request, rotated, "Secret rotated.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "webhook_id",
        "subscription",
        "event_type",
        "event_sequence",
        "status",
        "attempt_count",
        "last_status_code",
        "last_error",
        "last_duration_s",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "subscription", "event__event_type", "created_at"]
    search_fields = ["webhook_id", "last_error"]
    list_select_related = ["subscription", "event"]
    date_hierarchy = "created_at"
    actions = ["replay_deliveries"]
    readonly_fields = [
        field.name for field in WebhookDelivery._meta.fields if field.name != "id"
    ] + ["payload"]

    def get_queryset(self, request):
        return webhook_delivery_list()

    @admin.display(description="event type", ordering="event__event_type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.event_type

    @admin.display(description="sequence", ordering="event_id")
    def event_sequence(self, obj: WebhookDelivery) -> int:
        return obj.event_id

    @admin.display(description="payload")
    def payload(self, obj: WebhookDelivery) -> dict:
        return obj.event.payload

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(
        description="Replay (send again with the same webhook-id)", permissions=["change"]
    )
    def replay_deliveries(self, request: HttpRequest, queryset: QuerySet) -> None:
        replayed, refused = 0, []
        for delivery in queryset.order_by("event_id"):
            try:
                replay.delivery_replay(delivery_id=delivery.pk)
            except DomainError as error:
                refused.append(error.message)
            else:
                replayed += 1
        if replayed:
            messages.success(request, f"{replayed} deliveries queued to be sent again.")
        for message in refused:
            messages.warning(request, message)
