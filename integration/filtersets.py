"""Query filters of the webhook API."""

import django_filters

from integration.choices import DeliveryStatus, EventType
from integration.models import WebhookDelivery, WebhookSubscription
from mes_site.filters import UtcIsoDateTimeFilter


class WebhookSubscriptionFilterSet(django_filters.FilterSet):
    class Meta:
        model = WebhookSubscription
        fields = ["is_active", "site_id"]


class WebhookDeliveryFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event_type = django_filters.ChoiceFilter(
        field_name="event__event_type", choices=EventType.choices
    )
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ["status", "subscription", "event_type"]
