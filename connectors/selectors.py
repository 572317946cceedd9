"""Reads of the connector configuration."""

from django.db.models import Prefetch, QuerySet

from connectors.models import Connection, TagMapping


def connection_list(*, enabled_only: bool = False) -> QuerySet[Connection]:
    connections = Connection.objects.prefetch_related(
        Prefetch(
            "tags",
            queryset=TagMapping.objects.select_related("signal__equipment").order_by("id"),
        )
    )
    return connections.filter(is_enabled=True) if enabled_only else connections
