"""Retention helpers: the cut-off of a ``RETENTION_*_DAYS`` setting and batched deletes.

Each app deletes its own rows (its services) from a periodic task; these helpers keep the
rules the same everywhere: 0 or empty keeps forever, and rows go in batches of
``RETENTION_BATCH_SIZE`` primary keys, each batch its own short transaction, so no delete
holds locks on a large table for long and a stopped task leaves consistent progress.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet


def retention_cutoff(setting_name: str, *, now: datetime) -> datetime | None:
    """``now`` minus the setting's days; None when the setting is 0, empty or unset."""
    days = getattr(settings, setting_name, None)
    if days in (None, ""):
        return None
    days = float(days)
    if days <= 0:
        return None
    return now - timedelta(days=days)


def delete_in_batches(queryset: QuerySet, *, batch_size: int | None = None) -> int:
    """Delete the queryset's rows (and what cascades from them) batch by batch; the number
    of rows of the queryset's model deleted."""
    size = int(batch_size or getattr(settings, "RETENTION_BATCH_SIZE", 5000))
    model = queryset.model
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                return deleted
            _total, per_model = model.objects.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        if len(ids) < size:
            return deleted
