"""Reads of non-conformances and CAPAs: an NCR belongs to its line (or, without one, to its
site) under the one scoping rule; a CAPA is seen through its NCR."""

from django.db.models import QuerySet

from mes_site.scope import scope_filter
from quality.choices import NonConformanceStatus
from quality.models import Capa, NonConformance


def non_conformance_list(*, user) -> QuerySet[NonConformance]:
    return scope_filter(
        NonConformance.objects.select_related(
            "site", "line", "equipment", "product", "disposition"
        ).prefetch_related("lots", "serial_units", "capas"),
        user,
        line="line_id",
        site="site_id",
    )


def non_conformance_open_list(*, user) -> QuerySet[NonConformance]:
    return non_conformance_list(user=user).exclude(status=NonConformanceStatus.CLOSED)


def capa_list(*, user) -> QuerySet[Capa]:
    return (
        Capa.objects.select_related("non_conformance")
        .prefetch_related("actions__owner")
        .filter(non_conformance__in=non_conformance_list(user=user).values("pk"))
    )
